package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestKeyNew(t *testing.T) {
	for _, tc := range []struct {
		dkga string
		bits int
	}{{"02", 64}, {"04", 160}, {"2", 64}} {
		t.Run("dkga"+tc.dkga, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vk.hex")
			m := mustJSON(t, "key", "new", "--dkga", tc.dkga, "--out", path)
			want := map[string]any{"file": path, "dkga": "0" + strings.TrimPrefix(tc.dkga, "0"),
				"bits": str(tc.bits)}
			got := map[string]any{"file": m["file"], "dkga": m["dkga"], "bits": str(m["bits"])}
			if d := cmp.Diff(want, got); d != "" || len(m) != 3 {
				t.Errorf("output (-want +got):\n%s\nall: %v", d, m)
			}

			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if mode := info.Mode().Perm(); mode != 0o600 {
				t.Errorf("file mode %o, want 600", mode)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			text := strings.TrimSpace(string(data))
			wantKey := strings.Repeat("A5", tc.bits/8)
			if text != wantKey {
				t.Errorf("file holds %q, want %q", text, wantKey)
			}
			leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*"))
			if len(leftovers) != 0 {
				t.Errorf("temporary files left: %v", leftovers)
			}
		})
	}
}

func TestKeyNewProcessRandom(t *testing.T) {
	dir := t.TempDir()
	var seen []string
	for _, name := range []string{"a", "b"} {
		path := filepath.Join(dir, name)
		var out, errOut strings.Builder
		if code := run(context.Background(), newRootCmd(), []string{"key", "new", "--dkga", "02", "--out", path},
			&out, &errOut); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.TrimSpace(string(data))
		if !regexp.MustCompile(`^[0-9A-F]{16}$`).MatchString(text) {
			t.Fatalf("key file holds %d characters, want 16 upper-case hex", len(text))
		}
		seen = append(seen, text)
	}
	if seen[0] == seen[1] {
		t.Error("two new keys are equal")
	}
}

func TestKeyNewNeverPrintsKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vk.hex")
	for _, args := range [][]string{
		{"key", "new", "--dkga", "04", "--out", path},
		{"key", "new", "--dkga", "04", "--out", path, "--force", "--json"},
	} {
		o := vendor(t, args...)
		if o.code != 0 {
			t.Fatalf("exit %d: %s", o.code, o.stderr)
		}
		if strings.Contains(o.stdout+o.stderr, "A5A5") {
			t.Errorf("output shows key material: %q", o.stdout)
		}
		if !strings.Contains(o.stdout, path) {
			t.Errorf("output does not name the file: %q", o.stdout)
		}
	}
}

func TestKeyNewRefusesOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vk.hex")
	if err := os.WriteFile(path, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustFail(t, []string{"key", "new", "--dkga", "02", "--out", path}, "--out", "--force")
	if data, _ := os.ReadFile(path); string(data) != "precious\n" {
		t.Fatalf("existing file changed to %q", data)
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	mustJSON(t, "key", "new", "--dkga", "02", "--out", path, "--force")
	data, _ := os.ReadFile(path)
	if got := strings.TrimSpace(string(data)); got != strings.Repeat("A5", 8) {
		t.Errorf("replaced file holds %q", got)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Errorf("replaced file mode %o, want 600", info.Mode().Perm())
	}
}

func TestKeyNewErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad dkga", []string{"--dkga", "03", "--out", filepath.Join(dir, "a")}, "--dkga"},
		{"no out", []string{"--dkga", "02"}, "out"},
		{"no dkga", []string{"--out", filepath.Join(dir, "b")}, "dkga"},
		{"stdout", []string{"--dkga", "02", "--out", "-"}, "--out"},
		{"missing dir", []string{"--dkga", "02", "--out", filepath.Join(dir, "no", "c")},
			"--out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustFail(t, append([]string{"key", "new"}, tc.args...), tc.want)
		})
	}
}

