package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A MISTY1 vector token: class 0, sub-class 1 (water), 2000.0 m3 requested,
// field 0x416A (PROTOCOL.md §5: decodes to 2000.4), TID 5915565, base 1993.
const (
	waterToken = "72478269627942954182"
	waterKey   = "F94B6ED353C3BFDB113E2D3A7EA3C41D"
	waterBlock = "155A43AD416A75D2"
)

func TestDecodeCredit(t *testing.T) {
	got := mustJSON(t, "token", "decode", "--decoder-key", waterKey, "--ea", "11",
		"--base-date", "1993", waterToken)
	want := map[string]any{"token": waterToken, "class": "0", "subclass": "1",
		"type": "water credit", "block": waterBlock, "crc_ok": "true", "tid": "5915565",
		"issued": "2004-04-01T00:45:00Z", "rnd": "5", "amount_field": "416A",
		"amount": "2000.4", "unit": "m3"}
	have := map[string]any{}
	for k, v := range got {
		have[k] = str(v)
	}
	if d := cmp.Diff(want, have); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestDecodeWithoutKey(t *testing.T) {
	got := mustJSON(t, "token", "decode", waterToken)
	want := map[string]any{"token": waterToken, "class": "0", "encrypted": "true"}
	have := map[string]any{}
	for k, v := range got {
		have[k] = str(v)
	}
	if d := cmp.Diff(want, have); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}

	o := vendor(t, "token", "decode", waterToken)
	if o.code != 0 || !regexp.MustCompile(`(?m)^encrypted +yes`).MatchString(o.stdout) {
		t.Errorf("table without key: exit %d\n%s", o.code, o.stdout)
	}
	mustFail(t, []string{"token", "decode", "--strict", waterToken}, "--strict",
		"--decoder-key")
	mustFail(t, []string{"token", "decode", "--ea", "11", waterToken}, "--ea")
}

func TestDecodeWrongKey(t *testing.T) {
	wrong := strings.Repeat("00", 16)
	got := mustJSON(t, "token", "decode", "--decoder-key", wrong, waterToken)
	if str(got["crc_ok"]) != "false" {
		t.Errorf("crc_ok = %v under the wrong key", got["crc_ok"])
	}

	o := vendor(t, "token", "decode", "--decoder-key", wrong, "--strict", "--json", waterToken)
	if o.code != 1 {
		t.Errorf("--strict with a failed CRC: exit %d, want 1", o.code)
	}
	if m := decodeObject(t, o.stdout); str(m["crc_ok"]) != "false" {
		t.Errorf("--strict still prints the result; got %v", m)
	}
	if !strings.Contains(o.stderr, "--strict") || !strings.Contains(o.stderr, "crc") {
		t.Errorf("stderr %q", o.stderr)
	}

	if o := vendor(t, "token", "decode", "--decoder-key", waterKey, "--strict",
		waterToken); o.code != 0 {
		t.Errorf("--strict with the right key: exit %d %s", o.code, o.stderr)
	}
}

func TestDecodeTokenForms(t *testing.T) {
	want := mustJSON(t, "token", "decode", waterToken)
	for _, args := range [][]string{
		{"7247-8269-6279-4295-4182"},
		{"7247", "8269", "6279", "4295", "4182"},
		{"7247 8269 6279 4295 4182"},
	} {
		got := mustJSON(t, append([]string{"token", "decode"}, args...)...)
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%q (-want +got):\n%s", args, d)
		}
	}
}

func TestDecodeClass3(t *testing.T) {
	// Class bits 28..27 = 11 with everything else zero: 3<<27.
	got := mustJSON(t, "token", "decode", "00000000000402653184")
	if str(got["class"]) != "3" || got["type"] != "reserved" {
		t.Errorf("class 3 token: %v", got)
	}
	if _, ok := got["crc_ok"]; ok {
		t.Errorf("a reserved class has no check: %v", got)
	}
	mustFail(t, []string{"token", "decode", "--strict", "00000000000402653184"}, "--strict")
}

func TestDecodeKeyChangeTable(t *testing.T) {
	// token_key_change_misty1: 1st section, KENHO F, KRN 1, RO 0, KT 2.
	o := vendor(t, "token", "decode", "--decoder-key", waterKey, "34812744915211133004")
	if o.code != 0 {
		t.Fatal(o.stderr)
	}
	for _, re := range []string{`(?m)^subclass +3 \(key change 1st section\)$`,
		`(?m)^ken_high +15$`, `(?m)^krn +1$`, `(?m)^ro +false$`, `(?m)^key_type +2 \(DUTK\)$`,
		`(?m)^key_part +B2088343$`, `(?m)^crc_ok +true$`} {
		if !regexp.MustCompile(re).MatchString(o.stdout) {
			t.Errorf("table does not match %s:\n%s", re, o.stdout)
		}
	}
	if strings.Contains(o.stdout, "tid") {
		t.Errorf("key change sections carry no TID:\n%s", o.stdout)
	}
}

func TestDecodeCreditTable(t *testing.T) {
	o := vendor(t, "token", "decode", "--decoder-key", waterKey, "--base-date", "1993",
		waterToken)
	if o.code != 0 {
		t.Fatal(o.stderr)
	}
	for _, re := range []string{`(?m)^token +7247-8269-6279-4295-4182$`,
		`(?m)^class +0 \(credit\)$`, `(?m)^tid +5915565 \(2004-04-01 00:45 UTC, base 1993\)$`,
		`(?m)^amount +2000.4 m3$`} {
		if !regexp.MustCompile(re).MatchString(o.stdout) {
			t.Errorf("table does not match %s:\n%s", re, o.stdout)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no token", nil, []string{"arg"}},
		{"19 digits", []string{"7247826962794295418"}, []string{"token", "19 digits"}},
		{"letter", []string{"7247826962794295418x"}, []string{"token", "not a digit"}},
		{"above 2^66", []string{"73786976294838206464"}, []string{"token", "2^66"}},
		{"bad key", []string{"--decoder-key", "XYZ", waterToken}, []string{"--decoder-key"}},
		{"wrong key length", []string{"--decoder-key", waterKey, "--ea", "07", waterToken},
			[]string{"--decoder-key", "want 16"}},
		{"bad base date", []string{"--base-date", "1990", waterToken},
			[]string{"--base-date"}},
		{"identity with decoder key", []string{"--decoder-key", waterKey, "--krn", "1",
			waterToken}, []string{"--krn"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustFail(t, append([]string{"token", "decode"}, tc.args...), tc.want...)
		})
	}
}

func TestDecodeWithVendingKey(t *testing.T) {
	// Same token, key derived in the call (vectors.json dkga04, base 93).
	got := mustJSON(t, "token", "decode", "--vending-key",
		"ABABABABABABABAB949494949494949401234567", "--dkga", "04", "--ea", "11",
		"--base-date", "1993", "--drn", "00000000000", "--sgc", "123457",
		"--tariff-index", "01", "--krn", "1", "--key-type", "2", waterToken)
	if str(got["crc_ok"]) != "true" || got["amount"] != "2000.4" {
		t.Errorf("decode with vending key: %v", got)
	}
}
