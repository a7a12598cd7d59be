package receipts

import (
	"strings"
)

// field is a receipt field that a label maps to.
type field uint8

const (
	fNone field = iota
	fMeter
	fToken
	fKCT1
	fKCT2
	// fToken1 to fToken3 are numbered tokens ("Tokeni 1:"), entered in
	// order: two key-change codes, then the credit token.
	fToken1
	fToken2
	fToken3
	fDate
	fUnits
	fAmount
	fTokenAmount
	fOtherCharges
	fVAT
	fFuelEnergy
	fForex
	fEPRA
	fWRA
	fREP
	fInflationAdj
	fDebt
	// fKnown is a known label with no report column (a receipt number,
	// a tariff, an instruction step); it is kept without a warning.
	fKnown
	numFields
)

// chargeFields are the itemised charges of the older KPLC receipt, which
// add up to OtherCharges (FORMATS.md §2.4).
var chargeFields = []field{fVAT, fFuelEnergy, fForex, fEPRA, fWRA, fREP, fInflationAdj}

// synonyms maps lower-case one-word labels to fields. Label names of the
// older receipt are reconstructions, so several spellings are accepted.
var synonyms = map[string]field{
	"mtr": fMeter, "meter": fMeter, "meterno": fMeter, "mita": fMeter,
	"token": fToken, "tkn": fToken, "tokeni": fToken,
	"kct1": fKCT1, "kct2": fKCT2,
	"date": fDate, "tarehe": fDate,
	"units": fUnits, "unit": fUnits, "kwh": fUnits,
	"amt": fAmount, "amount": fAmount, "kiasi": fAmount,
	"tknamt": fTokenAmount, "tokenamt": fTokenAmount, "tokenamount": fTokenAmount,
	"othercharges": fOtherCharges, "othchg": fOtherCharges, "othercharge": fOtherCharges,
	"vat":   fVAT,
	"fcchg": fFuelEnergy, "fuelcost": fFuelEnergy, "fuelcostchg": fFuelEnergy,
	"fec": fFuelEnergy, "fuelenergy": fFuelEnergy, "fuelchg": fFuelEnergy,
	"forexchg": fForex, "forex": fForex, "ferfa": fForex, "ferfachg": fForex,
	"eprachg": fEPRA, "epra": fEPRA, "epralevy": fEPRA, "erc": fEPRA, "ercchg": fEPRA,
	"wrachg": fWRA, "wra": fWRA, "wralevy": fWRA, "warma": fWRA, "warmachg": fWRA,
	"repchg": fREP, "rep": fREP, "replevy": fREP,
	"infladj": fInflationAdj, "ia": fInflationAdj, "inflation": fInflationAdj,
	"inflationadj": fInflationAdj, "iachg": fInflationAdj,
	"debt": fDebt, "debtrecovery": fDebt,
	"receipt": fKnown, "receiptno": fKnown, "ref": fKnown, "tariff": fKnown, "sgc": fKnown,
	"step1": fKnown, "step2": fKnown, "step3": fKnown, "name": fKnown, "address": fKnown,
}

// phrase is a label of several words, or a bare word that needs no colon.
// text is lower case with single spaces.
type phrase struct {
	text     string
	f        field
	currency string
}

// labelSpec says which labels a layout uses besides the one-word
// "Label:" form, which every layout accepts.
type labelSpec struct {
	phrases []phrase
}

// value is what follows one label.
type value struct {
	set   bool
	label string
	text  string
	pos   int
	// spaced reports a space between the colon and the value.
	spaced bool
	// currency is implied by the label itself ("TSH 10,000.00").
	currency string
}

// Item is a Label:value pair that has no report column; it is kept on the
// [Receipt] rather than dropped.
type Item struct {
	Label string
	Value string
}

// labelled is a message cut at its labels.
type labelled struct {
	vals [numFields]value
	// unknown holds pairs whose label is not known.
	unknown []Item
	// known holds pairs of fKnown labels.
	known []Item
	// repeated is the first field label seen twice.
	repeated string
	// last is the field of the last label in the message.
	last field
}

