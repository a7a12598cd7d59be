package receipts

import (
	"fmt"
	"strings"
	"time"
)

// headerGapWarn is the gap between the phone's header and the Date field
// from which a receipt is warned about; smaller gaps are normal delivery.
const headerGapWarn = 5 * time.Minute

// Parse reads one message part and checks it against FORMATS.md §5.2. It
// sets every column of the report row except duplicates, which need the
// rows before it (see [Deduper]). Parse never fails: whatever is wrong with
// the message becomes the row's reason. It is safe for concurrent use.
func Parse(m Message) Receipt {
	r := Receipt{Line: m.Line, Part: m.Part, Variant: VariantUnknown, Kind: KindFragment,
		multiline: len(m.Lines) > 1}
	body, trailer := cutTrailer(m.Text())
	r.trailer = trailer
	p := parser{m: m, r: &r, body: body}
	p.run()
	if m.Problem != nil {
		p.probs = append([]Problem{*m.Problem}, p.probs...)
	}
	p.finish()
	return r
}

// parser holds the state of one Parse call.
type parser struct {
	m     Message
	r     *Receipt
	sp    *spec
	body  string
	lab   labelled
	probs []Problem
	// fieldProbs marks the fields whose value failed, for truncation.
	fieldProbs map[field]int
	warns      []string
	// skip is set for messages that are not receipts.
	skip *Problem
}

func (p *parser) run() {
	kind, sp := detect(p.body, len(p.m.Lines))
	p.sp = sp
	if sp != nil {
		p.r.Variant, p.r.Kind, p.r.Currency = sp.variant, KindCredit, sp.currency
	}
	switch kind {
	case layoutFragment:
		p.r.Variant = VariantFragment
		if len(p.m.Lines) > 0 {
			p.skip = &Problem{Code: CodeFragment, Text: "trailer fragment with no fields"}
		}
	case layoutPayment:
		p.payment()
	case layoutNotice:
		p.notice()
	case layoutSubmeter:
		p.submeter()
	case layoutUnknown:
		p.unknown()
	default:
		p.labelledReceipt()
	}
}

// finish settles the status and trims the row to what its status keeps.
func (p *parser) finish() {
	r := p.r
	switch {
	case len(p.probs) > 0:
		r.Status, r.Code = StatusReject, p.probs[0].Code
		texts := make([]string, len(p.probs))
		for i, pr := range p.probs {
			texts[i] = pr.Text
		}
		r.Reason = strings.Join(texts, "; ")
	case p.skip != nil:
		r.Status, r.Code, r.Reason = StatusSkip, p.skip.Code, p.skip.Text
	default:
		r.Status = StatusAccept
		r.Warnings = p.warns
		return
	}
	r.keepIdentity()
}

func (p *parser) fail(f field, code ReasonCode, format string, args ...any) {
	p.failWith(f, Problem{Code: code, Text: fmt.Sprintf(format, args...)})
}

func (p *parser) failWith(f field, pr Problem) {
	if f != fNone {
		if p.fieldProbs == nil {
			p.fieldProbs = make(map[field]int)
		}
		p.fieldProbs[f] = len(p.probs)
	}
	p.probs = append(p.probs, pr)
}

func (p *parser) warn(format string, args ...any) {
	p.warns = append(p.warns, fmt.Sprintf(format, args...))
}

func (p *parser) payment() {
	p.r.Variant, p.r.Kind = VariantKEMpesa, KindPayment
	if m := mpesaAccount.FindStringSubmatch(p.body); m != nil {
		p.r.Meter, _ = checkMeter(m[1])
	}
	p.skip = &Problem{Code: CodePayment,
		Text: "mobile-money payment confirmation, not a token receipt"}
}

func (p *parser) notice() {
	p.r.Variant, p.r.Kind = VariantKPLCNotice, KindNotice
	if m := noticeMeter.FindStringSubmatch(p.body); m != nil {
		p.r.Meter, _ = checkMeter(m[1])
	}
	p.skip = &Problem{Code: CodeNotice, Text: "scheduling notice: no token, no amount"}
}

func (p *parser) unknown() {
	if longestDigitRun(p.body) >= 16 {
		p.fail(fNone, CodeUnrecognised, "unrecognised receipt layout")
		return
	}
	p.skip = &Problem{Code: CodeNotReceipt, Text: "not a token receipt: no known fields"}
}

