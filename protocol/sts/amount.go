package sts

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// ErrRange reports a value outside what a token field can carry.
var ErrRange = errors.New("out of range")

// MaxAmount is the largest value, in base units, that the 16-bit amount
// field can carry: 18 201 624 (PROTOCOL.md §5).
const MaxAmount = 18_201_624

// amountOffsets are the cumulative offsets Σ_{n=1..e} 2^14·10^(n−1).
var amountOffsets = [4]uint64{0, 16_384, 180_224, 1_818_624}

var pow10 = [4]uint64{1, 10, 100, 1000}

// EncodeAmount returns the 16-bit amount field for a value in base units
// (0.1 kWh, 0.1 m³, 1 W): two exponent bits and a 14-bit mantissa. Values
// that the field cannot hold exactly round up, in the customer's favour
// (IEC 62055-41 §6.3.6). Values above [MaxAmount] are a range error.
func EncodeAmount(units uint64) (uint16, error) {
	if units > MaxAmount {
		return 0, fmt.Errorf("encode amount %d: %w (maximum %d)", units, ErrRange, MaxAmount)
	}
	for e := range 4 {
		var m uint64
		if units > amountOffsets[e] {
			m = (units - amountOffsets[e] + pow10[e] - 1) / pow10[e]
		}
		if m <= 0x3FFF {
			return uint16(e)<<14 | uint16(m), nil
		}
	}
	panic("unreachable: MaxAmount fits the e=3 range")
}

// DecodeAmount returns the value in base units of a 16-bit amount field.
func DecodeAmount(field uint16) uint64 {
	e := field >> 14
	return uint64(field&0x3FFF)*pow10[e] + amountOffsets[e]
}

// ParseDecimal reads a non-negative decimal string such as "12.5" as an
// integer count of 10^-scale units, rounding up any further digits. It never
// goes through floating point.
func ParseDecimal(s string, scale int) (uint64, error) {
	if s == "" {
		return 0, errors.New("parse decimal: empty")
	}
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if intPart == "" && (!hasPoint || frac == "") {
		return 0, fmt.Errorf("parse decimal %q: no digits", s)
	}
	if hasPoint && frac == "" {
		return 0, fmt.Errorf("parse decimal %q: no digits after the point", s)
	}
	var v uint64
	const limit = 1 << 62
	for i := 0; i < len(intPart); i++ {
		c := intPart[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("parse decimal %q: %q is not a digit", s, rune(c))
		}
		v = v*10 + uint64(c-'0')
		if v > limit {
			return 0, fmt.Errorf("parse decimal %q: %w", s, ErrRange)
		}
	}
	roundUp := false
	for i := 0; i < len(frac); i++ {
		c := frac[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("parse decimal %q: %q is not a digit", s, rune(c))
		}
		if i < scale {
			v = v*10 + uint64(c-'0')
		} else if c != '0' {
			roundUp = true
		}
	}
	for i := len(frac); i < scale; i++ {
		v *= 10
	}
	if v > limit {
		return 0, fmt.Errorf("parse decimal %q: %w", s, ErrRange)
	}
	if roundUp {
		v++
	}
	return v, nil
}

// FormatDecimal writes v units of 10^-scale as a decimal string with exactly
// scale digits after the point (none when scale is 0).
func FormatDecimal(v uint64, scale int) string {
	s := fmt.Sprintf("%0*d", scale+1, v)
	if scale == 0 {
		return s
	}
	return s[:len(s)-scale] + "." + s[len(s)-scale:]
}

// CurrencyScale is the number of decimals of the currency base unit: credit
// in the currency sub-classes counts 0.00001 currency units.
const CurrencyScale = 5

