package receipts

import (
	"regexp"
	"strings"
	"time"
)

// Zones of the countries whose receipts are read. None of them observes
// daylight saving, so fixed offsets are exact (FORMATS.md §5.2).
var (
	zoneEAT  = time.FixedZone("EAT", 3*3600)
	zoneWAT  = time.FixedZone("WAT", 1*3600)
	zoneSAST = time.FixedZone("SAST", 2*3600)
)

// spec describes one receipt layout.
type spec struct {
	variant  Variant
	currency string
	zone     *time.Location
	labels   *labelSpec
	// required lists the fields a complete receipt carries.
	required []field
	// names gives the printed label of a field, for messages about it.
	names map[field]string
	// kplc marks the Kenya Power layouts: a trailer ends a complete
	// message, the amounts must add up, and print oddities are warned of.
	kplc bool
	// noMeter explains a missing meter number for this layout.
	noMeter string
}

var kplcNames = map[field]string{
	fMeter: "Mtr", fToken: "Token", fDate: "Date", fUnits: "Units", fAmount: "Amt",
	fTokenAmount: "TknAmt", fOtherCharges: "OtherCharges", fDebt: "Debt",
}

var plainLabels = &labelSpec{}

var kctLabels = &labelSpec{phrases: []phrase{
	{text: "update token meter yako:", f: fKnown},
	{text: "meter number:", f: fMeter},
	{text: "enter reset code:", f: fKCT1},
	{text: "enter update code:", f: fKCT2},
	{text: "enter electricity token:", f: fToken},
}}

var lukuLabels = &labelSpec{phrases: []phrase{
	{text: "tokeni 1:", f: fToken1},
	{text: "tokeni 2:", f: fToken2},
	{text: "tokeni 3:", f: fToken3},
	{text: "kwh", f: fUnits},
	{text: "tsh", f: fAmount, currency: "TZS"},
	{text: "tzs", f: fAmount, currency: "TZS"},
	{text: "kiasi", f: fAmount},
	{text: "vat", f: fVAT},
	{text: "tarehe", f: fDate},
}}

var (
	kplcRequired = []field{fMeter, fToken, fDate, fUnits, fAmount, fTokenAmount}
	kctRequired  = []field{fMeter, fKCT1, fKCT2, fToken, fUnits, fAmount, fTokenAmount}
	vendRequired = []field{fMeter, fToken, fUnits, fAmount}
)

var (
	specKPLC2023 = &spec{variant: VariantKPLC2023, currency: "KES", zone: zoneEAT,
		labels: plainLabels, required: kplcRequired, names: kplcNames, kplc: true}
	specKPLCMultiline = &spec{variant: VariantKPLC2023Multiline, currency: "KES",
		zone: zoneEAT, labels: plainLabels, required: kplcRequired, names: kplcNames,
		kplc: true}
	specKPLCLegacy = &spec{variant: VariantKPLCLegacy, currency: "KES", zone: zoneEAT,
		labels: plainLabels, required: kplcRequired, names: kplcNames, kplc: true}
	specKPLCKCT = &spec{variant: VariantKPLCKCT2024, currency: "KES", zone: zoneEAT,
		labels: kctLabels, required: kctRequired, kplc: true,
		names: map[field]string{fMeter: "Meter Number", fKCT1: "reset code",
			fKCT2: "update code", fToken: "electricity token", fUnits: "Units",
			fAmount: "Amt", fTokenAmount: "TknAmt", fOtherCharges: "OtherCharges"}}
	specZAReceipt = &spec{variant: VariantZAReceipt, currency: "ZAR", zone: zoneSAST,
		labels: plainLabels, required: vendRequired}
	specZASubmeter = &spec{variant: VariantZASubmeter, currency: "ZAR", zone: zoneSAST,
		labels: plainLabels, required: vendRequired,
		noMeter: "no meter number in the message (sub-meter SMS names only the token)"}
	specNGVend = &spec{variant: VariantNGVend, currency: "NGN", zone: zoneWAT,
		labels: plainLabels, required: vendRequired}
	specNGKCT = &spec{variant: VariantNGKCT, currency: "NGN", zone: zoneWAT,
		labels: plainLabels, required: append([]field{fKCT1, fKCT2}, vendRequired...)}
	specUGYaka = &spec{variant: VariantUGYaka, currency: "UGX", zone: zoneEAT,
		labels: plainLabels, required: vendRequired}
	specTZLuku = &spec{variant: VariantTZLuku, currency: "TZS", zone: zoneEAT,
		labels: lukuLabels, required: vendRequired,
		names: map[field]string{fMeter: "Mita", fToken: "Tokeni", fUnits: "KWH",
			fAmount: "TSH", fVAT: "VAT", fDate: "Tarehe"}}
)

