package receipts

import (
	"strconv"
	"strings"
	"time"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// Columns are the report columns, in order (FORMATS.md §5.3). The clean
// CSV and XLSX use the same columns.
var Columns = []string{
	"line", "part", "status", "reason", "variant", "kind", "meter", "token", "kct1", "kct2",
	"units_kwh", "amount", "currency", "token_amount", "other_charges", "vat", "fuel_energy",
	"forex", "epra", "wra", "rep", "inflation_adj", "debt", "timestamp", "ts_source",
	"warnings",
}

// Receipt is the checked reading of one message part: one report row.
// Fields a layout does not carry stay empty (an absent [Decimal], "").
// A rejected or skipped row keeps only its meter and token, each only
// where it passes its own check.
type Receipt struct {
	// Line is the 1-based line where the message starts; Part is "" or
	// "a", "b", ... for glued messages.
	Line int
	Part string

	Status Status
	// Code names the cause of a non-accept status; Reason explains it.
	Code   ReasonCode
	Reason string

	Variant Variant
	Kind    Kind

	// Meter is the meter number (decoder reference number), 11 or 13
	// digits with a valid Luhn check digit.
	Meter string
	// Token is the credit token as 20 digits; KCT1 and KCT2 are the two
	// key-change codes, in the order they must be entered.
	Token, KCT1, KCT2 string

	// Units is the energy bought, in kWh.
	Units Decimal
	// Amount is the money paid, in Currency (ISO 4217 code).
	Amount   Decimal
	Currency string
	// TokenAmount is the part of Amount that bought energy; OtherCharges
	// all the rest except Debt (given, or derived and said so in Warnings).
	TokenAmount, OtherCharges Decimal
	// Itemised charges of the older KPLC receipt, and VAT of others.
	VAT, FuelEnergy, Forex, EPRA, WRA, REP, InflationAdj Decimal
	// Debt is the share of Amount that repaid a debt.
	Debt Decimal

	// Time is the purchase time in the receipt's own zone; it is zero when
	// TimeSource is [TimeNone].
	Time       time.Time
	TimeSource TimeSource

	// Warnings note anything unusual about an accepted row.
	Warnings []string
	// Extra keeps Label:value pairs that have no column.
	Extra []Item

	// What the duplicate check compares besides the token.
	tokenValue sts.Token
	tokenForm  tokenForm
	multiline  bool
	trailer    bool
}

// tokenForm is how the credit token was printed.
type tokenForm uint8

const (
	formPlain tokenForm = iota
	formDashed
	formSpaced
)

func formOf(raw string) tokenForm {
	switch {
	case strings.Contains(raw, "-"):
		return formDashed
	case strings.Contains(raw, " "):
		return formSpaced
	}
	return formPlain
}

// Accepted reports whether r goes to the clean output.
func (r *Receipt) Accepted() bool { return r.Status == StatusAccept }

// Dated reports whether r has a known purchase time.
func (r *Receipt) Dated() bool { return r.TimeSource != TimeNone && !r.Time.IsZero() }

// Record returns the row's cells in [Columns] order.
func (r *Receipt) Record() []string {
	ts := ""
	if r.Dated() {
		ts = r.Time.Format(time.RFC3339)
	}
	line := ""
	if r.Line > 0 {
		line = strconv.Itoa(r.Line)
	}
	return []string{
		line, r.Part, string(r.Status), r.Reason, string(r.Variant), string(r.Kind),
		r.Meter, r.Token, r.KCT1, r.KCT2, r.Units.String(), r.Amount.String(), r.Currency,
		r.TokenAmount.String(), r.OtherCharges.String(), r.VAT.String(),
		r.FuelEnergy.String(), r.Forex.String(), r.EPRA.String(), r.WRA.String(),
		r.REP.String(), r.InflationAdj.String(), r.Debt.String(), ts, string(r.TimeSource),
		strings.Join(r.Warnings, "; "),
	}
}

// Decimals returns the row's decimal columns keyed by column name, for
// typed writers.
func (r *Receipt) Decimals() map[string]Decimal {
	return map[string]Decimal{
		"units_kwh": r.Units, "amount": r.Amount, "token_amount": r.TokenAmount,
		"other_charges": r.OtherCharges, "vat": r.VAT, "fuel_energy": r.FuelEnergy,
		"forex": r.Forex, "epra": r.EPRA, "wra": r.WRA, "rep": r.REP,
		"inflation_adj": r.InflationAdj, "debt": r.Debt,
	}
}

// keepIdentity clears everything but the row's identity, its status and
// its already checked meter and token: the shape of a rejected or skipped
// row.
func (r *Receipt) keepIdentity() {
	*r = Receipt{Line: r.Line, Part: r.Part, Status: r.Status, Code: r.Code,
		Reason: r.Reason, Variant: r.Variant, Kind: r.Kind, Meter: r.Meter, Token: r.Token}
}
