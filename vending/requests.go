package vending

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// Decimal is a decimal amount in a request. JSON may give it as a string
// ("100.00") or a number (100.00); either way its digits are read exactly,
// never through floating point.
type Decimal string

// UnmarshalJSON accepts a JSON string or number.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*d = Decimal(s)
		return nil
	}
	if len(b) == 0 || (b[0] < '0' || b[0] > '9') {
		// encoding/json adds the field name to this error type.
		return &json.UnmarshalTypeError{Value: "non-decimal", Type: reflect.TypeFor[Decimal]()}
	}
	*d = Decimal(b)
	return nil
}

// VendRequest is a credit purchase, the body of POST /v1/vend. Exactly one
// of Amount and Units is set.
type VendRequest struct {
	// Meter is the DRN.
	Meter string `json:"meter"`
	// Amount is the money paid, such as "100.00": the vendor sells the
	// units it buys under the meter's tariff.
	Amount Decimal `json:"amount,omitempty"`
	// Currency is the currency of Amount; empty means the tariff's.
	Currency string `json:"currency,omitempty"`
	// Units is the credit wanted, such as "5.0", in the meter's unit;
	// the vendor prices it.
	Units Decimal `json:"units,omitempty"`
}

// VendResponse is the answer to a vend: the token and its receipt.
type VendResponse struct {
	VendID string `json:"vend_id"`
	Meter  string `json:"meter"`
	// Token is the 20-digit token.
	Token string `json:"token"`
	// Units is the credit the token carries, in Unit.
	Units string `json:"units"`
	Unit  string `json:"unit"`
	TID   uint32 `json:"tid"`
	// Amount = TokenAmount + OtherCharges, in Currency.
	Amount       string `json:"amount"`
	TokenAmount  string `json:"token_amount"`
	OtherCharges string `json:"other_charges"`
	Currency     string `json:"currency"`
	Tariff       string `json:"tariff"`
	// SimTime is the simulated time the TID stands for.
	SimTime time.Time `json:"sim_time"`
	// Warning is set when the meter's TIDs near the end of its base date.
	Warning string `json:"warning,omitempty"`
	// Replayed reports a repeat of an earlier request under the same
	// Idempotency-Key; the HTTP API says so in the Idempotent-Replayed
	// header.
	Replayed bool `json:"-"`
}

// vendOrder is a checked VendRequest.
type vendOrder struct {
	meter    string
	money    bool
	amount   int64
	currency string
	units    uint64
}

func (r *VendRequest) order() (vendOrder, error) {
	o := vendOrder{meter: r.Meter, currency: r.Currency}
	if r.Meter == "" {
		return o, fieldErr("meter", "required: the meter's DRN")
	}
	if err := sts.ValidateDRN(r.Meter); err != nil {
		return o, &FieldError{Field: "meter", Err: err}
	}
	switch {
	case r.Amount != "" && r.Units != "":
		return o, fieldErr("units", "give amount or units, not both")
	case r.Amount == "" && r.Units == "":
		return o, fieldErr("amount", "required: give amount (money) or units (credit)")
	case r.Amount != "":
		a, err := parseMoney(string(r.Amount))
		if err != nil {
			return o, &FieldError{Field: "amount", Err: err}
		}
		o.money, o.amount = true, a
	default:
		if r.Currency != "" {
			return o, fieldErr("currency", "goes with amount; a units vend is priced by the tariff")
		}
		u, err := parseUnits(string(r.Units))
		if err != nil {
			return o, &FieldError{Field: "units", Err: err}
		}
		o.units = u
	}
	if r.Currency != "" && (len(r.Currency) != 3 || !isUpper(r.Currency)) {
		return o, fieldErr("currency", "%q: want a 3-letter ISO 4217 code", r.Currency)
	}
	return o, nil
}

// hash identifies the order for idempotency: the same request in any JSON
// spelling hashes the same.
func (o *vendOrder) hash() string {
	return requestHash("credit", o.meter, strconv.FormatBool(o.money),
		strconv.FormatInt(o.amount, 10), o.currency, strconv.FormatUint(o.units, 10))
}

func requestHash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Management functions of POST /v1/meters/{drn}/management.
const (
	FuncSetPowerLimit     = "set_power_limit"
	FuncClearCredit       = "clear_credit"
	FuncClearTamper       = "clear_tamper"
	FuncSetPhaseUnbalance = "set_phase_unbalance"
)