// submeter reads the South African sub-meter reply, which names no meter
// and so is always rejected; its token is kept if it passes.
func (p *parser) submeter() {
	m := submeterShape.FindStringSubmatch(p.body)
	if m == nil {
		p.fail(fNone, CodeUnrecognised, "unrecognised sub-meter reply")
		return
	}
	p.creditToken(fToken, m[1])
	p.fail(fMeter, CodeNoMeter, "%s", p.sp.noMeter)
}

// labelledReceipt reads the Label:value layouts.
func (p *parser) labelledReceipt() {
	p.lab = scanLabels(p.body, p.sp.labels)
	if p.sp.kplc && p.sp != specKPLCKCT && !p.lab.vals[fOtherCharges].set && p.hasItems() {
		p.sp = specKPLCLegacy
		p.r.Variant = VariantKPLCLegacy
	}
	if p.lab.repeated != "" {
		p.fail(fNone, CodeUnrecognised, "label %s appears twice", p.lab.repeated)
	}
	p.r.Extra = append(p.lab.known, p.lab.unknown...)
	p.meter()
	p.tokens()
	p.amounts()
	p.missing()
	p.timestamp()
	if len(p.probs) == 0 {
		p.sums()
	}
	p.layoutWarnings()
}

func (p *parser) hasItems() bool {
	for _, f := range chargeFields {
		if p.lab.vals[f].set {
			return true
		}
	}
	return p.lab.vals[fDebt].set
}

func (p *parser) meter() {
	v := p.lab.vals[fMeter]
	if !v.set || v.text == "" {
		if !p.sp.kplc {
			p.fail(fMeter, CodeNoMeter, "no meter number in the message")
		}
		return
	}
	meter, prob := checkMeter(v.text)
	if prob != nil {
		p.failWith(fMeter, *prob)
	}
	p.r.Meter = meter
}

// tokens reads the credit token and the key-change codes. Numbered tokens
// ("Tokeni 1", 2, 3) are entered in order: two key-change codes, then the
// credit token.
func (p *parser) tokens() {
	vals := &p.lab.vals
	if vals[fKCT1].set || vals[fKCT2].set || vals[fToken3].set {
		p.r.Kind = KindKeyChangeCredit
	}
	if vals[fToken1].set && !vals[fToken].set {
		switch {
		case vals[fToken3].set:
			vals[fKCT1], vals[fKCT2], vals[fToken] = vals[fToken1], vals[fToken2], vals[fToken3]
		case !vals[fToken2].set:
			vals[fToken] = vals[fToken1]
		default:
			p.fail(fToken, CodeBadToken, "two numbered tokens: want one, or three with the "+
				"key-change codes first")
		}
	}
	if v := vals[fToken]; v.set && v.text != "" {
		p.creditToken(fToken, v.text)
	}
	for _, f := range []field{fKCT1, fKCT2} {
		v := vals[f]
		if !v.set || v.text == "" {
			continue
		}
		_, digits, prob := checkToken(p.sp.name(f), v.text)
		if prob != nil {
			p.failWith(f, *prob)
			continue
		}
		if f == fKCT1 {
			p.r.KCT1 = digits
		} else {
			p.r.KCT2 = digits
		}
	}
}

func (p *parser) creditToken(f field, raw string) {
	t, digits, prob := checkToken("token", raw)
	if prob != nil {
		p.failWith(f, *prob)
		return
	}
	p.r.Token, p.r.tokenValue, p.r.tokenForm = digits, t, formOf(raw)
}

// amounts reads kWh and every money field.
func (p *parser) amounts() {
	if v := p.lab.vals[fUnits]; v.set && v.text != "" {
		d, _, err := parseUnits(v.text)
		if err != nil {
			p.badNumber(fUnits, v)
		}
		p.r.Units = d
	}
	r := p.r
	targets := []struct {
		f   field
		dst *Decimal
	}{
		{fAmount, &r.Amount}, {fTokenAmount, &r.TokenAmount}, {fOtherCharges, &r.OtherCharges},
		{fVAT, &r.VAT}, {fFuelEnergy, &r.FuelEnergy}, {fForex, &r.Forex}, {fEPRA, &r.EPRA},
		{fWRA, &r.WRA}, {fREP, &r.REP}, {fInflationAdj, &r.InflationAdj}, {fDebt, &r.Debt},
	}
	for _, t := range targets {
		*t.dst = p.money(t.f)
	}
}

