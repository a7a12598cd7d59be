package receipts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// fixtureLines returns the fixture's lines, as fuzz seeds.
func fixtureLines(f *testing.F) []string {
	f.Helper()
	data, err := os.ReadFile("testdata/sample.txt")
	if err != nil {
		f.Fatal(err)
	}
	return strings.Split(string(data), "\n")
}

func FuzzSplitter(f *testing.F) {
	data, err := os.ReadFile("testdata/sample.txt")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(""))
	f.Add([]byte("\r\r\n\n\r"))
	f.Add([]byte("Mtr:1Mtr:2 Mtr:3\rMtr:\xff\n\ufeff"))
	f.Add([]byte("\x00\x01binary"))
	f.Add(bytes.Repeat([]byte("Mtr:12345678901 "), 40))
	f.Fuzz(func(t *testing.T, data []byte) {
		sp := NewSplitter(bytes.NewReader(data), SplitConfig{MaxLineBytes: 256,
			MaxMessageBytes: 512})
		prev := 0
		for {
			m, err := sp.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				if !errors.Is(err, ErrBinary) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if m.Line < prev || m.Line < 1 || m.Line > sp.Lines() {
				t.Fatalf("message at line %d after %d (read %d)", m.Line, prev, sp.Lines())
			}
			prev = m.Line
			checkNormalised(t, m)
			r := Parse(m)
			checkReceipt(t, &r)
		}
	})
}

// checkNormalised asserts §5.1 rule 2 on every line of m.
func checkNormalised(t *testing.T, m Message) {
	t.Helper()
	for _, l := range m.Lines {
		if !utf8.ValidString(l) || strings.Contains(l, "  ") || strings.TrimSpace(l) != l ||
			strings.ContainsAny(l, "\t\r\n\u00a0\u202f") {
			t.Fatalf("line not normalised: %q", l)
		}
	}
	if len(m.Text()) > 512+len(m.Lines) {
		t.Fatalf("message of %d bytes passed the 512-byte bound", len(m.Text()))
	}
}

// checkReceipt asserts what every report row must satisfy.
func checkReceipt(t *testing.T, r *Receipt) {
	t.Helper()
	switch r.Status {
	case StatusAccept, StatusDuplicate:
		if _, err := sts.ParseToken(r.Token); err != nil {
			t.Fatalf("%s row with token %q: %v", r.Status, r.Token, err)
		}
		if err := sts.ValidateDRN(r.Meter); err != nil {
			t.Fatalf("%s row with meter %q: %v", r.Status, r.Meter, err)
		}
		if !r.Amount.Valid() || !r.Units.Valid() || r.Currency == "" {
			t.Fatalf("%s row without amount, units or currency: %v", r.Status, r.Record())
		}
	case StatusReject, StatusSkip:
		if r.Reason == "" || r.Code == "" {
			t.Fatalf("%s row without a reason: %v", r.Status, r.Record())
		}
		rec := recordMap(r)
		for _, col := range []string{"units_kwh", "amount", "token_amount", "timestamp",
			"kct1", "kct2", "warnings"} {
			if rec[col] != "" {
				t.Fatalf("%s row keeps %s: %v", r.Status, col, r.Record())
			}
		}
		if r.Meter != "" && sts.ValidateDRN(r.Meter) != nil {
			t.Fatalf("%s row keeps bad meter %q", r.Status, r.Meter)
		}
		if r.Token != "" {
			if _, err := sts.ParseToken(r.Token); err != nil {
				t.Fatalf("%s row keeps bad token %q", r.Status, r.Token)
			}
		}
	default:
		t.Fatalf("status %q", r.Status)
	}
	if len(r.Record()) != len(Columns) {
		t.Fatalf("record has %d cells", len(r.Record()))
	}
}

