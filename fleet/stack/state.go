package stack

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/vending"
)

// StateLedger is the file name of the embedded vendor's ledger in the
// state directory (Config.Fleet.StateDir) when Config.DBPath is empty.
//
// A stack with a state directory keeps there what a later stack needs to
// continue its run, beside each meter's state: the embedded vendor's
// ledger, so that TIDs go on from the last one issued and the vendor's
// account matches the meters' registers; for a generated fleet, its
// definition (vending.FleetFile) and vending key store
// (vending.KeyStoreFile, 0600), which the restored meters' decoder keys
// come from; and the simulated time it shut down at ([StateClock]).
const StateLedger = "vendor.db"

// StateClock is the file name, in the state directory, of the simulated
// time a stack had reached when it shut down: where a run that continues
// it may start its clock (see [ResumeTime]).
const StateClock = "clock.json"

// clockJSON is the content of StateClock.
type clockJSON struct {
	Version int       `json:"version"`
	SimTime time.Time `json:"sim_time"`
}

// ResumeTime returns the simulated time the last stack on the state
// directory dir had reached when it shut down; ok is false when none has.
// Its meters saved their state then, so a clock started there finds none
// of them ahead of it.
func ResumeTime(dir string) (t time.Time, ok bool, err error) {
	data, err := os.ReadFile(filepath.Join(dir, StateClock))
	if errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("resume time: %w", err)
	}
	var c clockJSON
	if err := json.Unmarshal(data, &c); err != nil || c.Version != 1 || c.SimTime.IsZero() {
		return time.Time{}, false, fmt.Errorf("resume time: %s: not a clock file of version 1",
			filepath.Join(dir, StateClock))
	}
	return c.SimTime, true, nil
}

// saveClock records the simulated time now in the state directory,
// through a temporary file renamed into place.
func (s *Stack) saveClock() (err error) {
	data, err := json.Marshal(clockJSON{Version: 1, SimTime: s.Clock.Now().UTC()})
	if err != nil {
		return fmt.Errorf("save clock: %w", err)
	}
	dir := s.cfg.Fleet.StateDir
	f, err := os.CreateTemp(dir, "."+StateClock+".tmp-*")
	if err != nil {
		return fmt.Errorf("save clock: %w", err)
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	_, err = f.Write(append(data, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(dir, StateClock))
	}
	if err != nil {
		return fmt.Errorf("save clock: %w", err)
	}
	return nil
}

// stateDir returns the state directory, made 0700 if missing (its files
// hold keys and tokens), or "" without one.
func (s *Stack) stateDir() (string, error) {
	dir := s.cfg.Fleet.StateDir
	if dir == "" {
		return "", nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("state directory: %w", err)
	}
	return dir, nil
}

// generateFleet generates the fleet. With a state directory and an
// embedded vendor, the first run keeps the fleet's definition and vending
// key store there and later runs take them back, refusing a definition
// that the configuration would now generate differently.
func (s *Stack) generateFleet(fc vending.FleetConfig) (*vending.Fleet, error) {
	dir, err := s.stateDir()
	if err != nil {
		return nil, err
	}
	if dir == "" || s.cfg.VendorURL != "" {
		return vending.NewFleet(fc)
	}
	defPath := filepath.Join(dir, vending.FleetFile)
	keysPath := filepath.Join(dir, vending.KeyStoreFile)
	keys, err := vending.LoadKeyStore(keysPath)
	if errors.Is(err, fs.ErrNotExist) {
		// Meters saved without the key store their decoder keys came
		// from cannot take the tokens of a new one.
		if hasMeterState(dir) {
			return nil, fmt.Errorf("state %s: holds meters' state but no %s, their vending "+
				"keys (a state directory of an older version): use another state directory",
				dir, vending.KeyStoreFile)
		}
		gen, err := vending.NewFleet(fc)
		if err != nil {
			return nil, err
		}
		// The key store first: a definition without it continues nothing.
		if err := gen.Keys.Write(keysPath); err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
		if err := gen.Definition.Write(defPath); err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
		return gen, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	def, err := sameDefinition(fc, defPath)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", dir, err)
	}
	inj, err := vending.BuildInjection(def, keys)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", dir, err)
	}
	return &vending.Fleet{Definition: def, Keys: keys, Injection: inj}, nil
}

// checkStateLedger refuses a state directory whose meters have saved
// their state while the vendor's ledger at db is gone: a fresh ledger
// would not know the credit the meters hold, nor the TIDs they have seen.
func checkStateLedger(dir, db string) error {
	if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if hasMeterState(dir) {
		return fmt.Errorf("state %s: holds meters' state but no %s, the vendor's ledger: "+
			"use another state directory", dir, StateLedger)
	}
	return nil
}

// hasMeterState reports whether dir holds a meter's saved state, a file
// named by its DRN.
func hasMeterState(dir string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		if sts.ValidateDRN(name) == nil {
			return true
		}
	}
	return false
}

// sameDefinition generates the definition of fc and checks that it is the
// one kept at path.
func sameDefinition(fc vending.FleetConfig, path string) (*vending.Definition, error) {
	kept, err := vending.LoadDefinition(path)
	if err != nil {
		return nil, err
	}
	def, err := vending.NewDefinition(fc)
	if err != nil {
		return nil, err
	}
	a, err := kept.Marshal()
	if err != nil {
		return nil, err
	}
	b, err := def.Marshal()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(a, b) {
		return nil, fmt.Errorf("holds a fleet (%d meters) generated with another size, mix "+
			"or seed: run with the same ones, or use another state directory", len(kept.Meters))
	}
	return def, nil
}