// ManagementRequest asks for a class 2 management token.
type ManagementRequest struct {
	// Function is set_power_limit, clear_credit, clear_tamper or
	// set_phase_unbalance.
	Function string `json:"function"`
	// Watts is the limit of set_power_limit and set_phase_unbalance.
	Watts *int64 `json:"watts,omitempty"`
	// Register is the ClearCredit register: 0 to 7 for one register,
	// 65535 (the default) for all (PROTOCOL.md §3.4).
	Register *int `json:"register,omitempty"`
}

// ManagementResponse is the answer to a management request.
type ManagementResponse struct {
	VendID   string `json:"vend_id"`
	Meter    string `json:"meter"`
	Function string `json:"function"`
	Token    string `json:"token"`
	TID      uint32 `json:"tid"`
	Class    int    `json:"class"`
	SubClass int    `json:"subclass"`
	// Watts is the limit the token carries, rounded up to what the amount
	// field holds (IEC 62055-41 §6.3.6).
	Watts *uint64 `json:"watts,omitempty"`
	// Register is the register a clear_credit token clears.
	Register *int      `json:"register,omitempty"`
	SimTime  time.Time `json:"sim_time"`
	Warning  string    `json:"warning,omitempty"`
	// Replayed reports a repeat of an earlier request under the same
	// Idempotency-Key; the HTTP API says so in the Idempotent-Replayed
	// header.
	Replayed bool `json:"-"`
}

// managementOrder is a checked ManagementRequest.
type managementOrder struct {
	function string
	subclass uint8
	value    uint16
	watts    *uint64
	register *int
}

func (r *ManagementRequest) order() (managementOrder, error) {
	o := managementOrder{function: r.Function}
	needWatts := false
	switch r.Function {
	case FuncSetPowerLimit:
		o.subclass, needWatts = sts.SubSetMaxPowerLimit, true
	case FuncSetPhaseUnbalance:
		o.subclass, needWatts = sts.SubSetMaxPhaseUnbalance, true
	case FuncClearCredit:
		o.subclass = sts.SubClearCredit
	case FuncClearTamper:
		o.subclass = sts.SubClearTamper
	case "":
		return o, fieldErr("function", "required: %s, %s, %s or %s", FuncSetPowerLimit,
			FuncClearCredit, FuncClearTamper, FuncSetPhaseUnbalance)
	default:
		return o, fieldErr("function", "%q: want %s, %s, %s or %s", r.Function,
			FuncSetPowerLimit, FuncClearCredit, FuncClearTamper, FuncSetPhaseUnbalance)
	}
	if needWatts {
		if r.Watts == nil {
			return o, fieldErr("watts", "required for %s", r.Function)
		}
		if *r.Watts < 0 || *r.Watts > sts.MaxAmount {
			return o, fieldErr("watts", "%d: want 0 to %d", *r.Watts, sts.MaxAmount)
		}
		f, _ := sts.EncodeAmount(uint64(*r.Watts))
		w := sts.DecodeAmount(f)
		o.value, o.watts = f, &w
	} else if r.Watts != nil {
		return o, fieldErr("watts", "does not apply to %s", r.Function)
	}
	if r.Function == FuncClearCredit {
		reg := sts.ClearAllRegisters
		if r.Register != nil {
			reg = *r.Register
			if (reg < 0 || reg > 7) && reg != sts.ClearAllRegisters {
				return o, fieldErr("register", "%d: want 0 to 7, or 65535 for all", reg)
			}
		}
		o.value, o.register = uint16(reg), &reg
	} else if r.Register != nil {
		return o, fieldErr("register", "does not apply to %s", r.Function)
	}
	return o, nil
}

func (o *managementOrder) hash(drn string) string {
	return requestHash("management", drn, o.function, strconv.Itoa(int(o.value)))
}

// KeyChangeRequest asks for a key change token set moving the meter to a
// new key. Every field is optional and defaults to the meter's current
// value; at least one must change the key.
type KeyChangeRequest struct {
	SGC *string `json:"sgc,omitempty"`
	TI  *int    `json:"ti,omitempty"`
	KRN *int    `json:"krn,omitempty"`
	KT  *int    `json:"kt,omitempty"`
	KEN *int    `json:"ken,omitempty"`
	// RO is the roll-over flag: the meter clears its TID memory. It is
	// required when the base date changes.
	RO *bool `json:"ro,omitempty"`
	// BaseDate is 1993, 2014 or 2035.
	BaseDate *int `json:"base_date,omitempty"`
}

