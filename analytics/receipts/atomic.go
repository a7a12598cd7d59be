package receipts

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// AtomicFile is a file that appears under its name only once complete: it
// is written to a temporary file in the same directory and renamed on
// [AtomicFile.Commit], so a failed or interrupted write leaves no partial
// file behind. It is not safe for concurrent use.
type AtomicFile struct {
	f    *os.File
	path string
	perm os.FileMode
	done bool
}

// CreateAtomic starts writing path. perm is the mode the finished file
// gets (0644 for data files).
func CreateAtomic(path string, perm os.FileMode) (*AtomicFile, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return &AtomicFile{f: f, path: path, perm: perm}, nil
}

// Write writes to the temporary file.
func (a *AtomicFile) Write(p []byte) (int, error) { return a.f.Write(p) }

// Path returns the final name.
func (a *AtomicFile) Path() string { return a.path }

// Commit syncs the temporary file and renames it to the final name. After
// a failed Commit the temporary file is removed.
func (a *AtomicFile) Commit() error {
	if a.done {
		return errors.New("commit " + a.path + ": already finished")
	}
	a.done = true
	err := a.f.Sync()
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(a.f.Name(), a.perm)
	}
	if err == nil {
		err = os.Rename(a.f.Name(), a.path)
	}
	if err != nil {
		_ = os.Remove(a.f.Name())
		return fmt.Errorf("commit %s: %w", a.path, err)
	}
	return nil
}

// Abort drops the temporary file. It does nothing after Commit, so it can
// be deferred.
func (a *AtomicFile) Abort() {
	if a.done {
		return
	}
	a.done = true
	_ = a.f.Close()
	_ = os.Remove(a.f.Name())
}
