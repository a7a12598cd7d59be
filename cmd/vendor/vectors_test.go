package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stsfleet/stsfleet/protocol/sts"
)

// vector is one entry of testdata/vectors.json, a copy of the published
// vectors of the kinds these tests use.
type vector struct {
	Kind     string         `json:"kind"`
	Inputs   map[string]any `json:"inputs"`
	Expected map[string]any `json:"expected"`
	index    int
}

func (v vector) name() string { return fmt.Sprintf("%s_%02d", v.Kind, v.index) }

// loadVectors returns the vectors of the given kinds, failing if there are
// none.
func loadVectors(t *testing.T, kinds ...string) []vector {
	t.Helper()
	f, err := os.Open("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.UseNumber()
	var all []vector
	if err := dec.Decode(&all); err != nil {
		t.Fatal(err)
	}
	var out []vector
	for _, v := range all {
		for _, k := range kinds {
			if v.Kind == k {
				v.index = len(out)
				out = append(out, v)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no vectors of kinds %v", kinds)
	}
	return out
}

// panParts splits an 18-digit MeterPAN into IIN and DRN.
func panParts(pan string) (iin, drn string) {
	if strings.HasPrefix(pan, "0000") {
		return "0000", pan[4:17]
	}
	return pan[:6], pan[6:17]
}

var issueTimeRE = regexp.MustCompile(`^(\d\d)/(\d\d)/(\d{4}) (\d\d):(\d\d):\d\d \(base (\d{4})`)

// issuedArgs turns a vector's "01/03/2004 13:00:00 (base 1993)" into
// --issued and --base-date flags.
func issuedArgs(t *testing.T, s string) []string {
	t.Helper()
	m := issueTimeRE.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("issue time %q not understood", s)
	}
	return []string{"--issued", fmt.Sprintf("%s-%s-%sT%s:%s", m[3], m[2], m[1], m[4], m[5]),
		"--base-date", m[6]}
}

// vendingArgs turns a vector's decoder_key_derivation into the flags of the
// one-step vending key form.
func vendingArgs(d map[string]any) []string {
	iin, drn := panParts(str(d["meter_pan"]))
	args := []string{"--vending-key", str(d["vending_key_hex"]), "--dkga", str(d["dkga"]),
		"--drn", drn, "--iin", iin, "--sgc", str(d["sgc"]),
		"--tariff-index", str(d["tariff_index"]), "--krn", str(d["krn"]),
		"--key-type", str(d["key_type"])}
	if ea, ok := d["ea"]; ok {
		args = append(args, "--ea", str(ea))
	}
	return args
}

// checkToken compares an issued token entry with a vector's expectation.
func checkToken(t *testing.T, got map[string]any, v vector, class, sub int) {
	t.Helper()
	want := map[string]any{"token": v.Expected["token_20"], "block": v.Expected["data_block_hex"],
		"class": str(class), "subclass": str(sub)}
	have := map[string]any{"token": got["token"], "block": got["block"],
		"class": str(got["class"]), "subclass": str(got["subclass"])}
	if d := cmp.Diff(want, have); d != "" {
		t.Errorf("token (-want +got):\n%s", d)
	}
}

func TestIssueMISTY1CreditVectors(t *testing.T) {
	for _, v := range loadVectors(t, "token_transfer_credit_misty1") {
		in := v.Inputs
		sub, _ := strconv.Atoi(str(in["subclass"]))
		common := []string{"token", "issue", "--class", "0", "--subclass", str(sub),
			"--amount", str(in["amount"]), "--rnd", str(in["rnd"])}
		t.Run(v.name(), func(t *testing.T) {
			forms := map[string][]string{
				"tid": {"--decoder-key", str(in["decoder_key_hex"]), "--ea", "11",
					"--tid", str(in["tid"])},
				"issued": append([]string{"--decoder-key", str(in["decoder_key_hex"])},
					issuedArgs(t, str(in["issue_time"]))...),
				"vending key": append(vendingArgs(in["decoder_key_derivation"].(map[string]any)),
					issuedArgs(t, str(in["issue_time"]))...),
			}
			for name, extra := range forms {
				t.Run(name, func(t *testing.T) {
					m := mustJSON(t, append(append([]string{}, common...), extra...)...)
					if _, ok := m["sta_tables"]; ok {
						t.Errorf("EA11 output names STA tables: %v", m)
					}
					checkToken(t, tokensOf(t, m)[0], v, 0, sub)
				})
			}
		})
	}
}

// misty1Sets are the key change sets behind the token_key_change_misty1
// vectors: the old and new keys and the values each set carries (KEN 255,
// key type 2, SGC 123457 in all).
var misty1Sets = []struct {
	name, oldKey, newKey string
	krn, ti              string
	ro                   bool
	// vending holds the identity flags that derive both keys.
	vending []string
}{
	{
		name: "tariff 02", oldKey: "F94B6ED353C3BFDB113E2D3A7EA3C41D",
		newKey: "B208834372EF892EF6E04C28593090D4", krn: "1", ti: "02",
		vending: []string{"--drn", "00000000000", "--new-tariff-index", "02"},
	},
	{
		name: "roll-over to 2014", oldKey: "F94B6ED353C3BFDB113E2D3A7EA3C41D",
		newKey: "1D7B719AE4730402C3B45E18E23FF59D", krn: "4", ti: "02", ro: true,
		vending: []string{"--drn", "00000000000", "--new-tariff-index", "02",
			"--new-krn", "4", "--new-base-date", "2014", "--ro"},
	},
	{
		name: "13-digit DRN", oldKey: "290E2626F5A0D106AAD1AAB6411589DF",
		newKey: "1380E4D75F34C82D2D02138C9A4A2FCB", krn: "1", ti: "02",
		vending: []string{"--drn", "0100000000008", "--iin", "0000",
			"--new-tariff-index", "02"},
	},
}

func TestKeyChangeMISTY1Vectors(t *testing.T) {
	vectors := loadVectors(t, "token_key_change_misty1")
	for _, set := range misty1Sets {
		t.Run(set.name, func(t *testing.T) {
			hexForm := []string{"token", "key-change", "--decoder-key", set.oldKey,
				"--ea", "11", "--new-decoder-key", set.newKey, "--ken", "255",
				"--krn", set.krn, "--key-type", "2", "--tariff-index", set.ti, "--sgc", "123457"}
			if set.ro {
				hexForm = append(hexForm, "--ro")
			}
			vendingForm := append([]string{"token", "key-change", "--vending-key",
				"ABABABABABABABAB949494949494949401234567", "--dkga", "04", "--ea", "11",
				"--base-date", "1993", "--sgc", "123457", "--tariff-index", "01", "--krn", "1",
				"--key-type", "2"}, set.vending...)

			given := tokensOf(t, mustJSON(t, hexForm...))
			derived := tokensOf(t, mustJSON(t, vendingForm...))
			if len(given) != 4 {
				t.Fatalf("a 128-bit set has %d tokens, want 4", len(given))
			}
			if d := cmp.Diff(given, derived); d != "" {
				t.Errorf("vending key form differs from decoder key form (-hex +vending):\n%s", d)
			}
			matched := 0
			for _, v := range vectors {
				if str(v.Inputs["encrypting_decoder_key_hex"]) != set.oldKey ||
					str(v.Inputs["new_decoder_key_hex"]) != set.newKey {
					continue
				}
				sub, _ := strconv.Atoi(str(v.Inputs["subclass"]))
				// Entry order: sub-classes 3, 4, 8, 9.
				pos := map[int]int{3: 0, 4: 1, 8: 2, 9: 3}[sub]
				checkToken(t, given[pos], v, 2, sub)
				matched++
			}
			if matched == 0 {
				t.Fatal("no vector matches this set")
			}
		})
	}
}

func TestClass1Vectors(t *testing.T) {
	for _, v := range loadVectors(t, "token_class1_test_display") {
		in := v.Inputs
		sub, _ := strconv.Atoi(str(in["subclass"]))
		control := str(in["control36_hex"])
		if sub == 1 {
			control = str(in["control28_hex"])
		}
		t.Run(v.name(), func(t *testing.T) {
			m := mustJSON(t, "token", "issue", "--class", "1", "--subclass", str(sub),
				"--control", control, "--mfr-code", str(in["mfr_code"]))
			checkToken(t, tokensOf(t, m)[0], v, 1, sub)

			d := mustJSON(t, "token", "decode", str(v.Expected["token_20"]))
			want := map[string]any{"control": control, "mfr_code": str(in["mfr_code"]),
				"crc_ok": "true", "block": v.Expected["data_block_hex"]}
			got := map[string]any{"control": d["control"], "mfr_code": str(d["mfr_code"]),
				"crc_ok": str(d["crc_ok"]), "block": d["block"]}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("decode (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSTASampleWorkedExample(t *testing.T) {
	v := loadVectors(t, "sta_encrypt_sample_tables")[0]
	// PROTOCOL.md §6: the block is class 0, sub-class 0, RND 0xB,
	// TID 0x19EB23, amount field 0x0100 (25.6 kWh).
	m := mustJSON(t, "token", "issue", "--decoder-key", str(v.Inputs["decoder_key_hex"]),
		"--ea", "07", "--class", "0", "--subclass", "0", "--rnd", "11",
		"--tid", strconv.Itoa(0x19EB23), "--amount", "25.6")
	got := tokensOf(t, m)[0]
	if got["token"] != v.Expected["token_20"] || got["block"] != v.Inputs["data_block_hex"] {
		t.Errorf("got token %v block %v, want %v %v", got["token"], got["block"],
			v.Expected["token_20"], v.Inputs["data_block_hex"])
	}
	if m["sta_tables"] != "sample" {
		t.Errorf("sta_tables = %v, want sample", m["sta_tables"])
	}
}

func TestTIDVectors(t *testing.T) {
	for _, v := range loadVectors(t, "tid") {
		issued := strings.Replace(str(v.Inputs["issue_time"]), " ", "T", 1)
		base := str(v.Inputs["base_date"])[:4]
		t.Run(v.name(), func(t *testing.T) {
			m := mustJSON(t, "token", "issue", "--decoder-key", strings.Repeat("5A", 16),
				"--class", "0", "--subclass", "0", "--amount", "1", "--issued", issued,
				"--base-date", base)
			d := mustJSON(t, "token", "decode", "--decoder-key", strings.Repeat("5A", 16),
				"--base-date", base, str(tokensOf(t, m)[0]["token"]))
			if str(d["tid"]) != str(v.Expected["tid"]) {
				t.Errorf("tid = %v, want %v", d["tid"], v.Expected["tid"])
			}
			if want := issued + ":00Z"; d["issued"] != want {
				t.Errorf("issued = %v, want %s", d["issued"], want)
			}
		})
	}
}

// productionArgs returns the flag selecting the production tables, and
// whether they were given (in $STSFLEET_STA_TABLES when the tests started).
func productionArgs(t *testing.T) ([]string, bool) {
	if productionTables == "" {
		return nil, false
	}
	tables, err := sts.LoadTables(productionTables)
	if err != nil {
		t.Fatalf("production tables: %v", err)
	}
	if tables.Name() != "production" {
		t.Fatalf("%s holds the %s tables, not the production set", productionTables,
			tables.Name())
	}
	return []string{"--sta-tables", productionTables}, true
}

var wattsRE = regexp.MustCompile(`(\d+) W$`)

// staIssueArgs builds the issue flags of an STA credit or management
// vector; amounts and power limits come from the vector's stated request.
func staIssueArgs(v vector) []string {
	in := v.Inputs
	class, sub := str(in["token_class"]), str(in["subclass"])
	args := []string{"token", "issue", "--decoder-key", str(in["decoder_key_hex"]), "--ea", "07",
		"--class", class, "--subclass", sub, "--tid", str(in["tid"]), "--rnd", str(in["rnd"])}
	field, _ := strconv.ParseUint(str(in["field16_hex"]), 16, 16)
	switch {
	case class == "0" && in["amount_units_0_1"] != nil:
		units, _ := strconv.ParseUint(str(in["amount_units_0_1"]), 10, 64)
		args = append(args, "--amount", sts.FormatDecimal(units, 1))
	case class == "0":
		args = append(args, "--amount", sts.FormatDecimal(sts.DecodeAmount(uint16(field)), 1))
	case sub == "0":
		m := wattsRE.FindStringSubmatch(str(in["description"]))
		args = append(args, "--value", m[1])
	case sub == "1":
		args = append(args, "--value", strconv.FormatUint(field, 10))
	}
	return args
}

// staKeyChangeArgs builds the key-change flags of an STA key change vector.
func staKeyChangeArgs(v vector) []string {
	in := v.Inputs
	newKey, _ := in["new_key"].(map[string]any)
	if newKey == nil {
		newKey = in["key"].(map[string]any)
	}
	nk := str(in["new_decoder_key_hex"])
	if in["new_decoder_key_hex"] == nil {
		nk = str(in["encrypting_decoder_key_hex"])
	}
	ken := "255"
	if in["ken"] != nil {
		ken = str(in["ken"])
	}
	args := []string{"token", "key-change", "--decoder-key", str(in["encrypting_decoder_key_hex"]),
		"--ea", "07", "--new-decoder-key", nk, "--ken", ken, "--krn", str(newKey["krn"]),
		"--key-type", str(newKey["key_type"]), "--tariff-index", str(newKey["tariff_index"])}
	if strings.Contains(str(in["fields"]), "RO=1") {
		args = append(args, "--ro")
	}
	return args
}

// TestSTAVectors checks the blocks of the STA vectors, which do not depend
// on the tables, and their tokens when production tables are given.
func TestSTAVectors(t *testing.T) {
	prod, haveProd := productionArgs(t)
	for _, v := range loadVectors(t, "token_transfer_credit_sta", "token_class2_sta",
		"token_key_change_sta") {
		t.Run(v.name(), func(t *testing.T) {
			args := staIssueArgs
			if v.Kind == "token_key_change_sta" {
				args = staKeyChangeArgs
			}
			sub, _ := strconv.Atoi(str(v.Inputs["subclass"]))
			pick := func(m map[string]any) map[string]any {
				for _, e := range tokensOf(t, m) {
					if str(e["subclass"]) == strconv.Itoa(sub) {
						return e
					}
				}
				t.Fatalf("no sub-class %d token in %v", sub, m)
				return nil
			}
			got := pick(mustJSON(t, args(v)...))
			if got["block"] != v.Expected["data_block_hex"] {
				t.Errorf("block %v, want %v", got["block"], v.Expected["data_block_hex"])
			}
			t.Run("token", func(t *testing.T) {
				if !haveProd {
					t.Skip("production STA tables not given in $" + sts.TablesEnv)
				}
				m := mustJSON(t, append(args(v), prod...)...)
				if m["sta_tables"] != "production" {
					t.Errorf("sta_tables = %v", m["sta_tables"])
				}
				if e := pick(m); e["token"] != v.Expected["token_20"] {
					t.Errorf("token %v, want %v", e["token"], v.Expected["token_20"])
				}
			})
		})
	}
}

func TestDecodeCurrencyVector(t *testing.T) {
	prod, ok := productionArgs(t)
	if !ok {
		t.Skip("production STA tables not given in $" + sts.TablesEnv)
	}
	v := loadVectors(t, "token_decode_currency_sta")[0]
	d := mustJSON(t, append([]string{"token", "decode", "--decoder-key",
		str(v.Inputs["decoder_key_hex"]), str(v.Inputs["token_20"])}, prod...)...)
	want := map[string]any{"subclass": "4", "tid": "6680788", "amount_field": "DFF6",
		"crc_ok": "true", "amount": "100.00624", "block": v.Expected["data_block_hex"]}
	got := map[string]any{}
	for k := range want {
		got[k] = str(d[k])
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
