package main

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// ciphers are a decoder key for each algorithm.
var ciphers = []struct{ ea, key string }{
	{"07", "D0686379ABAC1BC4"},
	{"11", "F94B6ED353C3BFDB113E2D3A7EA3C41D"},
}

// roundTrips are tokens to issue and the fields their decode must show.
// Expected amounts follow PROTOCOL.md §5 (2000.0 kWh decodes to 2000.4,
// 20 000 W to 20 004 W) and the currency vector (100 decodes to
// 100.00624).
var roundTrips = []struct {
	class, sub string
	flags      []string
	want       map[string]string
}{
	{"0", "0", []string{"--amount", "12.3"}, map[string]string{"amount": "12.3", "unit": "kWh",
		"amount_field": "007B"}},
	{"0", "0", []string{"--amount", "2000"}, map[string]string{"amount": "2000.4",
		"amount_field": "416A"}},
	{"0", "0", []string{"--amount", "0.01"}, map[string]string{"amount": "0.1"}},
	{"0", "1", []string{"--amount", "1638.4"}, map[string]string{"amount": "1638.4",
		"unit": "m3", "amount_field": "4000"}},
	{"0", "2", []string{"--amount", "1820162.4"}, map[string]string{"amount": "1820162.4",
		"unit": "m3", "amount_field": "FFFF"}},
	{"0", "3", []string{"--amount", "60"}, map[string]string{"amount": "60.0", "unit": "min"}},
	{"0", "4", []string{"--amount", "100"}, map[string]string{"amount": "100.00624",
		"unit": "currency", "se": "0", "amount_field": "DFF6"}},
	// 1 250 000 units: e=2, m=ceil((1250000-180224)/100)=10698, value
	// 10698·100+180224 = 1 250 024 (PROTOCOL.md §3.2), negative.
	{"0", "5", []string{"--amount", "-12.5"}, map[string]string{"amount": "-12.49924",
		"unit": "currency", "se": "8"}},
	{"0", "6", []string{"--amount", "0.00001"}, map[string]string{"amount": "0.00001",
		"unit": "currency"}},
	{"0", "7", []string{"--amount=-0.16383"}, map[string]string{"amount": "-0.16383",
		"amount_field": "3FFF"}},
	{"1", "0", []string{"--control", "123456789", "--mfr-code", "37"},
		map[string]string{"control": "123456789", "mfr_code": "37"}},
	{"1", "1", []string{"--control", "0xABCDEF1", "--mfr-code", "1234"},
		map[string]string{"control": "ABCDEF1", "mfr_code": "1234"}},
	{"2", "0", []string{"--value", "1000"}, map[string]string{"value": "1000", "unit": "W"}},
	{"2", "1", nil, map[string]string{"value": "65535"}},
	{"2", "1", []string{"--value", "3"}, map[string]string{"value": "3"}},
	{"2", "2", []string{"--value", "4660"}, map[string]string{"value": "4660"}},
	{"2", "5", nil, map[string]string{"value": "0"}},
	{"2", "6", []string{"--value", "20000"}, map[string]string{"value": "20004",
		"unit": "W"}},
	{"2", "7", []string{"--value", "65535"}, map[string]string{"value": "65535"}},
}

func TestIssueDecodeRoundTrip(t *testing.T) {
	for _, c := range ciphers {
		for i, rt := range roundTrips {
			name := fmt.Sprintf("ea%s/class%s/sub%s/%d", c.ea, rt.class, rt.sub, i)
			t.Run(name, func(t *testing.T) {
				args := []string{"token", "issue", "--class", rt.class, "--subclass", rt.sub}
				keyArgs := []string{"--decoder-key", c.key, "--ea", c.ea}
				want := map[string]string{"class": rt.class, "subclass": rt.sub,
					"crc_ok": "true"}
				if rt.class != "1" {
					args = append(append(args, keyArgs...), "--tid", "123456")
					want["tid"] = "123456"
					currency := rt.class == "0" && rt.sub >= "4"
					if !currency {
						args = append(args, "--rnd", "7")
						want["rnd"] = "7"
					}
				}
				for k, v := range rt.want {
					want[k] = v
				}
				issued := tokensOf(t, mustJSON(t, append(args, rt.flags...)...))[0]
				want["block"] = str(issued["block"])
				want["token"] = str(issued["token"])

				d := mustJSON(t, append([]string{"token", "decode", str(issued["token"])},
					keyArgs...)...)
				for k, v := range want {
					if got := str(d[k]); got != v {
						t.Errorf("decode %s = %s, want %s", k, got, v)
					}
				}
				if rt.class != "1" && c.ea == "07" && d["sta_tables"] != "sample" {
					t.Errorf("sta_tables = %v", d["sta_tables"])
				}
				if _, ok := d["encrypted"]; ok {
					t.Errorf("decoded token marked encrypted: %v", d)
				}
			})
		}
	}
}