// KeyIdentity is the part of a meter's identity a key change moves.
type KeyIdentity struct {
	SGC      string `json:"sgc"`
	TI       uint8  `json:"ti"`
	KRN      uint8  `json:"krn"`
	KT       uint8  `json:"kt"`
	KEN      uint8  `json:"ken"`
	BaseDate int    `json:"base_date"`
}

func identityOf(m *Meter) KeyIdentity {
	return KeyIdentity{SGC: m.SGC, TI: m.TI, KRN: m.KRN, KT: m.KT, KEN: m.KEN,
		BaseDate: m.BaseDate.Year()}
}

// KeyChangeResponse is the answer to a key change: the set, in entry
// order, encrypted under the meter's current key.
type KeyChangeResponse struct {
	VendID string      `json:"vend_id"`
	Meter  string      `json:"meter"`
	Tokens []string    `json:"tokens"`
	From   KeyIdentity `json:"from"`
	To     KeyIdentity `json:"to"`
	RO     bool        `json:"ro"`
	// Replayed reports a repeat of an earlier request under the same
	// Idempotency-Key; the HTTP API says so in the Idempotent-Replayed
	// header.
	Replayed bool `json:"-"`
}

// apply returns the meter with the request's changes, checked.
func (r *KeyChangeRequest) apply(cur Meter) (Meter, bool, error) {
	next := cur
	if r.SGC != nil {
		next.SGC = *r.SGC
	}
	for _, f := range []struct {
		name   string
		v      *int
		dst    *uint8
		lo, hi int
	}{
		{"ti", r.TI, &next.TI, 0, 99},
		{"krn", r.KRN, &next.KRN, 1, 9},
		{"kt", r.KT, &next.KT, 0, 3},
		{"ken", r.KEN, &next.KEN, 0, 255},
	} {
		if f.v == nil {
			continue
		}
		if *f.v < f.lo || *f.v > f.hi {
			return cur, false, fieldErr(f.name, "%d: want %d to %d", *f.v, f.lo, f.hi)
		}
		*f.dst = uint8(*f.v)
	}
	if r.BaseDate != nil {
		b, err := sts.ParseBaseDate(strconv.Itoa(*r.BaseDate))
		if err != nil {
			return cur, false, &FieldError{Field: "base_date", Err: err}
		}
		next.BaseDate = b
	}
	ro := r.RO != nil && *r.RO
	if err := next.Validate(); err != nil {
		return cur, false, err
	}
	if next.BaseDate != cur.BaseDate && !ro {
		return cur, false, fieldErr("ro", "must be true when base_date changes: the meter "+
			"clears its TID memory for the new base date")
	}
	if next.SGC != cur.SGC && cur.EA.KeyLen() == 8 {
		return cur, false, fieldErr("sgc", "a 64-bit (EA07) key change set carries no "+
			"supply group code")
	}
	return next, ro, nil
}

func (r *KeyChangeRequest) hash(drn string) string {
	parts := []string{"key_change", drn}
	for _, p := range []*int{r.TI, r.KRN, r.KT, r.KEN, r.BaseDate} {
		if p == nil {
			parts = append(parts, "-")
		} else {
			parts = append(parts, strconv.Itoa(*p))
		}
	}
	sgc, ro := "-", "-"
	if r.SGC != nil {
		sgc = *r.SGC
	}
	if r.RO != nil {
		ro = strconv.FormatBool(*r.RO)
	}
	return requestHash(append(parts, sgc, ro)...)
}

// DecodeVendRequest reads the body of POST /v1/vend strictly. Errors are
// [*FieldError] values naming the field where one is to blame.
func DecodeVendRequest(body []byte) (VendRequest, error) {
	var r VendRequest
	err := decodeStrict(body, &r)
	return r, err
}

// DecodeManagementRequest reads the body of a management request.
func DecodeManagementRequest(body []byte) (ManagementRequest, error) {
	var r ManagementRequest
	err := decodeStrict(body, &r)
	return r, err
}

// DecodeKeyChangeRequest reads the body of a key change request.
func DecodeKeyChangeRequest(body []byte) (KeyChangeRequest, error) {
	var r KeyChangeRequest
	err := decodeStrict(body, &r)
	return r, err
}
