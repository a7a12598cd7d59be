package receipts

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// maxIntDigits bounds the integer part of a parsed number so that its value
// in hundredths always fits an int64.
const maxIntDigits = 15

// ErrNotNumber reports a value that is not a decimal number of the accepted
// form: digits, optional thousands commas, and at most two decimals.
var ErrNotNumber = errors.New("not a number")

// Decimal is an exact, optional decimal number with two places, held as a
// count of hundredths. Money and kWh figures use it so that no value ever
// passes through a binary float. The zero value is absent, which is not the
// same as zero: a receipt that does not carry a field leaves it absent.
type Decimal struct {
	h  int64
	ok bool
}

// DecimalOf returns the present Decimal worth hundredths/100.
func DecimalOf(hundredths int64) Decimal { return Decimal{h: hundredths, ok: true} }

// Valid reports whether d holds a value.
func (d Decimal) Valid() bool { return d.ok }

// Hundredths returns the value in hundredths (0 when absent).
func (d Decimal) Hundredths() int64 { return d.h }

// Float64 returns the nearest float64, for charts and spreadsheets only.
func (d Decimal) Float64() float64 { return float64(d.h) / 100 }

// Add returns d+e; the result is absent if either is absent.
func (d Decimal) Add(e Decimal) Decimal {
	if !d.ok || !e.ok {
		return Decimal{}
	}
	return DecimalOf(d.h + e.h)
}

// Sub returns d-e; the result is absent if either is absent.
func (d Decimal) Sub(e Decimal) Decimal {
	if !d.ok || !e.ok {
		return Decimal{}
	}
	return DecimalOf(d.h - e.h)
}

// String formats d with exactly two decimals ("50.00", "-0.09") and no
// thousands separators; an absent value formats as "".
func (d Decimal) String() string {
	if !d.ok {
		return ""
	}
	v := d.h
	sign := ""
	if v < 0 {
		sign = "-"
		v = -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// MarshalText encodes d as String does; it lets a Decimal appear in JSON as
// an exact string.
func (d Decimal) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses text written by MarshalText. Empty text gives the
// absent value.
func (d *Decimal) UnmarshalText(text []byte) error {
	s := string(text)
	if s == "" {
		*d = Decimal{}
		return nil
	}
	neg := strings.HasPrefix(s, "-")
	v, err := ParseDecimal(strings.TrimPrefix(s, "-"))
	if err != nil {
		return err
	}
	if neg {
		v.h = -v.h
	}
	*d = v
	return nil
}

// numberInfo says how a parsed number was written.
type numberInfo struct {
	// decimals is the count of digits after the point (0, 1 or 2).
	decimals int
	// commas reports thousands separators.
	commas bool
}

// ParseDecimal reads a non-negative number written with optional thousands
// commas ("1,000.00") and at most two decimals. Errors wrap [ErrNotNumber].
func ParseDecimal(s string) (Decimal, error) {
	d, _, err := parseNumber(s)
	return d, err
}

func parseNumber(s string) (Decimal, numberInfo, error) {
	var info numberInfo
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if intPart == "" {
		return Decimal{}, info, fmt.Errorf("%w: no digits before the point", ErrNotNumber)
	}
	if hasPoint && (frac == "" || len(frac) > 2) {
		return Decimal{}, info, fmt.Errorf("%w: want 1 or 2 decimals, got %d", ErrNotNumber,
			len(frac))
	}
	digits, commas, err := integerDigits(intPart)
	if err != nil {
		return Decimal{}, info, err
	}
	if !allDigits(frac) {
		return Decimal{}, info, fmt.Errorf("%w: decimals %q are not digits", ErrNotNumber, frac)
	}
	info = numberInfo{decimals: len(frac), commas: commas}
	whole, _ := strconv.ParseInt(digits, 10, 64)
	cents := int64(0)
	if frac != "" {
		cents, _ = strconv.ParseInt((frac + "0")[:2], 10, 64)
	}
	return DecimalOf(whole*100 + cents), info, nil
}

// integerDigits validates the part before the point and returns it without
// thousands commas, which must group digits by three.
func integerDigits(s string) (string, bool, error) {
	if !strings.Contains(s, ",") {
		if !allDigits(s) {
			return "", false, fmt.Errorf("%w: %q is not all digits", ErrNotNumber, s)
		}
		if len(s) > maxIntDigits {
			return "", false, fmt.Errorf("%w: more than %d digits", ErrNotNumber, maxIntDigits)
		}
		return s, false, nil
	}
	groups := strings.Split(s, ",")
	if len(groups[0]) == 0 || len(groups[0]) > 3 || !allDigits(groups[0]) {
		return "", true, fmt.Errorf("%w: misplaced thousands comma in %q", ErrNotNumber, s)
	}
	for _, g := range groups[1:] {
		if len(g) != 3 || !allDigits(g) {
			return "", true, fmt.Errorf("%w: misplaced thousands comma in %q", ErrNotNumber, s)
		}
	}
	joined := strings.Join(groups, "")
	if len(joined) > maxIntDigits {
		return "", true, fmt.Errorf("%w: more than %d digits", ErrNotNumber, maxIntDigits)
	}
	return joined, true, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// lookalikeHint explains a number that parses once letters that look like
// digits are replaced: "1OO.00" is 100.00 typed with the letter O.
func lookalikeHint(s string) string {
	swaps := []struct {
		from, to, hint string
	}{
		{"Oo", "0", "letter O instead of zero"},
		{"lI", "1", "letter l instead of one"},
	}
	for _, sw := range swaps {
		if !strings.ContainsAny(s, sw.from) {
			continue
		}
		fixed := strings.Map(func(r rune) rune {
			if strings.ContainsRune(sw.from, r) {
				return rune(sw.to[0])
			}
			return r
		}, s)
		if _, _, err := parseNumber(fixed); err == nil {
			return sw.hint
		}
	}
	return ""
}

// decimalFromFloat rounds f to the nearest hundredth. It is used only for
// values drawn from a fitted model, never for parsed input.
func decimalFromFloat(f float64) Decimal {
	return DecimalOf(int64(math.Round(f * 100)))
}