// money reads one money field, checking its currency against the layout's.
func (p *parser) money(f field) Decimal {
	v := p.lab.vals[f]
	if !v.set || v.text == "" {
		return Decimal{}
	}
	d, code, info, err := parseMoney(v.text)
	if err != nil {
		p.badNumber(f, v)
		return Decimal{}
	}
	if code == "" {
		code = v.currency
	}
	if code != "" && code != p.r.Currency {
		p.fail(f, CodeCurrency, "%s is in %s, not %s", v.label, code, p.r.Currency)
	}
	if p.sp.kplc && info.decimals == 1 {
		p.warn("%s printed with one decimal", v.label)
	}
	if p.sp.kplc && info.commas {
		p.warn("thousands separator in %s", v.label)
	}
	return d
}

func (p *parser) badNumber(f field, v value) {
	if hint := lookalikeHint(v.text); hint != "" {
		p.fail(f, CodeBadNumber, "%s is not a number (%s)", v.label, hint)
		return
	}
	p.fail(f, CodeBadNumber, "%s %q is not a number", v.label, v.text)
}

// missing reports absent required fields. A KPLC message that lacks its
// trailer and fields was cut short: the reason says where.
func (p *parser) missing() {
	var names []string
	for _, f := range p.sp.required {
		if f == fMeter && !p.sp.kplc {
			continue // meter reports it
		}
		if _, failed := p.fieldProbs[f]; failed {
			continue
		}
		switch v := p.lab.vals[f]; {
		case !v.set:
			names = append(names, p.sp.name(f))
		case v.text == "":
			names = append(names, v.label+" value")
		}
	}
	switch {
	case len(names) == 0:
	case !p.sp.kplc || p.r.trailer:
		p.failFront(Problem{Code: CodeMissingField, Text: joinAnd(names) + " missing"})
	default:
		p.failFront(Problem{Code: CodeTruncated, Text: p.truncation(names)})
	}
}

// truncation describes a message cut short. If the last field present has
// a bad value, the cut went through it, and its problem becomes part of
// the description.
func (p *parser) truncation(names []string) string {
	text := "truncated: "
	if i, ok := p.fieldProbs[p.lab.last]; ok && p.lab.vals[p.lab.last].text != "" {
		text += p.probs[i].Text + ", "
		p.probs = append(p.probs[:i], p.probs[i+1:]...)
		delete(p.fieldProbs, p.lab.last)
		if len(names) > 3 {
			return text + "fields missing"
		}
	}
	return text + joinAnd(names) + " missing"
}

// failFront puts a problem first: a missing field explains the rest.
func (p *parser) failFront(pr Problem) {
	p.probs = append([]Problem{pr}, p.probs...)
	for f := range p.fieldProbs {
		p.fieldProbs[f]++
	}
}

// timestamp takes the time from the message's date field, or else from a
// header with a full date (FORMATS.md §5.2).
func (p *parser) timestamp() {
	r, h := p.r, p.m.Header
	v := p.lab.vals[fDate]
	if v.set && v.text != "" {
		t, info, prob := parseDate(v.label, v.text, p.sp.zone)
		if prob != nil {
			p.failWith(fDate, *prob)
			return
		}
		r.Time, r.TimeSource = t, TimeFromDateField
		p.dateWarnings(v.label, info)
		return
	}
	switch {
	case h != nil && h.HasFullDate():
		r.Time, r.TimeSource = h.Time(p.sp.zone), TimeFromHeader
		p.warn("no Date field: time taken from phone header")
	case h != nil:
		r.TimeSource = TimeNone
		p.warn("no Date field and header has %s: timestamp unknown", h.shape())
	default:
		r.TimeSource = TimeNone
		p.warn("no Date field and no header: timestamp unknown")
	}
}

func (p *parser) dateWarnings(label string, info dateInfo) {
	switch {
	case info.seconds && info.offset:
		p.warn("%s has seconds and an explicit offset", label)
	case info.seconds:
		p.warn("%s has seconds", label)
	case info.offset:
		p.warn("%s has an explicit offset", label)
	}
	if info.dayFirst {
		p.warn("day-first date assumed")
	}
	h := p.m.Header
	if h == nil || !h.HasFullDate() {
		return
	}
	gap := h.Time(p.r.Time.Location()).Sub(p.r.Time)
	switch {
	case gap >= headerGapWarn:
		p.warn("header time is %s after %s field; %s field wins", formatGap(gap), label, label)
	case gap <= -headerGapWarn:
		p.warn("header time is %s before %s field; %s field wins", formatGap(-gap), label,
			label)
	}
}