// deriveArgs turns a DKGA vector's inputs into key derive flags.
func deriveArgs(in map[string]any) []string {
	iin, drn := "600727", str(in["drn"])
	if pan, ok := in["meter_pan"]; ok {
		iin, drn = panParts(str(pan))
	}
	dkga := "02"
	if _, ok := in["ea"]; ok {
		dkga = "04"
	}
	args := []string{"key", "derive", "--dkga", dkga, "--vending-key", str(in["vending_key_hex"]),
		"--key-type", str(in["key_type"]), "--sgc", str(in["sgc"]),
		"--tariff-index", str(in["tariff_index"]), "--krn", str(in["krn"]),
		"--drn", drn, "--iin", iin}
	if dkga == "04" {
		args = append(args, "--ea", str(in["ea"]), "--base-date", str(in["base_date"]))
	}
	return args
}

func TestKeyDeriveVectors(t *testing.T) {
	for _, v := range loadVectors(t, "dkga02", "dkga02_derived_illustration", "dkga04") {
		t.Run(v.name(), func(t *testing.T) {
			got := mustJSON(t, deriveArgs(v.Inputs)...)
			want := map[string]any{}
			switch v.Kind {
			case "dkga04":
				want["decoder_key"] = v.Expected["decoder_key_hex"]
				want["hmac_message"] = v.Expected["hmac_message_hex"]
			case "dkga02":
				want["decoder_key"] = v.Expected["decoder_key_hex"]
				want["pan_block"] = v.Expected["pan_block_hex"]
				want["control_block"] = v.Expected["control_block_hex"]
			default:
				want["decoder_key"] = v.Expected["decoder_key_hex_correct"]
				want["pan_block"] = v.Expected["pan_block_hex"]
				want["control_block"] = v.Expected["control_block_hex_correct"]
			}
			if pan, ok := v.Inputs["meter_pan"]; ok {
				want["meter_pan"] = pan
			} else {
				want["meter_pan"] = got["meter_pan"]
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("key derive (-want +got):\n%s", d)
			}
		})
	}
}

func TestKeyDeriveSeedExample(t *testing.T) {
	got := mustJSON(t, "key", "derive", "--dkga", "02", "--vending-key", "0123456789ABCDEF",
		"--key-type", "2", "--sgc", "123456", "--tariff-index", "07", "--krn", "1",
		"--drn", "37194275246")
	// PROTOCOL.md §12.1: MfrCode 37, DSN 19427524, check 6; PAN check 4.
	want := map[string]any{"decoder_key": "D0686379ABAC1BC4", "pan_block": "0072737194275246",
		"control_block": "2123456071FFFFFF", "meter_pan": "600727371942752464"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}

	// A one-digit tariff index means 07, not the hobby project's "7".
	short := mustJSON(t, "key", "derive", "--dkga", "02", "--vending-key", "0123456789abcdef",
		"--key-type", "2", "--sgc", "123456", "--tariff-index", "7", "--krn", "1",
		"--drn", "37194275246")
	if d := cmp.Diff(want, short); d != "" {
		t.Errorf("tariff index 7 (-want +got):\n%s", d)
	}
}

func TestKeyDeriveFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vk")
	if err := os.WriteFile(path, []byte("  01234567 89ABCDEF\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got := mustJSON(t, "key", "derive", "--dkga", "02", "--vending-key", "@"+path,
		"--key-type", "2", "--sgc", "123456", "--tariff-index", "07", "--krn", "1",
		"--drn", "37194275246")
	if got["decoder_key"] != "D0686379ABAC1BC4" {
		t.Errorf("decoder key from @FILE = %v", got["decoder_key"])
	}
}

func TestKeyDeriveTable(t *testing.T) {
	o := vendor(t, "key", "derive", "--dkga", "02", "--vending-key", "0123456789ABCDEF",
		"--key-type", "2", "--sgc", "123456", "--tariff-index", "07", "--krn", "1",
		"--drn", "37194275246")
	if o.code != 0 {
		t.Fatalf("exit %d: %s", o.code, o.stderr)
	}
	for _, re := range []string{`(?m)^decoder key +D0686379ABAC1BC4$`,
		`(?m)^meter PAN +600727371942752464$`, `(?m)^CONTROL block +2123456071FFFFFF$`} {
		if !regexp.MustCompile(re).MatchString(o.stdout) {
			t.Errorf("table does not match %s:\n%s", re, o.stdout)
		}
	}
	if strings.Contains(o.stdout, "0123456789ABCDEF") {
		t.Errorf("table shows the vending key:\n%s", o.stdout)
	}
}

