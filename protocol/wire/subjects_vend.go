package wire

import (
	"fmt"
	"strings"
	"time"
)

// VendEvent is what the vendor publishes on [ChannelVend] for every token it
// issues for credit, once the vend is in its ledger. Analytics joins it with
// the meter's result through VendID; both travel on the meter's partition.
type VendEvent struct {
	// VendID identifies the vend in the vendor's ledger; the token
	// message and the meter's result carry the same ID.
	VendID string `json:"vend_id"`
	// Meter is the DRN of the meter the token is for.
	Meter string `json:"meter"`
	// Utility is electricity, water or gas.
	Utility string `json:"utility"`
	// Units is the credit the token carries as the meter will add it
	// (the decoded, rounded-up amount), a decimal in Unit.
	Units string `json:"units"`
	// Unit is the unit of Units: kWh for electricity, m3 for water and gas.
	Unit string `json:"unit"`
	// Amount is what the customer paid, a decimal in Currency:
	// TokenAmount plus OtherCharges.
	Amount string `json:"amount"`
	// Currency is the ISO 4217 code of the amounts, such as KES.
	Currency string `json:"currency"`
	// TokenAmount is the part of Amount that bought the units.
	TokenAmount string `json:"token_amount"`
	// OtherCharges is the part of Amount that went to fixed charges and
	// levies; "0" when there are none.
	OtherCharges string `json:"other_charges"`
	// TID is the token identifier: minutes since the meter's base date.
	TID uint32 `json:"tid"`
	// IssuedAt is the wall time the vendor received the request.
	IssuedAt time.Time `json:"issued_at"`
	// SimTime is the simulated time of the issue (the TID's time).
	SimTime time.Time `json:"sim_time"`
}

// vendUnits maps each utility a vend event may name to its register unit.
var vendUnits = map[string]string{
	UtilityElectricity: UnitKWh, UtilityWater: UnitM3, UtilityGas: UnitM3,
}

// DecodeVend decodes and checks a vend event: the IDs are present, the
// meter is a DRN of 11 or 13 digits, the utility is known and matches the unit,
// every amount is a non-negative decimal and the issue time is set.
func DecodeVend(data []byte) (VendEvent, error) {
	var e VendEvent
	if err := Decode(data, &e); err != nil {
		return e, err
	}
	if err := e.check(); err != nil {
		return e, fmt.Errorf("decode vend event: %w", err)
	}
	return e, nil
}

func (e *VendEvent) check() error {
	if e.VendID == "" {
		return fmt.Errorf("vend_id is empty")
	}
	if n := len(e.Meter); n != 11 && n != 13 || strings.Trim(e.Meter, "0123456789") != "" {
		return fmt.Errorf("meter %q: want a DRN of 11 or 13 digits", e.Meter)
	}
	unit, ok := vendUnits[e.Utility]
	if !ok {
		return fmt.Errorf("utility %q: want electricity, water or gas", e.Utility)
	}
	if e.Unit != unit {
		return fmt.Errorf("unit %q: want %s for %s", e.Unit, unit, e.Utility)
	}
	if e.Currency == "" {
		return fmt.Errorf("currency is empty")
	}
	for _, f := range []struct{ name, v string }{
		{"units", e.Units}, {"amount", e.Amount},
		{"token_amount", e.TokenAmount}, {"other_charges", e.OtherCharges},
	} {
		if err := checkDecimal(f.v); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	if e.IssuedAt.IsZero() {
		return fmt.Errorf("issued_at is missing")
	}
	return nil
}

// checkDecimal reports an error unless s is a non-negative decimal written
// as digits with an optional point and fraction, such as "12" or "0.5".
func checkDecimal(s string) error {
	if s == "" {
		return fmt.Errorf("decimal is empty")
	}
	digits, point := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !point && digits > 0:
			point, digits = true, 0
		default:
			return fmt.Errorf("decimal %q: unexpected %q at %d", s, c, i)
		}
	}
	if digits == 0 {
		return fmt.Errorf("decimal %q: no digits after the point", s)
	}
	return nil
}
