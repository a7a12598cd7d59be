package analytics

import (
	"errors"
	"fmt"
	"strconv"
)

// AmountScale is the number of decimal places an [Amount] keeps: every
// register figure of the contract (0.0001 kWh) and every currency amount
// (0.00001) fits exactly.
const AmountScale = 6

// amountOne is one whole unit in Amount's fine unit.
const amountOne = 1_000_000

// maxAmount bounds a single parsed figure: 10^12 whole units, so that
// millions of them still add up inside an int64.
const maxAmount = 1_000_000_000_000 * amountOne

// ErrAmount reports a decimal that an [Amount] cannot hold exactly.
var ErrAmount = errors.New("invalid amount")

// Amount is an exact decimal quantity counted in millionths of its unit:
// energy in kWh, volume in m3 or money in a currency. Totals add Amounts as
// integers; no figure passes through a binary float. The zero value is 0.
// In JSON it is a decimal string such as "12.5".
type Amount int64

// ParseAmount reads a non-negative decimal such as "12", "0.5" or
// "1000.00". More than [AmountScale] significant decimals, signs, exponents
// and values above 10^12 are errors wrapping [ErrAmount]: nothing is
// rounded.
func ParseAmount(s string) (Amount, error) {
	if s == "" {
		return 0, fmt.Errorf("parse amount: %w: empty", ErrAmount)
	}
	var v int64
	digits, frac, point := 0, 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.' && !point && digits > 0:
			point = true
			continue
		case c < '0' || c > '9':
			return 0, fmt.Errorf("parse amount %q: %w: unexpected %q", s, ErrAmount, c)
		}
		digits++
		if point {
			frac++
			if frac > AmountScale {
				if c != '0' {
					return 0, fmt.Errorf("parse amount %q: %w: more than %d decimals",
						s, ErrAmount, AmountScale)
				}
				continue
			}
		}
		v = v*10 + int64(c-'0')
		if v > maxAmount {
			return 0, fmt.Errorf("parse amount %q: %w: too large", s, ErrAmount)
		}
	}
	if digits == 0 || point && frac == 0 {
		return 0, fmt.Errorf("parse amount %q: %w: no digits", s, ErrAmount)
	}
	for range AmountScale - min(frac, AmountScale) {
		v *= 10
	}
	if v > maxAmount {
		return 0, fmt.Errorf("parse amount %q: %w: too large", s, ErrAmount)
	}
	return Amount(v), nil
}

// String writes the amount as a decimal without trailing zeros after the
// point: "12.5", "0", "-3.25".
func (a Amount) String() string {
	v := int64(a)
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	whole, frac := v/amountOne, v%amountOne
	if frac == 0 {
		return sign + strconv.FormatInt(whole, 10)
	}
	f := fmt.Sprintf("%06d", frac)
	for f[len(f)-1] == '0' {
		f = f[:len(f)-1]
	}
	return sign + strconv.FormatInt(whole, 10) + "." + f
}

// Float64 returns the nearest float64, for Prometheus and charts only.
func (a Amount) Float64() float64 {
	return float64(a/amountOne) + float64(a%amountOne)/amountOne
}

// MarshalText implements encoding.TextMarshaler.
func (a Amount) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; a leading '-' is
// accepted so that differences round-trip.
func (a *Amount) UnmarshalText(b []byte) error {
	s, neg := string(b), false
	if len(s) > 0 && s[0] == '-' {
		s, neg = s[1:], true
	}
	v, err := ParseAmount(s)
	if err != nil {
		return err
	}
	if neg {
		v = -v
	}
	*a = v
	return nil
}
