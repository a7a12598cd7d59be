package receipts

import (
	"strings"
)

// sumTolerance is the largest difference, in hundredths, that the KPLC sum
// check allows (FORMATS.md §5.2: within 0.01).
const sumTolerance = 1

// sums applies the KPLC sum check: Amt = [Debt +] TknAmt + OtherCharges,
// where OtherCharges is printed, the sum of the itemised charges of the
// older receipt, or, on the key-change receipt, derived as Amt - TknAmt.
func (p *parser) sums() {
	if !p.sp.kplc {
		p.unknownWarnings(false)
		return
	}
	r := p.r
	charges, itemised := p.itemisedCharges()
	switch {
	case itemised && r.OtherCharges.Valid():
		if r.OtherCharges != charges {
			p.fail(fOtherCharges, CodeSumMismatch, "%s %s is not the sum %s of the charges",
				p.label(fOtherCharges), r.OtherCharges, charges)
			return
		}
	case itemised:
		r.OtherCharges = charges
		p.warn("itemised charges; OtherCharges derived as their sum")
	case !r.OtherCharges.Valid():
		derived := r.Amount.Sub(r.TokenAmount).Sub(p.debt())
		if derived.Hundredths() < 0 {
			p.fail(fTokenAmount, CodeSumMismatch, "%s %s is more than %s %s",
				p.label(fTokenAmount), r.TokenAmount, p.label(fAmount), r.Amount)
			return
		}
		r.OtherCharges = derived
		p.warn("OtherCharges derived as Amt-TknAmt")
	}
	p.checkTotal(itemised)
}

// checkTotal compares Amt with its parts.
func (p *parser) checkTotal(itemised bool) {
	r := p.r
	total := p.debt().Add(r.TokenAmount).Add(r.OtherCharges)
	off := r.Amount.Sub(total).Hundredths()
	if off < 0 {
		off = -off
	}
	if off > sumTolerance {
		parts := []string{p.label(fTokenAmount) + " " + r.TokenAmount.String()}
		otherName := p.label(fOtherCharges)
		if itemised {
			otherName = "charges"
		}
		parts = append(parts, otherName+" "+r.OtherCharges.String())
		if r.Debt.Valid() {
			parts = append([]string{p.label(fDebt) + " " + r.Debt.String()}, parts...)
		}
		p.fail(fAmount, CodeSumMismatch, "%s %s is not %s (off by %s)", p.label(fAmount),
			r.Amount, strings.Join(parts, " + "), DecimalOf(off))
		return
	}
	if r.Debt.Hundredths() > 0 {
		p.warn("debt recovery of %s deducted before units", r.Debt)
	}
}

// itemisedCharges adds the charges of the older receipt. Unknown labels
// whose value is written as money (with decimals) count as charges, since
// that receipt lists nothing else; other unknown pairs are kept as they are.
func (p *parser) itemisedCharges() (Decimal, bool) {
	sum, any := DecimalOf(0), false
	for _, f := range chargeFields {
		if d := p.fieldDecimal(f); d.Valid() {
			sum, any = sum.Add(d), true
		}
	}
	if p.sp != specKPLCLegacy {
		p.unknownWarnings(false)
		return sum, any
	}
	for _, it := range p.lab.unknown {
		d, code, info, err := parseMoney(it.Value)
		if err != nil || info.decimals == 0 || code != "" && code != p.r.Currency {
			continue
		}
		sum, any = sum.Add(d), true
		p.warn("unknown charge %s:%s counted in OtherCharges", it.Label, it.Value)
	}
	p.unknownWarnings(true)
	return sum, any
}

// unknownWarnings notes unknown Label:value pairs that were kept but not
// counted. countedMoney says money-like ones were already noted.
func (p *parser) unknownWarnings(countedMoney bool) {
	for _, it := range p.lab.unknown {
		if countedMoney {
			if _, _, info, err := parseMoney(it.Value); err == nil && info.decimals > 0 {
				continue
			}
		}
		p.warn("unknown field %s:%s kept", it.Label, it.Value)
	}
}

// fieldDecimal returns the parsed value of a charge field.
func (p *parser) fieldDecimal(f field) Decimal {
	r := p.r
	switch f {
	case fVAT:
		return r.VAT
	case fFuelEnergy:
		return r.FuelEnergy
	case fForex:
		return r.Forex
	case fEPRA:
		return r.EPRA
	case fWRA:
		return r.WRA
	case fREP:
		return r.REP
	case fInflationAdj:
		return r.InflationAdj
	}
	return Decimal{}
}

func (p *parser) debt() Decimal {
	if p.r.Debt.Valid() {
		return p.r.Debt
	}
	return DecimalOf(0)
}

// label returns the label as the message wrote it, or the layout's name.
func (p *parser) label(f field) string {
	if v := p.lab.vals[f]; v.set {
		return v.label
	}
	return p.sp.name(f)
}

// layoutWarnings notes print oddities of KPLC messages, whose layout is
// otherwise fixed, and how the message sat in the export.
func (p *parser) layoutWarnings() {
	m := p.m
	if p.sp.kplc {
		var odd []string
		if m.Layout&LayoutDoubleSpace != 0 {
			odd = append(odd, "double spaces")
		}
		if m.Layout&LayoutTab != 0 {
			odd = append(odd, "tab")
		}
		if m.Layout&LayoutNoBreakSpace != 0 {
			odd = append(odd, "no-break space")
		}
		if p.spacedLabel() {
			odd = append(odd, "space after colon")
		}
		if m.Layout&LayoutTrailingSpace != 0 {
			odd = append(odd, "trailing spaces")
		}
		if len(odd) > 0 {
			p.warn("odd spacing: %s", strings.Join(odd, ", "))
		}
		switch {
		case m.Layout&LayoutCRLF != 0:
			p.warn("CRLF line end")
		case m.Layout&LayoutCR != 0:
			p.warn("CR line end")
		}
	}
	if m.AfterMessage && m.Part == "" {
		p.warn("second message under one header (no header of its own)")
	}
	switch {
	case m.Parts == 2:
		p.warn("two messages glued on one line")
	case m.Parts > 2:
		p.warn("%d messages glued on one line", m.Parts)
	}
}

// spacedLabel reports "Label: value" where KPLC prints "Label:value". The
// key-change receipt puts spaces after its instruction labels by design.
func (p *parser) spacedLabel() bool {
	if p.sp == specKPLCKCT {
		return false
	}
	for _, v := range p.lab.vals {
		if v.set && v.spaced {
			return true
		}
	}
	return false
}
