package meter

import (
	"strconv"
	"strings"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// Milli is an amount in thousandths of a register's base unit: 0.0001 kWh
// or 0.0001 m³ (0.1 L) for units, 0.00000001 currency units for currency.
// Registers and consumption count in Milli so that fractions of a base unit
// carry over exactly and the totals always balance.
type Milli uint64

// milli is the number of Milli in one base unit.
const milli = 1000

// maxRegister bounds every register so sums of two stay within uint64.
const maxRegister = 1 << 62

// Base returns the whole base units in q, the fraction dropped: what a
// display shows.
func (q Milli) Base() uint64 { return uint64(q) / milli }

// Format writes q as a decimal in the register's display unit, where one
// base unit is 10^-scale of it (scale 1 for kWh and m³, 5 for currency).
// Trailing zeros are trimmed down to minDecimals digits after the point.
func (q Milli) Format(scale, minDecimals int) string {
	s := sts.FormatDecimal(uint64(q), scale+3)
	if !strings.Contains(s, ".") {
		return s
	}
	keep := len(s) - (scale + 3) + minDecimals
	for len(s) > keep && s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	return strings.TrimSuffix(s, ".")
}

// String writes q as base units with up to three decimals, such as "125.5".
func (q Milli) String() string {
	s := strconv.FormatUint(uint64(q/milli), 10)
	frac := uint64(q % milli)
	if frac == 0 {
		return s
	}
	f := strings.TrimRight(strconv.FormatUint(frac+milli, 10)[1:], "0")
	return s + "." + f
}

// Register is one credit register with its cumulative totals. Credited
// always equals Consumed + Remaining + Cleared exactly.
type Register struct {
	// Remaining is the credit left.
	Remaining Milli `json:"remaining"`
	// Credited is all credit ever added: tokens and the initial credit.
	Credited Milli `json:"credited"`
	// Consumed is the credit spent on supply.
	Consumed Milli `json:"consumed"`
	// Cleared is the credit removed by ClearCredit tokens.
	Cleared Milli `json:"cleared"`
}

// Balanced reports whether Credited = Consumed + Remaining + Cleared.
func (r Register) Balanced() bool {
	return r.Credited == r.Consumed+r.Remaining+r.Cleared
}

func (r *Register) add(q Milli) {
	r.Remaining += q
	r.Credited += q
}

func (r *Register) clear() Milli {
	q := r.Remaining
	r.Remaining = 0
	r.Cleared += q
	return q
}

func (r *Register) spend(q Milli) {
	r.Remaining -= q
	r.Consumed += q
}

// register returns the register of a class 0 sub-class, nil for one the
// meter does not hold.
func (m *Meter) register(subclass uint8) *Register {
	switch subclass {
	case m.util.UnitSubClass():
		return &m.units
	case m.util.CurrencySubClass():
		return &m.currency
	}
	return nil
}

// Credit returns the credit left in the register of a class 0 sub-class,
// and false for a sub-class the meter holds no register for.
func (m *Meter) Credit(subclass uint8) (Milli, bool) {
	r := m.register(subclass)
	if r == nil {
		return 0, false
	}
	return r.Remaining, true
}

// credit handles a class 0 TransferCredit token after its CRC matched.
func (m *Meter) credit(f *sts.Fields, r *Result, t int64) {
	// Function: only the meter's own service, in units or currency.
	reg := m.register(f.SubClass)
	if reg == nil {
		r.Outcome = sts.FunctionError
		return
	}

	// PROTOCOL.md §8.1: no credit under a default key.
	if !creditAllowed(m.kt) {
		r.Outcome = sts.DDTKError
		return
	}

	if r.Outcome = m.checkTID(f.TID); r.Outcome != sts.Accept {
		return
	}

	// Range, then overflow of the register's capacity.
	amount, limit, o := m.creditAmount(f)
	if o != sts.Accept {
		r.Outcome = o
		return
	}
	if amount > limit || reg.Remaining > limit-amount {
		r.Outcome = sts.OverflowError
		return
	}

	reg.add(amount)
	m.storeTID(f.TID)
	m.updateSupply(t)
	r.Credited = amount
}

// creditAmount returns the credit of a token in Milli and the capacity of
// its register, or range_error for a negative currency amount.
func (m *Meter) creditAmount(f *sts.Fields) (amount, limit Milli, o sts.Outcome) {
	if !f.IsCurrency() {
		return Milli(sts.DecodeAmount(f.Value)) * milli, m.creditLimit, sts.Accept
	}
	c := f.Currency()
	if c.Negative {
		return 0, 0, sts.RangeError
	}
	v := c.Value()
	if !v.IsUint64() || v.Uint64() > uint64(m.currencyLimit)/milli {
		// Larger than the whole register: the sum must overflow.
		return Milli(m.currencyLimit) + 1, m.currencyLimit, sts.Accept
	}
	return Milli(v.Uint64()) * milli, m.currencyLimit, sts.Accept
}
