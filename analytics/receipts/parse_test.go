package receipts

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func parseText(lines ...string) Receipt {
	return Parse(Message{Line: 1, Parts: 1, Lines: lines})
}

const (
	okMeter  = "53348390344"
	okToken  = "0317-5562-9048-1126-7735"
	okDigits = "03175562904811267735"
	kplcTail = " Date:20230513 19:13 Units:2.36 Amt:50.00 TknAmt:28.91 OtherCharges:21.09" +
		" For Details dial *977#"
)

// legacyBody is the fixture's line 71 without its labels, which the cases
// spell in different ways.
func legacy(labels ...string) string {
	values := []string{"296.88", "80.42", "30.06", "1.50", "0.94", "8.83", "14.84", "66.53"}
	var b strings.Builder
	b.WriteString("Mtr:42763652437 Token:2241-6608-3375-9902-1147 Date:20221015 18:44 " +
		"Units:18.79 Amt:500.00")
	for i, l := range labels {
		b.WriteString(" " + l + ":" + values[i])
	}
	return b.String()
}

func TestParseVariants(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		// want lists the report columns to check; others are not looked at.
		want map[string]string
	}{
		{"classic", []string{"Mtr:" + okMeter + " Token:" + okToken + kplcTail},
			map[string]string{"status": "accept", "variant": "ke_kplc_2023", "token": okDigits,
				"amount": "50.00", "currency": "KES", "other_charges": "21.09",
				"timestamp": "2023-05-13T19:13:00+03:00", "ts_source": "date_field"}},
		{"currency prefix and offset", []string{"Mtr:" + okMeter + " Token:" + okToken +
			" Date:20230513 19:13 +0100 Units:2.36 Amt:KSh 50.00 TknAmt:KES28.91" +
			" OtherCharges:21.09 For Details dial *977#"},
			map[string]string{"status": "accept", "amount": "50.00", "token_amount": "28.91",
				"timestamp": "2023-05-13T19:13:00+01:00"}},
		{"multi-line", strings.Fields("Mtr:" + okMeter + " Token:" + okToken +
			" Units:2.36 Amt:50.00 TknAmt:28.91 OtherCharges:21.09"),
			map[string]string{"status": "reject", "variant": "ke_kplc_2023_multiline",
				"reason": "truncated: Date missing"}},
		{"legacy labels in any case and synonyms",
			[]string{legacy("tknamt", "fuelcost", "FERFA", "epra", "warma", "ia", "rep", "vat")},
			map[string]string{"status": "accept", "variant": "ke_kplc_legacy",
				"fuel_energy": "80.42", "forex": "30.06", "epra": "1.50", "wra": "0.94",
				"inflation_adj": "8.83", "rep": "14.84", "vat": "66.53",
				"other_charges": "203.12"}},
		{"legacy unknown charge counted",
			[]string{strings.Replace(legacy("TknAmt", "FCChg", "ForexChg", "EPRAChg", "WRAChg",
				"InflAdj", "REPChg", "VAT"), "Amt:500.00", "Amt:501.25", 1) + " StreetChg:1.25"},
			map[string]string{"status": "accept", "other_charges": "204.37",
				"warnings": "unknown charge StreetChg:1.25 counted in OtherCharges; " +
					"itemised charges; OtherCharges derived as their sum"}},
		{"legacy sum off", []string{strings.Replace(legacy("TknAmt", "FCChg", "ForexChg",
			"EPRAChg", "WRAChg", "InflAdj", "REPChg", "VAT"), "Amt:500.00", "Amt:500.50", 1)},
			map[string]string{"status": "reject", "reason": "Amt 500.50 is not TknAmt 296.88 + " +
				"charges 203.12 (off by 0.50)"}},
		{"unknown pair kept", []string{"Mtr:" + okMeter + " Token:" + okToken + " Xyz:AB12" +
			kplcTail},
			map[string]string{"status": "accept", "warnings": "unknown field Xyz:AB12 kept"}},
		{"missing fields with trailer", []string{"Mtr:" + okMeter + " Token:" + okToken +
			" Units:2.36 For Details dial *977#"},
			map[string]string{"status": "reject", "reason": "Date, Amt and TknAmt missing",
				"meter": okMeter, "token": okDigits}},
		{"three decimals", []string{"Mtr:" + okMeter + " Token:" + okToken +
			strings.Replace(kplcTail, "Units:2.36", "Units:2.365", 1)},
			map[string]string{"status": "reject", "reason": `Units "2.365" is not a number`}},
		{"bad clock time", []string{"Mtr:" + okMeter + " Token:" + okToken +
			strings.Replace(kplcTail, "19:13", "25:13", 1)},
			map[string]string{"status": "reject", "reason": "Date 25:13:00 is not a clock time"}},
		{"token with a letter", []string{"Mtr:" + okMeter + " Token:0317-5562-9048-1126-773X" +
			kplcTail},
			map[string]string{"status": "reject", "token": "",
				"reason": "token has characters that are not digits"}},
		{"meter with a letter", []string{"Mtr:5334839034X Token:" + okToken + kplcTail},
			map[string]string{"status": "reject", "meter": "", "token": okDigits,
				"reason": `meter number "5334839034X" has characters that are not digits`}},
		{"label twice", []string{"Mtr:" + okMeter + " Token:" + okToken + " Token:" + okToken +
			kplcTail},
			map[string]string{"status": "reject", "reason": "label Token appears twice"}},
		{"key change without update code", []string{"Update Token Meter Yako: Meter " +
			"Number:70360453107 Step1: Enter Reset code: 3318-0042-7765-9120-4436 Step3: Enter " +
			"Electricity token: 4402-7719-0386-5524-1178 Units:5.0 Amt:100.00 TknAmt:61.11 " +
			"For Details dial *977#"},
			map[string]string{"status": "reject", "kind": "key_change_credit",
				"reason": "update code missing"}},
		{"key change paying more than the amount", []string{"Update Token Meter Yako: Meter " +
			"Number:70360453107 Step1: Enter Reset code: 3318-0042-7765-9120-4436 Step2: Enter " +
			"update code: 0915-6637-2204-8871-5093 Step3: Enter Electricity token: " +
			"4402-7719-0386-5524-1178 Units:5.0 Amt:100.00 TknAmt:161.11 For Details dial *977#"},
			map[string]string{"status": "reject",
				"reason": "TknAmt 161.11 is more than Amt 100.00"}},
		{"LUKU with one token", []string{"TANESCO LUKU Mita:10122996175 Tokeni 1: 5520 1183 0947 " +
			"6612 3308 KWH 21.3 TSH 10,000.00 Tarehe 12/06/2024 14:05"},
			map[string]string{"status": "accept", "kind": "credit", "token": "55201183094766123308",
				"kct1": "", "currency": "TZS", "amount": "10000.00"}},
		{"LUKU with two tokens", []string{"TANESCO LUKU Mita:10122996175 Tokeni 1: 5520 1183 " +
			"0947 " +
			"6612 3308 Tokeni 2: 0093 7741 2265 5810 4427 KWH 21.3 TSH 10,000.00"},
			map[string]string{"status": "reject", "reason": "two numbered tokens: want one, or " +
				"three with the key-change codes first"}},
		{"currency that does not fit", []string{"Prepaid Electricity Meter:86321246315 " +
			"Token:3120 4471 0089 2231 6654 Units:38.6kWh Amount:N100.00 Date:2024-03-05 18:22"},
			map[string]string{"status": "reject", "variant": "za_receipt",
				"reason": "Amount is in NGN, not ZAR"}},
		{"vend receipt without meter", []string{"IKEDC Prepaid Token: 1854-0037-6629-4410-2285 " +
			"Units: 45.3kWh Amount: N5,000.00 Date: 05/04/2024 10:15"},
			map[string]string{"status": "reject", "reason": "no meter number in the message",
				"token": "18540037662944102285"}},
		{"vend receipt without date or header", []string{"IKEDC Prepaid Token: " +
			"1854-0037-6629-4410-2285 Meter: 4591626080711 Units: 45.3kWh Amount: N5,000.00"},
			map[string]string{"status": "accept", "ts_source": "none", "timestamp": "",
				"warnings": "no Date field and no header: timestamp unknown"}},
		{"token-like text", []string{"Your code is 1234 5678 9012 3456 7890, keep it"},
			map[string]string{"status": "reject", "variant": "unknown",
				"reason": "unrecognised receipt layout"}},
		{"chat message", []string{"See you at 5"},
			map[string]string{"status": "skip", "variant": "unknown", "kind": "fragment"}},
		{"payment to a bad account", []string{"SBK7H2M9PL Confirmed. Ksh100.00 sent to KPLC " +
			"PREPAID for account 5334839034 on 3/2/25 at 11:28 AM"},
			map[string]string{"status": "skip", "kind": "payment", "meter": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parseText(tt.lines...)
			got := recordMap(&r)
			for col, want := range tt.want {
				if got[col] != want {
					t.Errorf("%s = %q, want %q", col, got[col], want)
				}
			}
		})
	}
}