// scanLabels cuts text at labels. A label starts a word: one of spec's
// phrases, or a letter followed by letters or digits and a colon. A
// value is the text up to the next label.
func scanLabels(text string, spec *labelSpec) labelled {
	var out labelled
	cur := value{}
	curField := fNone
	closeValue := func(end int) {
		if cur.label == "" {
			return
		}
		cur.text = strings.TrimSpace(text[cur.pos:end])
		out.store(curField, cur)
	}
	for i := 0; i < len(text); {
		if i > 0 && text[i-1] != ' ' {
			j := strings.IndexByte(text[i:], ' ')
			if j < 0 {
				break
			}
			i += j + 1
			continue
		}
		label, f, currency, end, ok := matchLabel(text, i, spec)
		if !ok {
			i++
			continue
		}
		closeValue(i)
		curField = f
		cur = value{set: true, label: label, pos: end, currency: currency,
			spaced: end < len(text) && text[end] == ' '}
		i = end
	}
	closeValue(len(text))
	return out
}

func (l *labelled) store(f field, v value) {
	switch f {
	case fNone:
		l.unknown = append(l.unknown, Item{Label: v.label, Value: v.text})
		return
	case fKnown:
		l.known = append(l.known, Item{Label: v.label, Value: v.text})
		return
	}
	if l.vals[f].set && l.repeated == "" {
		l.repeated = v.label
	}
	if !l.vals[f].set {
		l.vals[f] = v
	}
	l.last = f
}

// matchLabel tries a label at text[i:]. It returns the label as written,
// its field, a currency the label implies and where the value starts.
func matchLabel(text string, i int, spec *labelSpec) (string, field, string, int, bool) {
	rest := text[i:]
	for _, p := range spec.phrases {
		if !hasPrefixFold(rest, p.text) {
			continue
		}
		end := i + len(p.text)
		if !strings.HasSuffix(p.text, ":") {
			// A bare word must end there; a colon after it is allowed.
			if end < len(text) && text[end] != ' ' && text[end] != ':' {
				continue
			}
			if end < len(text) && text[end] == ':' {
				end++
			}
		}
		return strings.TrimSuffix(text[i:i+len(p.text)], ":"), p.f, p.currency, end, true
	}
	return matchWordLabel(text, i)
}

// matchWordLabel reads "Word:" or "Word :" at text[i:].
func matchWordLabel(text string, i int) (string, field, string, int, bool) {
	j := i
	if j >= len(text) || !isLetter(text[j]) {
		return "", 0, "", 0, false
	}
	for j < len(text) && isAlnum(text[j]) {
		j++
	}
	word := text[i:j]
	k := j
	if k < len(text) && text[k] == ' ' {
		k++
	}
	if k >= len(text) || text[k] != ':' {
		return "", 0, "", 0, false
	}
	return word, synonyms[strings.ToLower(word)], "", k + 1, true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// cutTrailer removes the USSD trailer ("For Details dial *977#") and
// reports whether there was one.
func cutTrailer(text string) (string, bool) {
	for _, t := range []string{"for details dial", "for help dial"} {
		i := lastIndexFold(text, t)
		if i < 0 {
			continue
		}
		rest := text[i+len(t):]
		end := strings.IndexByte(rest, '#')
		if end < 0 || strings.TrimSpace(rest[:end]) == "" ||
			strings.Trim(strings.TrimSpace(rest[:end]), "*0123456789") != "" {
			continue
		}
		after := strings.TrimSpace(rest[end+1:])
		return strings.TrimSpace(strings.TrimSpace(text[:i]) + " " + after), true
	}
	return text, false
}

// lastIndexFold is strings.LastIndex ignoring ASCII case. It works on bytes,
// so its index is valid in s whatever s holds.
func lastIndexFold(s, lowerSub string) int {
	for i := len(s) - len(lowerSub); i >= 0; i-- {
		if asciiEqualFold(s[i:i+len(lowerSub)], lowerSub) {
			return i
		}
	}
	return -1
}

func asciiEqualFold(s, lower string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// longestDigitRun returns the most digits found in one run of digits that
// may be broken by single dashes or spaces, as tokens are printed.
func longestDigitRun(s string) int {
	best, run := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			run++
			best = max(best, run)
		case (c == '-' || c == ' ') && run > 0 && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
		default:
			run = 0
		}
	}
	return best
}
