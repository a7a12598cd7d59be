package vending

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
)

// Amounts never go through floating point. Money is held in minor units of
// the currency (cents: every currency priced here has two decimals), units
// in tenths (the STS base unit of 0.1 kWh or 0.1 m³), and tariff arithmetic
// in exact rationals.

// moneyScale is the number of decimals of every currency amount.
const moneyScale = 2

// maxMoney caps an amount at 10^13 minor units, far beyond any purchase,
// so that arithmetic on it never overflows.
const maxMoney = 10_000_000_000_000

// maxDecimalLen bounds the text of a decimal, so that a hostile request
// cannot make the rational arithmetic slow.
const maxDecimalLen = 24

var errDecimalSyntax = errors.New("want a decimal such as 12.5, digits with an optional point")

// splitDecimal checks s is digits with an optional point and returns the
// integer and fraction digits.
func splitDecimal(s string) (intPart, frac string, err error) {
	if s == "" {
		return "", "", errors.New("empty: want a decimal such as 12.5")
	}
	if len(s) > maxDecimalLen {
		return "", "", fmt.Errorf("%d characters: at most %d", len(s), maxDecimalLen)
	}
	point := -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.' && point < 0:
			point = i
		case c < '0' || c > '9':
			return "", "", errDecimalSyntax
		}
	}
	if point < 0 {
		return s, "", nil
	}
	intPart, frac = s[:point], s[point+1:]
	if intPart == "" || frac == "" {
		return "", "", errDecimalSyntax
	}
	return intPart, frac, nil
}

// parseFixed reads a non-negative decimal with at most scale decimals as an
// integer count of 10^-scale, refusing values above limit. Extra decimals
// are an error, not rounded: the caller's amount is taken as written.
func parseFixed(s string, scale int, limit uint64) (uint64, error) {
	intPart, frac, err := splitDecimal(s)
	if err != nil {
		return 0, err
	}
	if len(frac) > scale {
		if scale == 0 {
			return 0, fmt.Errorf("%q: want a whole number", s)
		}
		return 0, fmt.Errorf("%q: at most %d digits after the point", s, scale)
	}
	var v uint64
	for _, part := range []string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			v = v*10 + uint64(part[i]-'0')
			if v > limit {
				return 0, fmt.Errorf("%q: too large", s)
			}
		}
	}
	for range scale - len(frac) {
		v *= 10
		if v > limit {
			return 0, fmt.Errorf("%q: too large", s)
		}
	}
	return v, nil
}

// CheckAmount reports whether s is an amount of money a vend request
// takes, such as "100.00", and if not, why.
func CheckAmount(s string) error {
	_, err := parseMoney(s)
	return err
}

// parseMoney reads a currency amount such as "100.00" into minor units.
func parseMoney(s string) (int64, error) {
	v, err := parseFixed(s, moneyScale, maxMoney)
	return int64(v), err
}

// parseUnits reads a credit such as "5.0" into tenths.
func parseUnits(s string) (uint64, error) {
	return parseFixed(s, 1, 1<<40)
}

// formatMoney writes minor units as "100.00".
func formatMoney(v int64) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	return sign + formatFixed(uint64(v), moneyScale)
}

// formatUnits writes tenths as "4.9".
func formatUnits(tenths uint64) string { return formatFixed(tenths, 1) }

func formatFixed(v uint64, scale int) string {
	s := strconv.FormatUint(v, 10)
	for len(s) <= scale {
		s = "0" + s
	}
	return s[:len(s)-scale] + "." + s[len(s)-scale:]
}

// parseRat reads a non-negative decimal exactly as a rational.
func parseRat(s string) (*big.Rat, error) {
	if _, _, err := splitDecimal(s); err != nil {
		return nil, err
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, errDecimalSyntax
	}
	return r, nil
}

// ratFloor returns ⌊r⌋ for r ≥ 0.
func ratFloor(r *big.Rat) *big.Int {
	return new(big.Int).Quo(r.Num(), r.Denom())
}

// ratCeil returns ⌈r⌉ for r ≥ 0.
func ratCeil(r *big.Rat) *big.Int {
	q, m := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if m.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q
}

// ratRound returns r rounded to the nearest integer, halves up, for r ≥ 0.
func ratRound(r *big.Rat) *big.Int {
	return ratFloor(new(big.Rat).Add(r, big.NewRat(1, 2)))
}

// minorUnits converts a currency value to minor units with round.
func minorUnits(r *big.Rat, round func(*big.Rat) *big.Int) int64 {
	return round(new(big.Rat).Mul(r, big.NewRat(100, 1))).Int64()
}
