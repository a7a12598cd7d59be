package sts

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSampleTables(t *testing.T) {
	tab := SampleTables()
	if tab.Fingerprint() != SampleFingerprint || tab.Name() != "sample" || !tab.IsSample() {
		t.Errorf("sample fingerprint = %s (%s)", tab.Fingerprint(), tab.Name())
	}
}

func writeTables(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tables.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadTables(t *testing.T) {
	t.Run("sample from file", func(t *testing.T) {
		tab, err := LoadTables(writeTables(t, sampleSet))
		if err != nil {
			t.Fatal(err)
		}
		if tab.Fingerprint() != SampleFingerprint {
			t.Errorf("fingerprint = %s", tab.Fingerprint())
		}
	})
	// A custom set whose S-boxes are not mutual inverses exercises the
	// explicitly inverted decryption tables, as production tables need.
	custom := sampleSet
	custom.S2 = [16]uint8{3, 0, 13, 7, 11, 1, 14, 4, 9, 15, 2, 6, 12, 5, 10, 8}
	t.Run("custom set round trip", func(t *testing.T) {
		tab, err := LoadTables(writeTables(t, custom))
		if err != nil {
			t.Fatal(err)
		}
		if tab.Name() != "custom" {
			t.Errorf("name = %s", tab.Name())
		}
		s := NewSTA(0x0123456789ABCDEF, tab)
		for _, b := range []uint64{0, 1, 0xFFFFFFFFFFFFFFFF, 0x0B19EB230100C207} {
			if got := s.DecryptBlock(s.EncryptBlock(b)); got != b {
				t.Errorf("round trip of %016X = %016X", b, got)
			}
		}
	})
	bad := []struct {
		name, json, want string
	}{
		{"s1 short", `{"s1":[1,2],"s2":[],"p":[]}`, "s1 has 2 entries, want 16"},
		{"unknown field", `{"s1":[],"s2":[],"p":[],"s3":[]}`, "unknown field"},
		{"not json", `s1=1`, "parse sta tables"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "t.json")
			if err := os.WriteFile(path, []byte(tt.json), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadTables(path); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
	t.Run("not a bijection", func(t *testing.T) {
		s := sampleSet
		s.S1[3] = s.S1[4]
		if _, err := LoadTables(writeTables(t, s)); err == nil ||
			!strings.Contains(err.Error(), "s1 is not a permutation") {
			t.Errorf("error = %v", err)
		}
	})
	t.Run("p out of range", func(t *testing.T) {
		s := map[string]any{"s1": sampleSet.S1, "s2": sampleSet.S2, "p": make([]int, 64)}
		s["p"].([]int)[5] = 64
		if _, err := LoadTables(writeTables(t, s)); err == nil ||
			!strings.Contains(err.Error(), "p[5] = 64") {
			t.Errorf("error = %v", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		if _, err := LoadTables(filepath.Join(t.TempDir(), "none.json")); err == nil {
			t.Error("missing file accepted")
		}
	})
}

func TestTablesFromEnv(t *testing.T) {
	t.Setenv(TablesEnv, "")
	tab, err := TablesFromEnv("")
	if err != nil || !tab.IsSample() {
		t.Fatalf("TablesFromEnv with nothing set = %v, %v", tab, err)
	}
	t.Setenv(TablesEnv, filepath.Join(t.TempDir(), "missing.json"))
	if _, err := TablesFromEnv(""); err == nil {
		t.Error("a missing tables file named by the environment was ignored")
	}
}
