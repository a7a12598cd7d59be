package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/stsfleet/stsfleet/meter"
	"github.com/stsfleet/stsfleet/protocol/sts"
)

// savedVersion is the version of a meter's state file.
const savedVersion = 1

// saved is a meter's state file: the meter's complete state, decoder key
// included, and the fleet's own counter for it.
type saved struct {
	Version int         `json:"version"`
	Meter   meter.State `json:"meter"`
	// Seq is the sequence number of the next reading.
	Seq uint64 `json:"seq"`
}

// ensureStateDir makes the state directory, 0700: its files hold keys.
func ensureStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("state directory: %w", err)
		}
	}
	return nil
}

func statePath(dir, drn string) string { return filepath.Join(dir, drn+".json") }

// readState reads a meter's state file; ok is false when there is none.
func readState(dir, drn string) (s saved, ok bool, err error) {
	if sts.ValidateDRN(drn) != nil {
		return s, false, fmt.Errorf("read state of meter %q: invalid DRN", drn)
	}
	data, err := os.ReadFile(statePath(dir, drn))
	if errors.Is(err, fs.ErrNotExist) {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("read state of meter %s: %w", drn, err)
	}
	if s, err = decodeState(data, drn); err != nil {
		return s, false, fmt.Errorf("read state of meter %s: %w", drn, err)
	}
	return s, true, nil
}

// decodeState reads a state file of the meter with this DRN. The file
// holds the decoder key, so errors never quote its content.
func decodeState(data []byte, drn string) (saved, error) {
	var s saved
	if err := json.Unmarshal(data, &s); err != nil {
		return saved{}, errors.New("malformed JSON")
	}
	if s.Version != savedVersion {
		return saved{}, fmt.Errorf("version %d, want %d", s.Version, savedVersion)
	}
	if s.Meter.Config.DRN != drn {
		return saved{}, errors.New("the file holds another meter")
	}
	return s, nil
}

// writeState writes a meter's state file atomically, 0600 from its
// creation: through a temporary file renamed over the old one, so that a
// reader sees the old state or the new one. sync also flushes it to disk.
func writeState(dir string, st meter.State, seq uint64, sync bool) (err error) {
	drn := st.Config.DRN
	data, err := json.Marshal(saved{Version: savedVersion, Meter: st, Seq: seq})
	if err != nil {
		return fmt.Errorf("write state of meter %s: %w", drn, err)
	}
	f, err := os.CreateTemp(dir, "."+drn+".tmp-*")
	if err != nil {
		return fmt.Errorf("write state of meter %s: %w", drn, err)
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	// CreateTemp makes the file 0600.
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write state of meter %s: %w", drn, err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("write state of meter %s: sync: %w", drn, err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write state of meter %s: %w", drn, err)
	}
	if err := os.Rename(f.Name(), statePath(dir, drn)); err != nil {
		return fmt.Errorf("write state of meter %s: %w", drn, err)
	}
	return nil
}
