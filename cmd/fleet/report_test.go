package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		write   func(io.Writer) error
		want    string
		wantErr error
	}{
		{"written", func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err },
			"new", nil},
		{"failed", func(w io.Writer) error { io.WriteString(w, "half"); return boom },
			"old", boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "r.json")
			if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := writeFileAtomic(path, tt.write); !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			data, err := os.ReadFile(path)
			if err != nil || string(data) != tt.want {
				t.Errorf("file holds %q (%v), want %q", data, err, tt.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("directory holds %d files, want 1: a temporary file was left",
					len(entries))
			}
		})
	}
}