// assembled rebuilds the values a decoded key change set carries.
type assembled struct {
	key                                 string
	ken, krn, keyType, tariffIndex, sgc int
	ro                                  bool
	sections                            []string
}

func decodeSet(t *testing.T, tokens []map[string]any, oldKey string) assembled {
	t.Helper()
	var a assembled
	parts := map[string]string{}
	sgcParts := map[string]int{}
	for _, e := range tokens {
		d := mustJSON(t, "token", "decode", "--strict", "--decoder-key", oldKey,
			str(e["token"]))
		sub := str(d["subclass"])
		a.sections = append(a.sections, sub)
		parts[sub] = str(d["key_part"])
		if d["block"] != e["block"] {
			t.Errorf("section %s: block %v, issued %v", sub, d["block"], e["block"])
		}
		switch sub {
		case "3":
			hi, _ := strconv.Atoi(str(d["ken_high"]))
			a.ken |= hi << 4
			a.krn, _ = strconv.Atoi(str(d["krn"]))
			a.keyType, _ = strconv.Atoi(str(d["key_type"]))
			a.ro = str(d["ro"]) == "true"
		case "4":
			lo, _ := strconv.Atoi(str(d["ken_low"]))
			a.ken |= lo
			a.tariffIndex, _ = strconv.Atoi(str(d["tariff_index"]))
		default:
			n, _ := strconv.ParseUint(str(d["sgc_part"]), 16, 12)
			sgcParts[sub] = int(n)
		}
	}
	// PROTOCOL.md §3.4: key = NKHO ‖ NKMO2 ‖ NKMO1 ‖ NKLO for 128 bits.
	a.key = parts["3"] + parts["8"] + parts["9"] + parts["4"]
	a.sgc = sgcParts["9"]<<12 | sgcParts["8"]
	return a
}

func TestKeyChangeRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name, ea, oldKey, newKey string
		sgc                      string
		want                     assembled
	}{
		{"64-bit", "07", "D0686379ABAC1BC4", "0123456789ABCDEF", "",
			assembled{ken: 0xA5, krn: 3, keyType: 1, tariffIndex: 42, ro: true,
				sections: []string{"3", "4"}}},
		{"128-bit", "11", "F94B6ED353C3BFDB113E2D3A7EA3C41D",
			"00112233445566778899AABBCCDDEEFF", "654321",
			assembled{ken: 0xA5, krn: 3, keyType: 1, tariffIndex: 42, ro: true, sgc: 654321,
				sections: []string{"3", "4", "8", "9"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"token", "key-change", "--decoder-key", tc.oldKey, "--ea", tc.ea,
				"--new-decoder-key", tc.newKey, "--ken", "165", "--krn", "3", "--key-type", "1",
				"--tariff-index", "42", "--ro"}
			if tc.sgc != "" {
				args = append(args, "--sgc", tc.sgc)
			}
			m := mustJSON(t, args...)
			if tc.ea == "07" && m["sta_tables"] != "sample" {
				t.Errorf("sta_tables = %v", m["sta_tables"])
			}
			got := decodeSet(t, tokensOf(t, m), tc.oldKey)
			want := tc.want
			want.key = tc.newKey
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("set carries %+v, want %+v", got, want)
			}
		})
	}
}