// CurrencyAmount is the decoded content of a currency credit amount: the
// S&E nibble's sign and the 5-bit exponent with the 14-bit mantissa
// (PROTOCOL.md §3.2). The mapping rests on a single public implementation.
type CurrencyAmount struct {
	// Negative is the sign bit (bit 59 of the block).
	Negative bool
	// Exponent is 0 to 31.
	Exponent uint8
	// Mantissa is 0 to 16383.
	Mantissa uint16
}

// Value returns the amount in units of 0.00001: 10^e·m + Σ_{n=1..e} 2^14·10^(n−1),
// negated when the sign is set. Large exponents exceed 64 bits, hence big.
func (c CurrencyAmount) Value() *big.Int {
	ten := big.NewInt(10)
	p := new(big.Int).Exp(ten, big.NewInt(int64(c.Exponent)), nil)
	v := new(big.Int).Mul(p, big.NewInt(int64(c.Mantissa)))
	// Σ 2^14·10^(n−1) for n = 1..e = 2^14·(10^e − 1)/9.
	off := new(big.Int).Sub(p, big.NewInt(1))
	off.Div(off, big.NewInt(9)).Lsh(off, 14)
	v.Add(v, off)
	if c.Negative {
		v.Neg(v)
	}
	return v
}

// SE returns the S&E nibble: sign, then exponent bits 4, 3 and 2.
func (c CurrencyAmount) SE() uint8 {
	var s uint8
	if c.Negative {
		s = 8
	}
	return s | c.Exponent>>2&7
}

// Field returns the 16-bit field: exponent bits 1 and 0, then the mantissa.
func (c CurrencyAmount) Field() uint16 {
	return uint16(c.Exponent&3)<<14 | c.Mantissa&0x3FFF
}

// currencyFromParts reassembles a currency amount from the S&E nibble and
// the 16-bit field.
func currencyFromParts(se uint8, field uint16) CurrencyAmount {
	return CurrencyAmount{
		Negative: se&8 != 0,
		Exponent: (se&7)<<2 | uint8(field>>14),
		Mantissa: field & 0x3FFF,
	}
}

// EncodeCurrency returns the currency amount nearest to units in the
// customer's favour: the smallest representable value not below a credit,
// and for a negative amount (a debit) the one of largest magnitude not above
// it, so the rounding never takes more than was asked. units counts 0.00001
// currency units.
func EncodeCurrency(units *big.Int) (CurrencyAmount, error) {
	abs := new(big.Int).Abs(units)
	neg := units.Sign() < 0
	ten := big.NewInt(10)
	maxM := big.NewInt(0x3FFF)
	p := big.NewInt(1)
	off := new(big.Int)
	var best *CurrencyAmount
	var bestValue big.Int
	for e := 0; e < 32; e++ {
		var m big.Int
		switch {
		case !neg && abs.Cmp(off) > 0:
			// Smallest m with off + p·m >= abs.
			m.Sub(abs, off)
			m.Add(&m, p).Sub(&m, big.NewInt(1)).Div(&m, p)
		case neg && abs.Cmp(off) >= 0:
			// Largest m with off + p·m <= abs.
			m.Sub(abs, off)
			m.Div(&m, p)
			if m.Cmp(maxM) > 0 {
				m.Set(maxM)
			}
		case neg:
			// This exponent and the ones above start past abs.
			e = 32
			continue
		}
		if m.Cmp(maxM) <= 0 {
			c := CurrencyAmount{Negative: neg, Exponent: uint8(e), Mantissa: uint16(m.Uint64())}
			if !neg {
				return c, nil
			}
			var v big.Int
			v.Mul(p, &m).Add(&v, off)
			if best == nil || v.Cmp(&bestValue) > 0 {
				best, bestValue = &c, v
			}
		}
		// The offset of exponent e+1 adds 2^14·10^e.
		off.Add(off, new(big.Int).Lsh(p, 14))
		p.Mul(p, ten)
	}
	if best != nil {
		return *best, nil
	}
	return CurrencyAmount{}, fmt.Errorf("encode currency amount %s: %w", units, ErrRange)
}
