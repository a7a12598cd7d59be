package fleet

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stsfleet/stsfleet/meter"
	"github.com/stsfleet/stsfleet/protocol/sts"
)

const stateDRN = "37194275246"

func testMeter(t testing.TB) *meter.Meter {
	t.Helper()
	m, err := meter.New(meter.Config{DRN: stateDRN, KeyType: sts.KeyTypeDUTK,
		Key: []byte("01234567"), InitialCredit: 50, Load: meter.Load{Kind: meter.LoadNone}},
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestStateRoundTripAndModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := ensureStateDir(dir); err != nil {
		t.Fatal(err)
	}
	m := testMeter(t)
	for _, sync := range []bool{false, true} {
		if err := writeState(dir, m.State(), 42, sync); err != nil {
			t.Fatal(err)
		}
	}
	got, ok, err := readState(dir, stateDRN)
	if err != nil || !ok {
		t.Fatalf("readState: %v, found %v", err, ok)
	}
	if diff := cmp.Diff(m.State(), got.Meter); diff != "" || got.Seq != 42 {
		t.Errorf("state (-want +got):\n%s\nseq %d", diff, got.Seq)
	}

	// The files hold decoder keys.
	for path, want := range map[string]os.FileMode{dir: 0o700,
		statePath(dir, stateDRN): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("state directory holds %d files, want 1 (no temporary left)", len(entries))
	}
	if _, ok, err := readState(dir, "47123456783"); ok || err != nil {
		t.Errorf("readState of a meter without a file: found %v, %v", ok, err)
	}
}

func TestDecodeStateErrors(t *testing.T) {
	good, err := json.Marshal(saved{Version: savedVersion, Meter: testMeter(t).State()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		drn  string
	}{
		{"other meter", good, "47123456783"},
		{"version", []byte(`{"version":9}`), stateDRN},
		{"not json", []byte(`{"version":`), stateDRN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeState(tc.data, tc.drn); err == nil {
				t.Error("decodeState accepted it")
			}
		})
	}
	if _, err := decodeState(good, stateDRN); err != nil {
		t.Errorf("decodeState of a good file: %v", err)
	}
}

func FuzzDecodeState(f *testing.F) {
	good, _ := json.Marshal(saved{Version: savedVersion, Meter: testMeter(f).State()})
	f.Add(good)
	f.Add([]byte(`{"version":1,"meter":{"config":{"drn":"37194275246"}}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := decodeState(data, stateDRN)
		if err != nil {
			return
		}
		// Whatever decodes either restores or is refused, never panics.
		meter.Restore(s.Meter, nil)
	})
}

func FuzzDecodeReceipt(f *testing.F) {
	f.Add([]byte(`{"vend_id":"v1","meter":"37194275246","token":"12345678901234567890",` +
		`"units":"4.9","unit":"kWh","tid":123,"amount":"100.00","token_amount":"59.88",` +
		`"other_charges":"40.12","currency":"KES"}`))
	f.Add([]byte(`{"vend_id":""}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rc, err := decodeReceipt(data)
		if err == nil && rc.VendID == "" {
			t.Fatal("a receipt without a vend ID was accepted")
		}
	})
}