func TestKeyChangeVendingForm(t *testing.T) {
	derive := func(krn, ti string) string {
		m := mustJSON(t, "key", "derive", "--dkga", "02", "--vending-key", "0123456789ABCDEF",
			"--drn", "37194275246", "--sgc", "123456", "--tariff-index", ti, "--krn", krn,
			"--key-type", "2")
		return str(m["decoder_key"])
	}
	oldKey, newKey := derive("1", "07"), derive("2", "11")
	derived := mustJSON(t, append(append([]string{"token", "key-change"}, seedIdentity...),
		"--new-krn", "2", "--new-tariff-index", "11", "--ken", "200")...)
	given := mustJSON(t, "token", "key-change", "--decoder-key", oldKey,
		"--new-decoder-key", newKey, "--krn", "2", "--key-type", "2", "--tariff-index", "11",
		"--ken", "200")
	if fmt.Sprint(derived) != fmt.Sprint(given) {
		t.Errorf("vending form %v\ndecoder key form %v", derived, given)
	}
	got := decodeSet(t, tokensOf(t, derived), oldKey)
	want := assembled{key: newKey, ken: 200, krn: 2, keyType: 2, tariffIndex: 11,
		sections: []string{"3", "4"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("set carries %+v, want %+v", got, want)
	}

	// The --new-* twins stand in for the plain flags in the decoder key form.
	twins := mustJSON(t, "token", "key-change", "--decoder-key", oldKey,
		"--new-decoder-key", newKey, "--new-krn", "2", "--new-key-type", "2",
		"--new-tariff-index", "11", "--ken", "200")
	if fmt.Sprint(twins) != fmt.Sprint(given) {
		t.Errorf("--new-* flags %v\nplain flags %v", twins, given)
	}
}

func TestKeyChangeVendingFormDKGA04(t *testing.T) {
	const vk = "ABABABABABABABAB949494949494949401234567"
	identity := func(bd, sgc, kt, krn string) []string {
		return []string{"--vending-key", vk, "--dkga", "04", "--ea", "07", "--base-date", bd,
			"--drn", "00000000000", "--sgc", sgc, "--tariff-index", "01", "--krn", krn,
			"--key-type", kt}
	}
	derive := func(args []string) string {
		return str(mustJSON(t, append([]string{"key", "derive"}, args...)...)["decoder_key"])
	}
	oldKey := derive(identity("2014", "123457", "2", "4"))
	newKey := derive(identity("2035", "654321", "1", "5"))

	derived := mustJSON(t, append(append([]string{"token", "key-change"},
		identity("2014", "123457", "2", "4")...), "--new-base-date", "2035",
		"--new-sgc", "654321", "--new-key-type", "1", "--new-krn", "5", "--ro")...)
	got := decodeSet(t, tokensOf(t, derived), oldKey)
	want := assembled{key: newKey, ken: 255, krn: 5, keyType: 1, tariffIndex: 1, ro: true,
		sections: []string{"3", "4"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("set carries %+v, want %+v", got, want)
	}

	for _, bad := range [][]string{{"--new-key-type", "4"}, {"--new-sgc", "12"},
		{"--new-base-date", "2036"}} {
		mustFail(t, append(append([]string{"token", "key-change"},
			identity("2014", "123457", "2", "4")...), bad...), bad[0])
	}
}

func TestKeyChangeTable(t *testing.T) {
	o := vendor(t, "token", "key-change", "--decoder-key", "F94B6ED353C3BFDB113E2D3A7EA3C41D",
		"--new-decoder-key", "00112233445566778899AABBCCDDEEFF", "--krn", "2",
		"--key-type", "2", "--tariff-index", "01", "--sgc", "123457")
	if o.code != 0 {
		t.Fatal(o.stderr)
	}
	lines := strings.Split(strings.TrimSpace(o.stdout), "\n")
	if len(lines) != 5 {
		t.Fatalf("want a header and 4 rows, got:\n%s", o.stdout)
	}
	for i, name := range []string{"1st", "2nd", "3rd", "4th"} {
		if !strings.Contains(lines[i+1], "key change "+name+" section") {
			t.Errorf("row %d %q does not name the %s section", i+1, lines[i+1], name)
		}
	}
	if strings.Contains(o.stdout, "STA tables") {
		t.Errorf("EA11 set names STA tables:\n%s", o.stdout)
	}
}

func TestKeyChangeErrors(t *testing.T) {
	old07 := []string{"--decoder-key", "D0686379ABAC1BC4", "--ea", "07"}
	set07 := append(append([]string{}, old07...), "--new-decoder-key", "0123456789ABCDEF",
		"--krn", "2", "--key-type", "2", "--tariff-index", "07")
	set11 := []string{"--decoder-key", "F94B6ED353C3BFDB113E2D3A7EA3C41D", "--new-decoder-key",
		"00112233445566778899AABBCCDDEEFF", "--krn", "2", "--key-type", "2",
		"--tariff-index", "07"}
	with := func(base []string, extra ...string) []string {
		return append(append([]string{}, base...), extra...)
	}
	vending := with(seedIdentity, "--new-krn", "2")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"sgc with EA07", with(set07, "--sgc", "123456"), []string{"--sgc", "64-bit"}},
		{"new-sgc with EA07", with(set07, "--new-sgc", "123456"), []string{"--new-sgc"}},
		{"no sgc with EA11", set11, []string{"--sgc", "128-bit"}},
		{"sgc 7 digits", with(set11, "--sgc", "1234567"), []string{"--sgc"}},
		{"new key too long for EA07", with(old07, "--new-decoder-key",
			"00112233445566778899AABBCCDDEEFF", "--krn", "2", "--key-type", "2",
			"--tariff-index", "07"), []string{"--new-decoder-key", "want 16", "--ea 07"}},
		{"new key bad hex", with(old07, "--new-decoder-key", "0123456789ABCDEX", "--krn", "2",
			"--key-type", "2", "--tariff-index", "07"), []string{"--new-decoder-key", "hex"}},
		{"missing new key", with(old07, "--krn", "2", "--key-type", "2", "--tariff-index",
			"07"), []string{"--new-decoder-key"}},
		{"missing old key", []string{"--new-decoder-key", "0123456789ABCDEF", "--krn", "2",
			"--key-type", "2", "--tariff-index", "07"}, []string{"--decoder-key"}},
		{"krn 0", with(old07, "--new-decoder-key", "0123456789ABCDEF", "--krn", "0",
			"--key-type", "2", "--tariff-index", "07"), []string{"--krn", "1 to 9"}},
		{"missing krn", with(old07, "--new-decoder-key", "0123456789ABCDEF",
			"--key-type", "2", "--tariff-index", "07"), []string{"--krn", "required"}},
		{"krn and new-krn", with(set07, "--new-krn", "3"), []string{"--krn", "--new-krn"}},
		{"key type 4", with(old07, "--new-decoder-key", "0123456789ABCDEF", "--krn", "2",
			"--key-type", "4", "--tariff-index", "07"), []string{"--key-type"}},
		{"tariff index 100", with(old07, "--new-decoder-key", "0123456789ABCDEF", "--krn", "2",
			"--key-type", "2", "--tariff-index", "100"), []string{"--tariff-index"}},
		{"ken 256", with(set07, "--ken", "256"), []string{"--ken", "0 to 255"}},
		{"drn with decoder keys", with(set07, "--drn", "37194275246"),
			[]string{"--drn", "--vending-key"}},
		{"new base date with decoder keys", with(set07, "--new-base-date", "2035"),
			[]string{"--new-base-date"}},
		{"new key with vending key", with(vending, "--new-decoder-key", "0123456789ABCDEF"),
			[]string{"--new-decoder-key", "--new-krn"}},
		{"vending new-krn 0", with(seedIdentity, "--new-krn", "0"), []string{"--new-krn"}},
		{"vending new tariff 100", with(vending, "--new-tariff-index", "100"),
			[]string{"--new-tariff-index"}},
		{"vending bad DRN", with(vending, "--drn", "37194275240"), []string{"--drn"}},
		{"vending missing sgc", []string{"--vending-key", "0123456789ABCDEF", "--dkga", "02",
			"--drn", "37194275246", "--tariff-index", "07", "--krn", "1", "--key-type", "2"},
			[]string{"--sgc", "required"}},
		{"vending dkga04 without ea", []string{"--vending-key", strings.Repeat("AB", 20),
			"--dkga", "04", "--drn", "37194275246", "--sgc", "123456", "--tariff-index", "07",
			"--krn", "1", "--key-type", "2"}, []string{"--ea"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustFail(t, append([]string{"token", "key-change"}, tc.args...), tc.want...)
		})
	}
}

// TestKeyChangeVendingFormRefusesNoOps checks that a set which would change
// nothing, or move the base date outside a roll-over, is refused, while a
// same-key set carrying a new KEN or a roll-over is made.
func TestKeyChangeVendingFormRefusesNoOps(t *testing.T) {
	base := append([]string{"token", "key-change"}, seedIdentity...)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"nothing new", nil, "the set would change nothing"},
		{"base date without RO", []string{"--new-base-date", "2035"}, "add --ro"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := vendor(t, append(append([]string{}, base...), tc.args...)...)
			if o.code == 0 || !strings.Contains(o.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want an error with %q", o.code, o.stderr, tc.want)
			}
		})
	}
	for _, extra := range [][]string{{"--ken", "85"}, {"--ro", "--new-base-date", "2035"}} {
		mustJSON(t, append(append([]string{}, base...), extra...)...)
	}
}