func TestKeyDeriveErrors(t *testing.T) {
	const vk = "0123456789ABCDEF"
	base := map[string]string{"--dkga": "02", "--vending-key": vk, "--key-type": "2",
		"--sgc": "123456", "--tariff-index": "07", "--krn": "1", "--drn": "37194275246"}
	for _, tc := range []struct {
		name string
		set  map[string]string
		want []string
	}{
		{"bad hex", map[string]string{"--vending-key": "0123456789ABCDEG"},
			[]string{"--vending-key", "hex"}},
		{"short key", map[string]string{"--vending-key": "0123456789ABCD"},
			[]string{"--vending-key", "want 16"}},
		{"dkga04 with 8-byte key", map[string]string{"--dkga": "04", "--ea": "07"},
			[]string{"--vending-key", "want 40"}},
		{"odd hex", map[string]string{"--vending-key": "0123456789ABCDE"},
			[]string{"--vending-key", "odd"}},
		{"bad DRN check digit", map[string]string{"--drn": "37194275245"},
			[]string{"--drn", "check digit", "should be 6"}},
		{"DRN length", map[string]string{"--drn": "3719427524"}, []string{"--drn"}},
		{"tariff index 100", map[string]string{"--tariff-index": "100"},
			[]string{"--tariff-index", "00 to 99"}},
		{"tariff index text", map[string]string{"--tariff-index": "x1"},
			[]string{"--tariff-index"}},
		{"krn 0", map[string]string{"--krn": "0"}, []string{"--krn", "1 to 9"}},
		{"krn 10", map[string]string{"--krn": "10"}, []string{"--krn"}},
		{"key type 4", map[string]string{"--key-type": "4"}, []string{"--key-type"}},
		{"sgc 5 digits", map[string]string{"--sgc": "12345"}, []string{"--sgc", "6 digits"}},
		{"sgc letters", map[string]string{"--sgc": "12345A"}, []string{"--sgc"}},
		{"iin length", map[string]string{"--iin": "0000"}, []string{"--iin", "want 6"}},
		{"dkga 01", map[string]string{"--dkga": "01"}, []string{"--dkga"}},
		{"dkga02 with ea 11", map[string]string{"--ea": "11"}, []string{"--ea", "DKGA02"}},
		{"dkga04 without ea", map[string]string{"--dkga": "04",
			"--vending-key": strings.Repeat("AB", 20)}, []string{"--ea"}},
		{"base date 2000", map[string]string{"--dkga": "04", "--ea": "11",
			"--vending-key": strings.Repeat("AB", 20), "--base-date": "2000"},
			[]string{"--base-date"}},
		{"missing drn", map[string]string{"--drn": ""}, []string{"--drn", "required"}},
		{"missing key", map[string]string{"--vending-key": ""}, []string{"--vending-key"}},
		{"missing file", map[string]string{"--vending-key": "@/nonexistent/vk"},
			[]string{"--vending-key", "/nonexistent/vk"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"key", "derive"}
			for _, name := range []string{"--dkga", "--vending-key", "--key-type", "--sgc",
				"--tariff-index", "--krn", "--drn", "--ea", "--iin", "--base-date"} {
				v, ok := tc.set[name]
				if !ok {
					v = base[name]
				}
				if v != "" {
					args = append(args, name, v)
				}
			}
			o := mustFail(t, args, tc.want...)
			if strings.Contains(o.stderr, "0123456789ABCD") ||
				strings.Contains(o.stderr, "ABABABAB") {
				t.Errorf("error repeats the vending key: %q", o.stderr)
			}
		})
	}
}