func recordMap(r *Receipt) map[string]string {
	rec := r.Record()
	m := make(map[string]string, len(rec))
	for i, name := range Columns {
		m[name] = rec[i]
	}
	return m
}

// TestRejectKeepsOnlyIdentity checks FORMATS.md §5.3: a rejected row keeps
// only its meter and token.
func TestRejectKeepsOnlyIdentity(t *testing.T) {
	r := parseText("Mtr:" + okMeter + " Token:" + okToken +
		strings.Replace(kplcTail, "Amt:50.00", "Amt:51.00", 1))
	if r.Status != StatusReject {
		t.Fatalf("status %s, want reject", r.Status)
	}
	want := map[string]bool{"line": true, "status": true, "reason": true, "variant": true,
		"kind": true, "meter": true, "token": true}
	for col, v := range recordMap(&r) {
		if v != "" && !want[col] {
			t.Errorf("rejected row keeps %s = %q", col, v)
		}
	}
}

func TestParseMessageProblemRejects(t *testing.T) {
	m := Message{Line: 7, Parts: 1, Lines: []string{"Mtr:" + okMeter + " Token:" + okToken +
		kplcTail}, Problem: &Problem{Code: CodeEncoding, Text: "line 7 is not valid UTF-8"}}
	r := Parse(m)
	if r.Status != StatusReject || r.Code != CodeEncoding || r.Token != okDigits {
		t.Errorf("got %s %s token %q, want reject %s with the token kept", r.Status, r.Code,
			r.Token, CodeEncoding)
	}
}

