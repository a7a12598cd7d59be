package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stsfleet/stsfleet/protocol/sts"
)

// The seed example: the hobby project's meter identity with vending key
// 0123456789ABCDEF (vectors.json kind dkga02_derived_illustration).
var (
	seedIdentity = []string{"--vending-key", "0123456789ABCDEF", "--dkga", "02",
		"--drn", "37194275246", "--sgc", "123456", "--tariff-index", "07", "--krn", "1",
		"--key-type", "2"}
	seedDecoderKey = "D0686379ABAC1BC4"
)

func minutesSince2014(t time.Time) int {
	return int(t.Sub(time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC)) / time.Minute)
}

func TestIssueSeedExample(t *testing.T) {
	oneStep := mustJSON(t, append(append([]string{"token", "issue"}, seedIdentity...),
		"--ea", "07", "--class", "0", "--subclass", "0", "--amount", "10",
		"--issued", "2026-12-03T13:55", "--rnd", "5")...)
	withKey := mustJSON(t, "token", "issue", "--decoder-key", seedDecoderKey, "--ea", "07",
		"--class", "0", "--subclass", "0", "--amount", "10", "--issued", "2026-12-03T13:55",
		"--rnd", "5")
	if d := cmp.Diff(withKey, oneStep); d != "" {
		t.Errorf("one-step form differs from --decoder-key form (-key +one-step):\n%s", d)
	}
	if got := keys(oneStep); !cmp.Equal(got, []string{"sta_tables", "tokens"}) {
		t.Errorf("top-level keys %v", got)
	}
	entry := tokensOf(t, oneStep)[0]
	if got := keys(entry); !cmp.Equal(got, []string{"block", "class", "subclass", "token"}) {
		t.Errorf("token entry keys %v", got)
	}
	if !regexp.MustCompile(`^\d{20}$`).MatchString(str(entry["token"])) ||
		!regexp.MustCompile(`^[0-9A-F]{16}$`).MatchString(str(entry["block"])) {
		t.Errorf("token %v block %v", entry["token"], entry["block"])
	}

	d := mustJSON(t, "token", "decode", "--decoder-key", seedDecoderKey, "--ea", "07",
		str(entry["token"]))
	tid := minutesSince2014(time.Date(2026, 12, 3, 13, 55, 0, 0, time.UTC))
	want := map[string]string{"class": "0", "subclass": "0", "crc_ok": "true",
		"tid": strconv.Itoa(tid), "rnd": "5", "amount": "10.0", "unit": "kWh",
		"amount_field": "0064", "block": str(entry["block"]), "sta_tables": "sample",
		"issued": "2026-12-03T13:55:00Z"}
	for k, w := range want {
		if got := str(d[k]); got != w {
			t.Errorf("decode %s = %s, want %s", k, got, w)
		}
	}
}

func TestFlagOrder(t *testing.T) {
	a := mustJSON(t, "token", "issue", "--class", "1", "--subclass", "0", "--control", "1")
	o := vendor(t, "token", "issue", "--json", "--control", "1", "--subclass", "0",
		"--class", "1")
	if o.code != 0 {
		t.Fatal(o.stderr)
	}
	if d := cmp.Diff(a, decodeObject(t, o.stdout)); d != "" {
		t.Errorf("flag order changed the output:\n%s", d)
	}

	// Flags may follow the positional token.
	tok := str(tokensOf(t, a)[0]["token"])
	before := mustJSON(t, "token", "decode", "--decoder-key", seedDecoderKey, tok)
	o = vendor(t, "token", "decode", tok, "--decoder-key", seedDecoderKey, "--json")
	if o.code != 0 {
		t.Fatal(o.stderr)
	}
	if d := cmp.Diff(before, decodeObject(t, o.stdout)); d != "" {
		t.Errorf("flags after the token:\n%s", d)
	}
}

func TestIssueIssuedForms(t *testing.T) {
	at := time.Date(2026, 12, 3, 13, 55, 0, 0, time.UTC)
	for _, tc := range []struct {
		issued string
		base   string
		at     time.Time
	}{
		{"2026-12-03T13:55", "", at},
		{"2026-12-03T13:55:59", "", at},
		{"2026-12-03 13:55", "2014", at},
		{"2026-12-03T13:55:00Z", "", at},
		{"2026-12-03T16:55+03:00", "", at},
		{"2026-12-03T16:55:30.5+03:00", "", at},
		{"2026-12-03T13:55Z", "", at},
		{"now", "", testNow},
		{"2045-11-24T20:15", "", time.Date(2045, 11, 24, 20, 15, 0, 0, time.UTC)},
		{"2045-11-24T20:16", "2035", time.Date(2045, 11, 24, 20, 16, 0, 0, time.UTC)},
	} {
		t.Run(tc.issued, func(t *testing.T) {
			args := []string{"token", "issue", "--decoder-key", seedDecoderKey, "--class", "2",
				"--subclass", "5", "--issued", tc.issued}
			base := time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC)
			if tc.base != "" {
				args = append(args, "--base-date", tc.base)
				y, _ := strconv.Atoi(tc.base)
				base = time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
			}
			m := mustJSON(t, args...)
			decodeArgs := []string{"token", "decode", "--decoder-key", seedDecoderKey,
				str(tokensOf(t, m)[0]["token"])}
			if tc.base != "" {
				decodeArgs = append(decodeArgs, "--base-date", tc.base)
			}
			d := mustJSON(t, decodeArgs...)
			if want := strconv.Itoa(int(tc.at.Sub(base) / time.Minute)); str(d["tid"]) != want {
				t.Errorf("tid %v, want %s", d["tid"], want)
			}
		})
	}
}

