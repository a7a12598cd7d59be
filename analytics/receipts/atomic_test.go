package receipts

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAtomicFile(t *testing.T) {
	tests := []struct {
		name   string
		commit bool
	}{{"commit", true}, {"abort", false}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out.csv")
			f, err := CreateAtomic(path, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte("half")); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("file visible before commit: %v", err)
			}
			if tt.commit {
				if err := f.Commit(); err != nil {
					t.Fatal(err)
				}
			}
			f.Abort()
			entries, _ := os.ReadDir(dir)
			switch {
			case tt.commit && (len(entries) != 1 || entries[0].Name() != "out.csv"):
				t.Errorf("after commit the directory holds %v, want out.csv", entries)
			case !tt.commit && len(entries) != 0:
				t.Errorf("after abort the directory holds %v, want nothing", entries)
			}
			if tt.commit {
				st, _ := os.Stat(path)
				if st.Mode().Perm() != 0o644 {
					t.Errorf("mode %v, want 0644", st.Mode().Perm())
				}
				if err := f.Commit(); err == nil {
					t.Error("second commit succeeded")
				}
			}
		})
	}
}

func TestAtomicFileBadDirectory(t *testing.T) {
	if _, err := CreateAtomic(filepath.Join(t.TempDir(), "no", "such", "x"), 0o644); err == nil {
		t.Error("created a file in a missing directory")
	}
}
