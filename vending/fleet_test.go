package vending

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stsfleet/stsfleet/protocol/sts"
)

func TestNewDefinitionIsDeterministic(t *testing.T) {
	cfg := FleetConfig{Meters: 1000, Seed: 42}
	a, err := NewDefinition(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewDefinition(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different fleets:\n%s", diff)
	}
	c, err := NewDefinition(FleetConfig{Meters: 1000, Seed: 43})
	if err != nil {
		t.Fatal(err)
	}
	if a.Meters[0].DRN == c.Meters[0].DRN {
		t.Errorf("seeds 42 and 43 give the same first DRN %s", a.Meters[0].DRN)
	}
	utilities := map[Utility]int{}
	profiles := map[string]int{}
	seen := map[string]bool{}
	for _, m := range a.Meters {
		if err := sts.ValidateDRN(m.DRN); err != nil {
			t.Errorf("DRN %s: %v", m.DRN, err)
		}
		if seen[m.DRN] {
			t.Errorf("DRN %s twice", m.DRN)
		}
		seen[m.DRN] = true
		utilities[m.Utility]++
		profiles[fmt.Sprintf("ea%s-dkga%s", m.EA, m.DKGA)]++
	}
	wantU := map[Utility]int{Electricity: 800, Water: 150, Gas: 50}
	if diff := cmp.Diff(wantU, utilities); diff != "" {
		t.Errorf("utility mix (-want +got):\n%s", diff)
	}
	wantP := map[string]int{string(ProfileEA07DKGA02): 700, string(ProfileEA11DKGA04): 300}
	if diff := cmp.Diff(wantP, profiles); diff != "" {
		t.Errorf("profile mix (-want +got):\n%s", diff)
	}
}

func TestApportionLargestRemainder(t *testing.T) {
	got, err := ParseMix("electricity=1,water=1,gas=1")
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDefinition(FleetConfig{Meters: 10, Mix: got, Profiles: map[Profile]int{
		ProfileEA07DKGA04: 1}, MfrCode: 1234})
	if err != nil {
		t.Fatal(err)
	}
	n := map[Utility]int{}
	for _, m := range d.Meters {
		n[m.Utility]++
		if len(m.DRN) != 13 || m.MfrCode != 1234 || m.DKGA != sts.DKGA04 || m.EA != sts.EA07 {
			t.Errorf("meter %+v: want a 13-digit DRN of 1234 on EA07/DKGA04", m)
		}
	}
	// 10 thirds: 3 each and one more for the first name in order.
	if diff := cmp.Diff(map[Utility]int{Electricity: 4, Gas: 3, Water: 3}, n); diff != "" {
		t.Errorf("split (-want +got):\n%s", diff)
	}
}

func TestParseMixErrors(t *testing.T) {
	for _, s := range []string{"", "electricity", "electricity=x", "steam=1", "water=-1",
		"water=1,water=2", "gas=0"} {
		if m, err := ParseMix(s); err == nil {
			if _, err := NewDefinition(FleetConfig{Meters: 1, Mix: m}); err == nil {
				t.Errorf("ParseMix(%q) and NewDefinition accept it", s)
			}
		}
	}
	if _, err := ParseProfiles("ea09-dkga01=1"); err == nil {
		t.Error("ParseProfiles accepts ea09-dkga01")
	}
}

func TestFleetWriteAndLoad(t *testing.T) {
	f, err := NewFleet(FleetConfig{Meters: 25, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	paths, err := f.Write(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]os.FileMode{FleetFile: 0o644, KeyStoreFile: 0o600, InjectionFile: 0o600}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := st.Mode().Perm(), modes[filepath.Base(p)]; got != want {
			t.Errorf("%s mode %o, want %o", p, got, want)
		}
	}
	if _, err := f.Write(dir, false); !errors.Is(err, os.ErrExist) {
		t.Errorf("second Write = %v, want ErrExist", err)
	}
	def, err := LoadDefinition(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(f.Definition, def); diff != "" {
		t.Errorf("definition round trip (-want +got):\n%s", diff)
	}
	ks, err := LoadKeyStore(paths[1])
	if err != nil {
		t.Fatal(err)
	}
	inj, err := LoadInjection(paths[2])
	if err != nil {
		t.Fatal(err)
	}
	// The injection is what the loaded key store derives: the fleet
	// never needs the vending keys.
	again, err := BuildInjection(def, ks)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(inj, again); diff != "" {
		t.Errorf("injection does not follow from the key store (-file +derived):\n%s", diff)
	}
	// The definition names no key.
	raw, _ := os.ReadFile(paths[0])
	for drn, k := range inj {
		if bytes.Contains(bytes.ToUpper(raw), []byte(fmt.Sprintf("%X", k.Key))) {
			t.Errorf("fleet.json holds the decoder key of %s", drn)
		}
	}
}

func TestKeysNeverPrinted(t *testing.T) {
	f, err := NewFleet(FleetConfig{Meters: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	var dk DecoderKey
	for _, k := range f.Injection {
		dk = k
	}
	log.Info("keys", "store", f.Keys, "decoder", dk)
	out := buf.String() + fmt.Sprint(f.Keys) + fmt.Sprintf("%v %+v", dk, dk)
	secrets := []string{fmt.Sprintf("%X", dk.Key), fmt.Sprintf("%x", dk.Key)}
	for _, d := range f.Keys.DKGAs() {
		k := f.Keys.keys[d]
		secrets = append(secrets, fmt.Sprintf("%X", k), fmt.Sprintf("%x", k))
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("a key appears in %q", out)
		}
	}
	if b, _ := json.Marshal(f.Keys); string(b) != "{}" {
		t.Errorf("json.Marshal(KeyStore) = %s, want {}", b)
	}
}

func TestParseDefinitionNamesTheField(t *testing.T) {
	f, err := NewFleet(FleetConfig{Meters: 3, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	good, err := f.Definition.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	drn := f.Definition.Meters[1].DRN
	bad := drn[:10] + string('0'+(drn[10]-'0'+1)%10)
	for _, tc := range []struct {
		name, from, to, field string
	}{
		{"bad check digit", `"drn": "` + drn + `"`, `"drn": "` + bad + `"`, "meters[1].drn"},
		{"unknown field", `"version": 1`, `"version": 1, "colour": "red"`, "colour"},
		{"ti as string", `"ti": 0`, `"ti": "0"`, "meters[0].ti"},
		{"krn range", `"krn": 1`, `"krn": 12`, "meters[0].krn"},
		{"ea", `"ea": "07"`, `"ea": "09"`, "meters[0].ea"},
		{"tariff", `"tariff": "domestic"`, `"tariff": "night"`, "meters[0].tariff"},
		{"version", `"version": 1`, `"version": 2`, "version"},
		{"price", `"price": "12.22"`, `"price": "twelve"`, "tariffs[0].blocks[0].price"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(string(good), tc.from, tc.to, 1)
			if text == string(good) {
				t.Fatalf("%q not in the definition", tc.from)
			}
			_, err := ParseDefinition([]byte(text))
			if got := fieldOf(err); got != tc.field {
				t.Errorf("error %v names %q, want %q", err, got, tc.field)
			}
		})
	}
	if _, err := ParseDefinition(append(good, []byte(" {}")...)); err == nil {
		t.Error("trailing data accepted")
	}
}
