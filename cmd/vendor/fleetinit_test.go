package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stsfleet/stsfleet/vending"
)

func TestFleetInit(t *testing.T) {
	dir := t.TempDir()
	out := vendor(t, "fleet", "init", "--meters", "20", "--seed", "4", "--out", dir,
		"--mix", "electricity=1,water=1", "--profiles", "ea11-dkga04=1")
	if out.code != 0 {
		t.Fatalf("fleet init: %d %s", out.code, out.stderr)
	}
	for _, want := range []string{"meters      20", "electricity 10", "water       10",
		"EA11/DKGA04 20", filepath.Join(dir, vending.InjectionFile)} {
		if !strings.Contains(out.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, out.stdout)
		}
	}
	ks, err := vending.LoadKeyStore(filepath.Join(dir, vending.KeyStoreFile))
	if err != nil {
		t.Fatal(err)
	}
	// The test env's random source fills keys with 0xA5: neither the key
	// nor its hex may be printed.
	if strings.Contains(strings.ToUpper(out.stdout+out.stderr), "A5A5A5A5") {
		t.Errorf("a vending key was printed:\n%s", out.stdout)
	}
	st, err := os.Stat(filepath.Join(dir, vending.KeyStoreFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key store mode %v, %v", st.Mode(), err)
	}
	def, err := vending.LoadDefinition(filepath.Join(dir, vending.FleetFile))
	if err != nil {
		t.Fatal(err)
	}
	inj, err := vending.LoadInjection(filepath.Join(dir, vending.InjectionFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range def.Meters {
		k, err := ks.DecoderKey(&m)
		if err != nil || string(k) != string(inj[m.DRN].Key) {
			t.Errorf("meter %s: injection does not follow from the key store", m.DRN)
		}
	}
	again := vendor(t, "fleet", "init", "--meters", "20", "--out", dir)
	if again.code == 0 || !strings.Contains(again.stderr, "exists") {
		t.Errorf("second init over the files: %d %s", again.code, again.stderr)
	}
}

func TestFleetInitFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{}, "--meters"},
		{[]string{"--meters", "3", "--mix", "steam=1"}, "--mix"},
		{[]string{"--meters", "3", "--profiles", "ea09=1"}, "--profiles"},
		{[]string{"--meters", "3", "--sgc", "12"}, "--sgc"},
		{[]string{"--meters", "3", "--base-date", "2000"}, "--base-date"},
		{[]string{"--meters", "3", "--ken", "0"}, "--ken"},
		{[]string{"--meters", "3", "--tariff-index", "100"}, "--tariff-index"},
	} {
		args := append([]string{"fleet", "init", "--out", t.TempDir()}, tc.args...)
		out := vendor(t, args...)
		if out.code == 0 || !strings.Contains(out.stderr, tc.flag) {
			t.Errorf("%v: %d %q, want an error naming %s", tc.args, out.code, out.stderr,
				tc.flag)
		}
	}
}