func FuzzParse(f *testing.F) {
	for _, l := range fixtureLines(f) {
		f.Add(l)
	}
	f.Add("Mtr:" + okMeter + "\nToken:" + okToken + "\nDate:20230513 19:13\nUnits:2.36")
	f.Add("Update Token Meter Yako: Meter Number:1 Step1: Enter Reset code:")
	f.Add("TANESCO Tokeni 1: Tokeni 2: Tokeni 3: KWH TSH")
	f.Add("Mtr: Token: Date: Units: Amt: TknAmt: OtherCharges: Debt: VAT:")
	f.Fuzz(func(t *testing.T, text string) {
		r := Parse(Message{Line: 1, Parts: 1, Lines: strings.Split(text, "\n")})
		checkReceipt(t, &r)
	})
}

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"0", "2.4", "1,000.00", "20,000", "1OO.00", "", ".", "9,99"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDecimal(s)
		if err != nil {
			if !errors.Is(err, ErrNotNumber) {
				t.Fatalf("error %v does not wrap ErrNotNumber", err)
			}
			return
		}
		if d.Hundredths() < 0 {
			t.Fatalf("%q parsed negative: %v", s, d)
		}
		back, err := ParseDecimal(d.String())
		if err != nil || back != d {
			t.Fatalf("%q -> %q -> %v, %v", s, d, back, err)
		}
	})
}

func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{"N5,000.00", "UGX 20,000", "R13.04", "KSh50", "TSH 1,525.42",
		"\u20a6100", "Receipt"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, code, _, err := parseMoney(s)
		if err == nil && (!d.Valid() || d.Hundredths() < 0 || code != "" && len(code) != 3) {
			t.Fatalf("%q parsed as %v %q", s, d, code)
		}
	})
}

func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"20230513 19:13", "20240701 18:58:49 +0300", "05/04/2024 10:15",
		"2024-03-05 18:22", "20230231 10:15", "1/1/1 1:1:1 +1:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, _, prob := parseDate("Date", s, zoneEAT)
		if prob == nil && (tm.Year() < 1970 || tm.Year() > 2199) {
			t.Fatalf("%q parsed to %v", s, tm)
		}
		if prob != nil && prob.Code != CodeBadDate {
			t.Fatalf("%q gave problem code %s", s, prob.Code)
		}
	})
}

func FuzzParseHeader(f *testing.F) {
	for _, l := range fixtureLines(f) {
		line, _, _ := normaliseLine([]byte(l), 1)
		f.Add(line)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, ok := ParseHeader(s)
		if ok && (h.Hour < 0 || h.Hour > 23 || h.Minute < 0 || h.Minute > 59 ||
			h.HasFullDate() && h.Time(zoneEAT).Day() != h.Day) {
			t.Fatalf("%q parsed to %+v", s, h)
		}
	})
}

func FuzzDecodePurchaseModel(f *testing.F) {
	data, err := os.ReadFile("testdata/sample.txt")
	if err != nil {
		f.Fatal(err)
	}
	var rows []Receipt
	_, err = Import(context.Background(), bytes.NewReader(data), Config{},
		func(r *Receipt) error { rows = append(rows, *r); return nil })
	if err != nil {
		f.Fatal(err)
	}
	mf := NewModelFitter()
	for i := range rows {
		mf.Add(&rows[i])
	}
	for _, opt := range []FitOptions{{}, {MaxValues: 1}} {
		m, err := mf.Fit(opt)
		if err != nil {
			f.Fatal(err)
		}
		seed, _ := json.Marshal(m)
		f.Add(seed)
	}
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodePurchaseModel(data)
		if err != nil {
			return
		}
		r := rand.New(rand.NewPCG(1, 2))
		for range 20 {
			p := m.Sample(r)
			if p.Hour < 0 || p.Hour > 23 || p.Interval < 0 || !p.Amount.Valid() {
				t.Fatalf("valid model drew %+v", p)
			}
		}
	})
}

func FuzzReadCSV(f *testing.F) {
	data, err := os.ReadFile("testdata/sample.expected.csv")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(strings.Join(Columns, ",") + "\nx,,,,,,,,,,1.234,,,,,,,,,,,,,bad,,\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = ReadCSV(bytes.NewReader(data), func(r *Receipt) error {
			if len(r.Record()) != len(Columns) {
				t.Fatalf("record of %d cells", len(r.Record()))
			}
			return nil
		})
	})
}
