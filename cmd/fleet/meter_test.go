package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

const (
	hexKey07 = "0123456789ABCDEF"
	hexKey11 = "00112233445566778899AABBCCDDEEFF"
)

var tid = func() uint32 {
	t, err := sts.TIDAt(time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC), sts.Base2014)
	if err != nil {
		panic(err)
	}
	return t
}()

// outLine is the JSON line of one token, with class and sub-class as
// pointers to tell an omitted field from 0.
type outLine struct {
	Token    string `json:"token"`
	Outcome  string `json:"outcome"`
	Class    *int   `json:"class"`
	SubClass *int   `json:"subclass"`
	Credit   string `json:"credit"`
	Unit     string `json:"unit"`
}

func intp(v int) *int { return &v }

// runFleet runs the fleet command in-process and returns stdout, stderr
// and the error Execute returned.
func runFleet(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func parseLines(t *testing.T, s string) []outLine {
	t.Helper()
	var lines []outLine
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		var l outLine
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines
}

func cipher(t *testing.T, ea sts.EA, hexKey string, tables *sts.Tables) sts.BlockCipher {
	t.Helper()
	key, err := hex.DecodeString(hexKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := sts.NewCipher(ea, key, tables)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func token(t *testing.T, c sts.BlockCipher, f sts.Fields) string {
	t.Helper()
	tok, err := sts.Encode(c, &f)
	if err != nil {
		t.Fatal(err)
	}
	return tok.String()
}

func credit(t *testing.T, c sts.BlockCipher, sub uint8, units uint64, tid uint32) string {
	t.Helper()
	v, err := sts.EncodeAmount(units)
	if err != nil {
		t.Fatal(err)
	}
	return token(t, c, sts.Fields{Class: sts.ClassCredit, SubClass: sub, RND: 5, TID: tid,
		Value: v})
}

func TestMeterTry(t *testing.T) {
	c := cipher(t, sts.EA07, hexKey07, nil)
	other := cipher(t, sts.EA07, "FEDCBA9876543210", nil)
	tok := credit(t, c, 0, 125, tid)
	currency := sts.Fields{Class: sts.ClassCredit, SubClass: 4, TID: tid + 2}
	currency.SetCurrency(sts.CurrencyAmount{Exponent: 1, Mantissa: 100})
	test := token(t, nil, sts.Fields{Class: sts.ClassTest, Control: 8})
	sections, err := (&sts.KeyChange{NewKey: []byte("newkey!!"), KEN: 255, KRN: 2,
		KeyType: 2}).Sections()
	if err != nil {
		t.Fatal(err)
	}
	newC, err := sts.NewCipher(sts.EA07, []byte("newkey!!"), nil)
	if err != nil {
		t.Fatal(err)
	}

	args := []string{"meter", "try", tok, "--decoder-key", hexKey07, tok,
		credit(t, other, 0, 10, tid+1), "12", credit(t, c, 1, 10, tid+1),
		token(t, c, currency), "--ea", "07", test, token(t, c, sections[1]),
		token(t, c, sections[0]), credit(t, newC, 0, 20, tid+3), "--credit", "1.5"}
	out, errOut, err := runFleet(t, args...)
	if err != nil {
		t.Fatalf("fleet meter try: %v (stderr %q)", err, errOut)
	}
	want := []outLine{
		{tok, "accept", intp(0), intp(0), "14.0", "kWh"},
		{tok, "used_error", intp(0), intp(0), "14.0", "kWh"},
		{args[6], "crc_error", nil, nil, "14.0", "kWh"},
		{"12", "format_error", nil, nil, "14.0", "kWh"},
		{args[8], "function_error", intp(0), intp(1), "0.0", "m3"},
		// 10·100 + 2^14 units of 0.00001.
		{args[9], "accept", intp(0), intp(4), "0.17384", "KES"},
		{test, "accept", intp(1), intp(0), "14.0", "kWh"},
		{args[13], "kct_pending", intp(2), intp(4), "14.0", "kWh"},
		{args[14], "accept", intp(2), intp(3), "14.0", "kWh"},
		{args[15], "accept", intp(0), intp(0), "16.0", "kWh"},
	}
	if diff := cmp.Diff(want, parseLines(t, out)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

func TestMeterTryKeyFileAndEA11(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	if err := os.WriteFile(path, []byte(hexKey11+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := cipher(t, sts.EA11, hexKey11, nil)
	tok := credit(t, c, 1, 30, tid)
	out, errOut, err := runFleet(t, "meter", "try", "--ea", "11", "--decoder-key", "@"+path,
		"--utility", "water", tok)
	if err != nil {
		t.Fatalf("fleet meter try: %v (stderr %q)", err, errOut)
	}
	want := []outLine{{tok, "accept", intp(0), intp(1), "3.0", "m3"}}
	if diff := cmp.Diff(want, parseLines(t, out)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

func TestMeterTryOptions(t *testing.T) {
	c := cipher(t, sts.EA07, hexKey07, nil)
	tok := credit(t, c, 0, 10, tid)
	cases := []struct {
		name    string
		flags   []string
		outcome string
	}{
		{"default key type takes credit", nil, "accept"},
		{"DDTK refuses credit", []string{"--key-type", "1"}, "ddtk_error"},
		{"KEN below the TID", []string{"--ken", "1"}, "key_expired_error"},
		{"gas meter", []string{"--utility", "gas"}, "function_error"},
		{"other DRN, same key", []string{"--drn", "0100000000008"}, "accept"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"meter", "try", "--ea", "07", "--decoder-key", hexKey07},
				tc.flags...)
			out, errOut, err := runFleet(t, append(args, tok)...)
			if err != nil {
				t.Fatalf("fleet meter try: %v (stderr %q)", err, errOut)
			}
			if l := parseLines(t, out); len(l) != 1 || l[0].Outcome != tc.outcome {
				t.Errorf("output %+v, want one %s line", l, tc.outcome)
			}
		})
	}

	t.Run("manufacturer code", func(t *testing.T) {
		test := token(t, nil, sts.Fields{Class: sts.ClassTest, Control: 1, MfrCode: 37})
		out, _, err := runFleet(t, "meter", "try", "--ea", "07", "--decoder-key", hexKey07,
			"--mfr-code", "12", test)
		if err != nil {
			t.Fatal(err)
		}
		if l := parseLines(t, out); len(l) != 1 || l[0].Outcome != "mfr_code_error" {
			t.Errorf("output %+v, want mfr_code_error", l)
		}
	})

	t.Run("small TID memory", func(t *testing.T) {
		toks := []string{credit(t, c, 0, 1, tid+5), credit(t, c, 0, 1, tid+6),
			credit(t, c, 0, 1, tid+1)}
		out, _, err := runFleet(t, append([]string{"meter", "try", "--ea", "07",
			"--decoder-key", hexKey07, "--tid-memory", "2"}, toks...)...)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range parseLines(t, out) {
			got = append(got, l.Outcome)
		}
		if diff := cmp.Diff([]string{"accept", "accept", "old_error"}, got); diff != "" {
			t.Errorf("outcomes (-want +got):\n%s", diff)
		}
	})
}

func TestMeterTryTablesFromEnv(t *testing.T) {
	set := sts.TableSet{
		S1: [16]uint8{1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14},
		S2: [16]uint8{15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
	}
	for i := range set.P {
		set.P[i] = uint8((i + 7) % 64)
	}
	tables, err := sts.NewTables(set)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tables.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	tok := credit(t, cipher(t, sts.EA07, hexKey07, tables), 0, 10, tid)
	args := []string{"meter", "try", "--ea", "07", "--decoder-key", hexKey07, tok}

	cases := []struct {
		name    string
		env     string
		extra   []string
		outcome string
	}{
		{"sample tables", "", nil, "crc_error"},
		{"tables from the environment", path, nil, "accept"},
		{"flag wins over the environment", "/nonexistent", []string{"--sta-tables", path},
			"accept"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(sts.TablesEnv, tc.env)
			out, errOut, err := runFleet(t, append(args, tc.extra...)...)
			if err != nil {
				t.Fatalf("fleet meter try: %v (stderr %q)", err, errOut)
			}
			if l := parseLines(t, out); len(l) != 1 || l[0].Outcome != tc.outcome {
				t.Errorf("output %+v, want %s", l, tc.outcome)
			}
		})
	}
}

func TestMeterTryBadFlags(t *testing.T) {
	t.Setenv(sts.TablesEnv, "")
	base := []string{"meter", "try", "--ea", "07", "--decoder-key", hexKey07}
	cases := []struct {
		name string
		args []string
		flag string
	}{
		{"ea", []string{"meter", "try", "--ea", "09", "--decoder-key", hexKey07, "1"}, "--ea"},
		{"missing ea", []string{"meter", "try", "--decoder-key", hexKey07, "1"}, "ea"},
		{"missing key", []string{"meter", "try", "--ea", "07", "1"}, "decoder-key"},
		{"key not hex", []string{"meter", "try", "--ea", "07", "--decoder-key", "zz", "1"},
			"--decoder-key"},
		{"key too short", []string{"meter", "try", "--ea", "11", "--decoder-key", hexKey07,
			"1"}, "--decoder-key"},
		{"key file missing", []string{"meter", "try", "--ea", "07", "--decoder-key",
			"@/nonexistent/key", "1"}, "--decoder-key"},
		{"tables file", append(base, "--sta-tables", "/nonexistent", "1"), "--sta-tables"},
		{"ken", append(base, "--ken", "256", "1"), "--ken"},
		{"key type", append(base, "--key-type", "4", "1"), "--key-type"},
		{"utility", append(base, "--utility", "steam", "1"), "--utility"},
		{"drn", append(base, "--drn", "37194275247", "1"), "--drn"},
		{"credit", append(base, "--credit", "ten", "1"), "--credit"},
		{"tid memory", append(base, "--tid-memory", "0", "1"), "--tid-memory"},
		{"mfr code", append(base, "--mfr-code", "100", "1"), "--mfr-code"},
		{"no tokens", base, "arg"},
		{"unknown flag", append(base, "--colour", "1"), "--colour"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := runFleet(t, tc.args...)
			if err == nil {
				t.Fatalf("no error; stdout %q", out)
			}
			if !strings.Contains(errOut, tc.flag) {
				t.Errorf("stderr %q does not name %s", errOut, tc.flag)
			}
			if strings.Contains(errOut, hexKey07) {
				t.Errorf("stderr %q shows the key", errOut)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
		})
	}
}