// name returns how messages refer to f in this layout.
func (s *spec) name(f field) string {
	if n, ok := s.names[f]; ok {
		return n
	}
	return defaultNames[f]
}

var defaultNames = map[field]string{
	fMeter: "Meter", fToken: "Token", fKCT1: "KCT1", fKCT2: "KCT2", fDate: "Date",
	fUnits: "Units", fAmount: "Amount", fTokenAmount: "TknAmt",
	fOtherCharges: "OtherCharges", fVAT: "VAT", fDebt: "Debt", fToken1: "Tokeni 1",
	fToken2: "Tokeni 2", fToken3: "Tokeni 3",
}

// Nigerian distribution companies whose names mark a vend receipt.
var ngDiscos = []string{"ikedc", "ekedc", "aedc", "phed", "kedco", "ibedc", "eedc",
	"bedc", "kaedco", "yedc", "jedplc", "ikeja electric", "eko electric"}

// layout is what detect decides about a message.
type layout uint8

const (
	layoutLabelled layout = iota
	layoutFragment
	layoutPayment
	layoutNotice
	layoutSubmeter
	layoutUnknown
)

// detect picks the layout of a message body (trailer removed). The order
// matters: the key-change notice and the key-change receipt share their
// campaign name. KPLC receipts, by far the most common, are tried first.
func detect(body string, lines int) (layout, *spec) {
	switch {
	case body == "":
		return layoutFragment, nil
	case strings.HasPrefix(body, "Mtr:"):
		if lines > 1 {
			return layoutLabelled, specKPLCMultiline
		}
		return layoutLabelled, specKPLC2023
	}
	lower := strings.ToLower(body)
	switch {
	case strings.Contains(lower, "m-pesa") ||
		strings.Contains(lower, " confirmed.") && strings.Contains(lower, " sent to "):
		return layoutPayment, nil
	case strings.HasPrefix(lower, "update token meter yako"):
		return layoutLabelled, specKPLCKCT
	case strings.Contains(lower, "update token meter yako") && longestDigitRun(body) < 16:
		return layoutNotice, nil
	case strings.Contains(lower, "tanesco") || strings.Contains(lower, "luku") ||
		strings.Contains(lower, "tokeni"):
		return layoutLabelled, specTZLuku
	case strings.Contains(lower, "umeme") || strings.Contains(lower, "yaka!"):
		return layoutLabelled, specUGYaka
	case strings.HasPrefix(lower, "prepaid electricity meter"):
		return layoutLabelled, specZAReceipt
	case strings.Contains(lower, "kct1:"):
		return layoutLabelled, specNGKCT
	case strings.HasPrefix(lower, "token:") && strings.Contains(lower, "sgc"):
		return layoutSubmeter, specZASubmeter
	case isNigerianVend(lower):
		return layoutLabelled, specNGVend
	case strings.Contains(lower, "amount:r") || strings.Contains(lower, "amount: r"):
		return layoutLabelled, specZAReceipt
	}
	return layoutUnknown, nil
}

func isNigerianVend(lower string) bool {
	for _, d := range ngDiscos {
		if strings.Contains(lower, d) {
			return true
		}
	}
	return strings.Contains(lower, "amount: n") || strings.Contains(lower, "amount:n")
}

var (
	// M-PESA names the meter as the paybill account.
	mpesaAccount = regexp.MustCompile(`(?i)\bfor account (\d+)`)
	// The notice names the meter in running text.
	noticeMeter = regexp.MustCompile(`(?i)\bmeter (?:number )?(\d+)`)
	// The sub-meter reply: token groups, tariff index, supply group code,
	// kWh and a price in cents per kWh.
	submeterShape = regexp.MustCompile(
		`(?i)^token: ?([0-9][0-9 -]*[0-9])(?: t(\d+),? sgc (\d+))?(?: ([0-9.]+) ?kwh)?`)
)
