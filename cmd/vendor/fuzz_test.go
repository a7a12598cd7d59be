package main

import (
	"math/big"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// FuzzDecodeCommand feeds arbitrary token text to token decode, with and
// without a key. It must never panic; on success it prints one JSON object
// whose token is 20 digits.
func FuzzDecodeCommand(f *testing.F) {
	for _, s := range []string{waterToken, "7247-8269-6279-4295-4182", "56493153725450313471",
		"73786976294838206463", "73786976294838206464", "", "-", "0", "1 2 3",
		"00000000000402653184", "99999999999999999999"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	digits := regexp.MustCompile(`^\d{20}$`)
	f.Fuzz(func(t *testing.T, token string, withKey bool) {
		if strings.HasPrefix(token, "-") {
			// A leading dash would be read as a flag.
			token = "0" + token
		}
		args := []string{"token", "decode", "--json", "--", token}
		if withKey {
			args = []string{"token", "decode", "--json", "--decoder-key", waterKey, "--", token}
		}
		o := vendor(t, args...)
		if o.code != 0 {
			if o.stderr == "" {
				t.Fatalf("exit %d without a message", o.code)
			}
			return
		}
		m := decodeObject(t, o.stdout)
		if !digits.MatchString(str(m["token"])) {
			t.Fatalf("token %v", m["token"])
		}
	})
}

// FuzzUnitAmount checks that a parsed amount never decodes below the
// request: amounts round up.
func FuzzUnitAmount(f *testing.F) {
	for _, s := range []string{"0", "0.1", "10", "1638.35", "2000", "1820162.4", "1820162.5",
		"18022.31", ".5", "5.", "-1", "1e3", "99999999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		field, err := unitAmount(s, 0)
		if err != nil {
			if !strings.Contains(err.Error(), "--amount") {
				t.Fatalf("error %q does not name --amount", err)
			}
			return
		}
		units, err := sts.ParseDecimal(s, 1)
		if err != nil {
			t.Fatalf("unitAmount accepted %q that ParseDecimal refuses: %v", s, err)
		}
		if got := sts.DecodeAmount(field); got < units {
			t.Fatalf("%q: field %04X decodes to %d units, below %d", s, field, got, units)
		}
	})
}

// FuzzCurrencyAmount checks sign and round-up of currency amounts.
func FuzzCurrencyAmount(f *testing.F) {
	for _, s := range []string{"100", "-12.5", "0.00001", "-0", "0.000001", "--1", "-",
		"123456789.123456"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := currencyAmount(s)
		if err != nil {
			if !strings.Contains(err.Error(), "--amount") {
				t.Fatalf("error %q does not name --amount", err)
			}
			return
		}
		abs, neg := strings.CutPrefix(s, "-")
		units, err := sts.ParseDecimal(abs, sts.CurrencyScale)
		if err != nil {
			t.Fatalf("accepted %q: %v", s, err)
		}
		v := c.Value()
		if neg && units > 0 && v.Sign() >= 0 {
			t.Fatalf("%q decodes to %s, want negative", s, v)
		}
		// In the customer's favour: a credit never below what was
		// asked, a debit never more.
		want := new(big.Int).SetUint64(units)
		if neg {
			want.Neg(want)
		}
		if v.Cmp(want) < 0 {
			t.Fatalf("%q decodes to %s, below %s units", s, v, want)
		}
	})
}

// FuzzIssued checks that an accepted issue time names one instant: written
// back as RFC 3339 it reads as the same time.
func FuzzIssued(f *testing.F) {
	for _, s := range []string{"2026-12-03T13:55", "2026-12-03T13:55:59Z",
		"2026-12-03T16:55+03:00", "now", "2026-13-03T13:55", "tomorrow", ""} {
		f.Add(s)
	}
	now := func() time.Time { return testNow }
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := parseIssued(s, now)
		if err != nil {
			if !strings.Contains(err.Error(), "--issued") {
				t.Fatalf("error %q does not name --issued", err)
			}
			return
		}
		again, err := parseIssued(tm.Format(time.RFC3339Nano), now)
		if err != nil || !again.Equal(tm) {
			t.Fatalf("%q: %s reads back as %s (%v)", s, tm, again, err)
		}
	})
}

// FuzzKeyFlag checks that key errors never echo the key text.
func FuzzKeyFlag(f *testing.F) {
	for _, s := range []string{"0123456789ABCDEF", "0123456789abcdeg", "01 23", "", "@", "0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.HasPrefix(s, "@") {
			return // reads a file
		}
		key, err := parseKey("vending-key", s, 8)
		if err != nil {
			if len(s) >= 4 && strings.Contains(err.Error(), s) {
				t.Fatalf("error %q repeats the key text", err)
			}
			return
		}
		if len(key) != 8 {
			t.Fatalf("%q gave %d bytes", s, len(key))
		}
	})
}
