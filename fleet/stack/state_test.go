package stack

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/fleet"
	"github.com/stsfleet/stsfleet/simclock"
	"github.com/stsfleet/stsfleet/vending"
)

// TestGeneratedFleetKeptInState checks that a generated fleet is kept in
// the state directory and taken back by the next stack, and that another
// configuration is refused there.
func TestGeneratedFleetKeptInState(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s := &Stack{cfg: Config{Fleet: fleet.Config{StateDir: dir}}}
	fc := vending.FleetConfig{Meters: 3, Seed: 7}
	first, err := s.generateFleet(fc)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{vending.FleetFile, vending.KeyStoreFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("state lacks %s: %v", name, err)
		}
	}
	again, err := s.generateFleet(fc)
	if err != nil {
		t.Fatal(err)
	}
	k1, _ := first.Keys.Marshal()
	k2, _ := again.Keys.Marshal()
	i1, _ := first.Injection.Marshal()
	i2, _ := again.Injection.Marshal()
	if !bytes.Equal(k1, k2) || !bytes.Equal(i1, i2) {
		t.Error("the second stack generated new keys instead of taking the kept ones")
	}

	tests := []struct {
		name string
		fc   vending.FleetConfig
	}{
		{"other size", vending.FleetConfig{Meters: 4, Seed: 7}},
		{"other seed", vending.FleetConfig{Meters: 3, Seed: 8}},
		{"other mix", vending.FleetConfig{Meters: 3, Seed: 7,
			Mix: map[vending.Utility]int{vending.Water: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.generateFleet(tt.fc)
			if err == nil || !strings.Contains(err.Error(), "another size, mix or seed") ||
				!strings.Contains(err.Error(), dir) {
				t.Errorf("got %v, want a refusal naming %s", err, dir)
			}
		})
	}
}

// TestGeneratedFleetWithoutState checks that without a state directory
// every stack generates a fleet of its own.
func TestGeneratedFleetWithoutState(t *testing.T) {
	s := &Stack{}
	fc := vending.FleetConfig{Meters: 2, Seed: 7}
	a, err := s.generateFleet(fc)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.generateFleet(fc)
	if err != nil {
		t.Fatal(err)
	}
	ka, _ := a.Keys.Marshal()
	kb, _ := b.Keys.Marshal()
	if bytes.Equal(ka, kb) {
		t.Error("two stacks without state share a vending key")
	}
}

func TestResumeTime(t *testing.T) {
	dir := t.TempDir()
	if _, ok, err := ResumeTime(dir); ok || err != nil {
		t.Fatalf("empty state: ok %v, err %v; want neither", ok, err)
	}
	at := time.Date(2031, 5, 6, 7, 8, 9, 10, time.UTC)
	// A clock that stands still at its epoch.
	wall := time.Now()
	s := &Stack{cfg: Config{Fleet: fleet.Config{StateDir: dir}},
		Clock: &simclock.Clock{Start: at, Epoch: wall, Wall: func() time.Time { return wall }}}
	if err := s.saveClock(); err != nil {
		t.Fatal(err)
	}
	got, ok, err := ResumeTime(dir)
	if err != nil || !ok || !got.Equal(at) {
		t.Errorf("resume time %v, %v, %v; want %v", got, ok, err, at)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("state holds %d files, want the clock alone", len(entries))
	}
	if err := os.WriteFile(filepath.Join(dir, StateClock), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ResumeTime(dir); err == nil || !strings.Contains(err.Error(), StateClock) {
		t.Errorf("malformed clock file: %v, want an error naming it", err)
	}
}

// TestStateWithoutKeyStoreRefused checks that a state directory holding
// meters' state but no vending key store, as an older version left it,
// is refused rather than given new keys the meters cannot decrypt with.
func TestStateWithoutKeyStoreRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "47000000019.json"), []byte("{}"),
		0o600); err != nil {
		t.Fatal(err)
	}
	s := &Stack{cfg: Config{Fleet: fleet.Config{StateDir: dir}}}
	_, err := s.generateFleet(vending.FleetConfig{Meters: 3, Seed: 7})
	if err == nil || !strings.Contains(err.Error(), vending.KeyStoreFile) ||
		!strings.Contains(err.Error(), dir) {
		t.Errorf("got %v, want a refusal naming %s and %s", err, dir, vending.KeyStoreFile)
	}
	if _, err := os.Stat(filepath.Join(dir, vending.KeyStoreFile)); err == nil {
		t.Error("a key store was written into the old state directory")
	}
	// Other JSON files, such as the clock, are not meters' state.
	clean := t.TempDir()
	os.WriteFile(filepath.Join(clean, StateClock), []byte("{}"), 0o600)
	s = &Stack{cfg: Config{Fleet: fleet.Config{StateDir: clean}}}
	if _, err := s.generateFleet(vending.FleetConfig{Meters: 3, Seed: 7}); err != nil {
		t.Errorf("a state directory with only a clock file: %v", err)
	}
}

func TestStateWithoutLedgerRefused(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, StateLedger)
	if err := checkStateLedger(dir, db); err != nil {
		t.Errorf("an empty state directory: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "47000000019.json"), []byte("{}"), 0o600)
	if err := checkStateLedger(dir, db); err == nil || !strings.Contains(err.Error(), StateLedger) {
		t.Errorf("meters without the ledger: %v, want a refusal naming %s", err, StateLedger)
	}
	os.WriteFile(db, nil, 0o600)
	if err := checkStateLedger(dir, db); err != nil {
		t.Errorf("meters with the ledger: %v", err)
	}
}