func TestDecimal(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"0", "0.00", false}, {"5", "5.00", false}, {"2.4", "2.40", false},
		{"46.8", "46.80", false}, {"100.00", "100.00", false}, {"1,000.00", "1000.00", false},
		{"20,000", "20000.00", false}, {"1,234,567.89", "1234567.89", false},
		{"", "", true}, {".5", "", true}, {"5.", "", true}, {"1.234", "", true},
		{"1,00", "", true}, {"1000,000", "", true}, {",100", "", true}, {"1OO.00", "", true},
		{"-5", "", true}, {"1e3", "", true}, {"9999999999999999", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d, err := ParseDecimal(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseDecimal(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if d.String() != tt.want {
				t.Errorf("ParseDecimal(%q) = %q, want %q", tt.in, d, tt.want)
			}
		})
	}
}

func TestDecimalText(t *testing.T) {
	for _, d := range []Decimal{{}, DecimalOf(0), DecimalOf(-9), DecimalOf(123456)} {
		text, _ := d.MarshalText()
		var back Decimal
		if err := back.UnmarshalText(text); err != nil || back != d {
			t.Errorf("%q read back as %v, %v", text, back, err)
		}
	}
}

func TestLookalikeHint(t *testing.T) {
	tests := map[string]string{"1OO.00": "letter O instead of zero", "5o": "letter O instead of " +
		"zero", "l00": "letter l instead of one", "abc": "", "100.00": ""}
	for in, want := range tests {
		if got := lookalikeHint(in); got != want {
			t.Errorf("lookalikeHint(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseDate(t *testing.T) {
	eat := time.FixedZone("EAT", 3*3600)
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{"20230513 19:13", "2023-05-13T19:13:00+03:00", ""},
		{"20240701 18:58:49 +0300", "2024-07-01T18:58:49+03:00", ""},
		{"20240701 18:58 -05:30", "2024-07-01T18:58:00-05:30", ""},
		{"2024-03-05 18:22", "2024-03-05T18:22:00+03:00", ""},
		{"05/04/2024 10:15", "2024-04-05T10:15:00+03:00", ""},
		{"20240229 00:00", "2024-02-29T00:00:00+03:00", ""},
		{"20230229 00:00", "", "Date 2023-02-29 is not a calendar date"},
		{"20230231 10:15", "", "Date 2023-02-31 is not a calendar date"},
		{"20231301 10:15", "", "Date 2023-13-01 is not a calendar date"},
		{"31/04/2024 10:15", "", "Date 2024-04-31 is not a calendar date"},
		{"20230513 24:00", "", "Date 24:00:00 is not a clock time"},
		{"20230513 19:13 +2500", "", `Date offset "+2500" is not of the form +0300`},
		{"20230513", "", `Date "20230513" is not in a known form`},
		{"2023051 19:13", "", `Date "2023051 19:13" is not in a known form`},
		{"20230513 19:3", "", `Date "20230513 19:3" is not in a known form`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, _, prob := parseDate("Date", tt.in, eat)
			switch {
			case tt.wantErr != "":
				if prob == nil || prob.Text != tt.wantErr {
					t.Errorf("got %v, %+v; want problem %q", got, prob, tt.wantErr)
				}
			case prob != nil:
				t.Errorf("unexpected problem %q", prob.Text)
			case got.Format(time.RFC3339) != tt.want:
				t.Errorf("got %s, want %s", got.Format(time.RFC3339), tt.want)
			}
		})
	}
}

func TestParseHeader(t *testing.T) {
	tests := []struct {
		in   string
		want *Header
	}{
		{"Saturday, May 13, 2023 \u00b7 9:14 PM", &Header{Weekday: time.Saturday,
			Month: time.May, Day: 13, Year: 2023, Hour: 21, Minute: 14}},
		{"Wednesday, Jan 15 \u00b7 11:16 AM", &Header{Weekday: time.Wednesday,
			Month: time.January, Day: 15, Hour: 11, Minute: 16}},
		{"Monday \u00b7 12:50 AM", &Header{Weekday: time.Monday, Hour: 0, Minute: 50}},
		{"Monday \u00b7 12:05 PM", &Header{Weekday: time.Monday, Hour: 12, Minute: 5}},
		{"Funday \u00b7 12:50 AM", nil},
		{"Monday \u00b7 13:50 PM", nil},
		{"Monday \u00b7 12:5 PM", nil},
		{"Monday, Febtember 3 \u00b7 1:00 AM", nil},
		{"Friday, February 30, 2024 \u00b7 1:00 AM", nil},
		{"Monday 12:50 AM", nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			h, ok := ParseHeader(tt.in)
			if ok != (tt.want != nil) {
				t.Fatalf("ParseHeader ok = %v, want %v", ok, tt.want != nil)
			}
			if tt.want != nil {
				if diff := cmp.Diff(*tt.want, h); diff != "" {
					t.Errorf("header differs (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestCutTrailer(t *testing.T) {
	tests := []struct {
		in, body string
		trailer  bool
	}{
		{"Mtr:1 For Details dial *977#", "Mtr:1", true},
		{"For Details dial *977#", "", true},
		{"x for help dial *977# y", "x y", true},
		{"Mtr:1 For Details dial", "Mtr:1 For Details dial", false},
		{"Mtr:1 For Details dial now#", "Mtr:1 For Details dial now#", false},
	}
	for _, tt := range tests {
		body, trailer := cutTrailer(tt.in)
		if body != tt.body || trailer != tt.trailer {
			t.Errorf("cutTrailer(%q) = %q, %v; want %q, %v", tt.in, body, trailer, tt.body,
				tt.trailer)
		}
	}
}