func TestIssueDefaultRandom(t *testing.T) {
	m := mustJSON(t, "token", "issue", "--decoder-key", seedDecoderKey, "--class", "0",
		"--subclass", "0", "--amount", "1", "--tid", "100")
	d := mustJSON(t, "token", "decode", "--decoder-key", seedDecoderKey,
		str(tokensOf(t, m)[0]["token"]))
	if str(d["rnd"]) != strconv.Itoa(testNibble) {
		t.Errorf("rnd %v, want the random source's %d", d["rnd"], testNibble)
	}
}

func TestIssueProcessRandomNibble(t *testing.T) {
	e := processEnv()
	for range 100 {
		if n := e.nibble(); n > 15 {
			t.Fatalf("nibble %d", n)
		}
	}
}

func TestIssueTable(t *testing.T) {
	o := vendor(t, "token", "issue", "--decoder-key", seedDecoderKey, "--ea", "07",
		"--class", "0", "--subclass", "0", "--amount", "10", "--tid", "6796195", "--rnd", "5")
	if o.code != 0 {
		t.Fatal(o.stderr)
	}
	j := mustJSON(t, "token", "issue", "--decoder-key", seedDecoderKey, "--ea", "07",
		"--class", "0", "--subclass", "0", "--amount", "10", "--tid", "6796195", "--rnd", "5")
	e := tokensOf(t, j)[0]
	tok := str(e["token"])
	grouped := tok[0:4] + "-" + tok[4:8] + "-" + tok[8:12] + "-" + tok[12:16] + "-" + tok[16:20]
	lines := strings.Split(strings.TrimSpace(o.stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("table has %d lines:\n%s", len(lines), o.stdout)
	}
	if f := strings.Fields(lines[0]); !cmp.Equal(f,
		[]string{"#", "TOKEN", "CLASS", "SUBCLASS", "TYPE", "BLOCK"}) {
		t.Errorf("header %q", lines[0])
	}
	if !strings.HasPrefix(lines[1], "1  "+grouped+"  0 ") ||
		!strings.HasSuffix(lines[1], str(e["block"])) {
		t.Errorf("row %q, want token %s and block %s", lines[1], grouped, e["block"])
	}
	// Columns line up: BLOCK starts at the same offset in header and row.
	if strings.Index(lines[0], "BLOCK") != strings.Index(lines[1], str(e["block"])) {
		t.Errorf("columns not aligned:\n%s", o.stdout)
	}
	if want := "STA tables: sample (" + sts.SampleFingerprint + ")"; lines[2] != want {
		t.Errorf("tables line %q, want %q", lines[2], want)
	}
}

// writeCustomTables writes a valid table set that is not the sample set.
func writeCustomTables(t *testing.T) string {
	t.Helper()
	set := sts.TableSet{
		S1: [16]uint8{12, 10, 8, 4, 3, 15, 0, 2, 14, 1, 5, 13, 6, 9, 7, 11},
		S2: [16]uint8{12, 10, 8, 4, 3, 15, 0, 2, 14, 1, 5, 13, 6, 9, 7, 11},
	}
	for i := range set.P {
		set.P[i] = uint8((i*5 + 3) % 64)
	}
	data, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tables.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestIssueSTATables(t *testing.T) {
	custom := writeCustomTables(t)
	issue := []string{"token", "issue", "--decoder-key", seedDecoderKey, "--class", "0",
		"--subclass", "0", "--amount", "10", "--tid", "6796195", "--rnd", "5"}
	sample := mustJSON(t, issue...)
	byFlag := mustJSON(t, append(issue, "--sta-tables", custom)...)
	t.Setenv(sts.TablesEnv, custom)
	byEnv := mustJSON(t, issue...)

	if byFlag["sta_tables"] != "custom" || byEnv["sta_tables"] != "custom" {
		t.Errorf("sta_tables flag %v env %v, want custom", byFlag["sta_tables"],
			byEnv["sta_tables"])
	}
	if d := cmp.Diff(byFlag, byEnv); d != "" {
		t.Errorf("flag and environment differ:\n%s", d)
	}
	ts, tc := tokensOf(t, sample)[0], tokensOf(t, byFlag)[0]
	if ts["block"] != tc["block"] || ts["token"] == tc["token"] {
		t.Errorf("tables must change the token, not the block: %v %v", ts, tc)
	}

	// Decoding under the custom tables succeeds; under the sample ones not.
	d := mustJSON(t, "token", "decode", "--decoder-key", seedDecoderKey, str(tc["token"]))
	if str(d["crc_ok"]) != "true" || d["sta_tables"] != "custom" {
		t.Errorf("decode under the custom tables: %v", d)
	}
	t.Setenv(sts.TablesEnv, "")
	d = mustJSON(t, "token", "decode", "--decoder-key", seedDecoderKey, str(tc["token"]))
	if str(d["crc_ok"]) != "false" {
		t.Errorf("decode under the sample tables: %v", d)
	}

	// EA11 does not use the tables and does not name them.
	m := mustJSON(t, "token", "issue", "--decoder-key", strings.Repeat("11", 16), "--class",
		"0", "--subclass", "0", "--amount", "1", "--tid", "1", "--sta-tables", custom)
	if _, ok := m["sta_tables"]; ok {
		t.Errorf("EA11 output names tables: %v", m)
	}
}

func TestIssueSTATablesErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"s1":[1,2,3]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	issue := []string{"token", "issue", "--decoder-key", seedDecoderKey, "--class", "0",
		"--subclass", "0", "--amount", "10", "--tid", "1"}
	mustFail(t, append(issue, "--sta-tables", bad), "--sta-tables", "s1")
	mustFail(t, append(issue, "--sta-tables", "/nonexistent/tables.json"), "--sta-tables")
	t.Setenv(sts.TablesEnv, bad)
	mustFail(t, issue, sts.TablesEnv)
}

func TestIssueErrors(t *testing.T) {
	key := []string{"--decoder-key", seedDecoderKey, "--ea", "07"}
	credit := append(append([]string{}, key...), "--class", "0", "--subclass", "0",
		"--amount", "10")
	mgmt := func(sub string, extra ...string) []string {
		return append(append(append([]string{}, key...), "--class", "2", "--subclass", sub,
			"--tid", "1"), extra...)
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"bad hex", []string{"--decoder-key", "D0686379ABAC1BCZ", "--class", "0", "--subclass",
			"0", "--amount", "1", "--tid", "1"}, []string{"--decoder-key", "hex"}},
		{"wrong key length", []string{"--decoder-key", seedDecoderKey, "--ea", "11", "--class",
			"0", "--subclass", "0", "--amount", "1", "--tid", "1"},
			[]string{"--decoder-key", "want 32", "--ea 11"}},
		{"key length unknown", []string{"--decoder-key", "D068637", "--class", "0",
			"--subclass", "0", "--amount", "1", "--tid", "1"}, []string{"--decoder-key"}},
		{"bad ea", []string{"--decoder-key", seedDecoderKey, "--ea", "09", "--class", "0",
			"--subclass", "0", "--amount", "1", "--tid", "1"}, []string{"--ea"}},
		{"missing tid and issued", credit, []string{"--tid", "--issued"}},
		{"tid and issued", append(credit, "--tid", "1", "--issued", "now"),
			[]string{"--tid", "--issued", "exclusive"}},
		{"issued past 2045-11-24 20:15 with base 2014",
			append(credit, "--issued", "2045-11-24T20:16", "--base-date", "2014"),
			[]string{"--issued", "2045-11-24 20:15", "2035"}},
		{"issued before base date", append(credit, "--issued", "2013-12-31T23:59"),
			[]string{"--issued", "before"}},
		{"issued garbage", append(credit, "--issued", "yesterday"), []string{"--issued"}},
		{"tid too large", append(credit, "--tid", "16777216"), []string{"--tid"}},
		{"bad base date", append(credit, "--issued", "now", "--base-date", "2000"),
			[]string{"--base-date"}},
		{"missing class", append(append([]string{}, key...), "--subclass", "0"),
			[]string{"--class"}},
		{"missing subclass", append(append([]string{}, key...), "--class", "0"),
			[]string{"--subclass"}},
		{"class 3", append(append([]string{}, key...), "--class", "3", "--subclass", "0"),
			[]string{"--class 3"}},
		{"class 4", append(append([]string{}, key...), "--class", "4", "--subclass", "0"),
			[]string{"--class"}},
		{"credit subclass 8", append(append([]string{}, key...), "--class", "0",
			"--subclass", "8", "--amount", "1", "--tid", "1"), []string{"--subclass 8"}},
		{"missing amount", append(append([]string{}, key...), "--class", "0", "--subclass",
			"0", "--tid", "1"), []string{"--amount"}},
		{"amount above maximum", append(append([]string{}, key...), "--class", "0",
			"--subclass", "0", "--amount", "1820162.5", "--tid", "1"),
			[]string{"--amount", "1820162.4 kWh"}},
		{"amount negative units", append(append([]string{}, key...), "--class", "0",
			"--subclass", "1", "--amount", "-1", "--tid", "1"), []string{"--amount"}},
		{"amount not a number", append(append([]string{}, key...), "--class", "0",
			"--subclass", "0", "--amount", "ten", "--tid", "1"), []string{"--amount"}},
		{"currency with rnd", append(append([]string{}, key...), "--class", "0",
			"--subclass", "4", "--amount", "1", "--tid", "1", "--rnd", "5"),
			[]string{"--rnd", "currency"}},
		{"rnd 16", append(credit, "--tid", "1", "--rnd", "16"), []string{"--rnd", "0 to 15"}},
		{"value on credit", append(credit, "--tid", "1", "--value", "1"), []string{"--value"}},
		{"ken expired", append(credit, "--tid", "5916090", "--ken", "85"),
			[]string{"--ken 85", "expired"}},
		{"value with subclass 5", mgmt("5", "--value", "1"), []string{"--value", "tamper"}},
		{"power limit without value", mgmt("0"), []string{"--value"}},
		{"power limit too large", mgmt("6", "--value", "18201625"), []string{"--value"}},
		{"register 8", mgmt("1", "--value", "8"), []string{"--value", "register"}},
		{"raw value 65536", mgmt("2", "--value", "65536"), []string{"--value"}},
		{"amount on management", mgmt("2", "--amount", "1"), []string{"--amount"}},
		{"key change subclass", mgmt("3"), []string{"--subclass 3", "key-change"}},
		{"management subclass 10", mgmt("10"), []string{"--subclass 10"}},
		{"missing key", []string{"--class", "0", "--subclass", "0", "--amount", "1", "--tid",
			"1"}, []string{"--decoder-key", "--vending-key"}},
		{"both keys", append(append(append([]string{}, credit...), seedIdentity...),
			"--tid", "1"), []string{"--decoder-key", "--vending-key", "exclusive"}},
		{"identity with decoder key", append(credit, "--tid", "1", "--sgc", "123456"),
			[]string{"--sgc", "--vending-key"}},
		{"dkga with decoder key", append(credit, "--tid", "1", "--dkga", "02"),
			[]string{"--dkga"}},
		{"one-step bad DRN check digit", append(append([]string{"--class", "0", "--subclass",
			"0", "--amount", "1", "--tid", "1"}, seedIdentity...), "--drn", "37194275247"),
			[]string{"--drn", "check digit"}},
		{"one-step missing krn", []string{"--vending-key", "0123456789ABCDEF", "--dkga", "02",
			"--drn", "37194275246", "--sgc", "123456", "--tariff-index", "07", "--key-type",
			"2", "--class", "0", "--subclass", "0", "--amount", "1", "--tid", "1"},
			[]string{"--krn", "required"}},
		{"one-step tariff index 100", append(append([]string{"--class", "0", "--subclass",
			"0", "--amount", "1", "--tid", "1"}, seedIdentity...), "--tariff-index", "100"),
			[]string{"--tariff-index"}},
		{"one-step krn 0", append(append([]string{"--class", "0", "--subclass", "0",
			"--amount", "1", "--tid", "1"}, seedIdentity...), "--krn", "0"),
			[]string{"--krn"}},
		{"control missing", []string{"--class", "1", "--subclass", "0"},
			[]string{"--control"}},
		{"control too wide", []string{"--class", "1", "--subclass", "1", "--control",
			"10000000"}, []string{"--control", "28 bits"}},
		{"control not hex", []string{"--class", "1", "--subclass", "0", "--control", "xyz"},
			[]string{"--control"}},
		{"mfr code 100 for 2 digits", []string{"--class", "1", "--subclass", "0",
			"--control", "1", "--mfr-code", "100"}, []string{"--mfr-code"}},
		{"tid on test token", []string{"--class", "1", "--subclass", "0", "--control", "1",
			"--tid", "1"}, []string{"--tid"}},
		{"test subclass 2", []string{"--class", "1", "--subclass", "2", "--control", "1"},
			[]string{"--subclass 2"}},
		{"positional argument", append(credit, "--tid", "1", "extra"),
			[]string{"unknown command"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustFail(t, append([]string{"token", "issue"}, tc.args...), tc.want...)
		})
	}
}
