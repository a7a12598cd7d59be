package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// TokenMessage is what the vendor publishes on a meter's token topic: one
// token to be entered at the keypad. A redelivery repeats the vend ID and
// token with a higher attempt number.
type TokenMessage struct {
	// VendID identifies the vend in the vendor's ledger.
	VendID string `json:"vend_id"`
	// Token is the 20-digit token, no separators.
	Token string `json:"token"`
	// Attempt counts deliveries of this token, from 1.
	Attempt int `json:"attempt"`
	// IssuedAt is the wall time the vendor issued the token.
	IssuedAt time.Time `json:"issued_at"`
	// SimTime is the simulated time of the issue (the TID's time).
	SimTime time.Time `json:"sim_time"`
}

// ResultMessage is what a meter publishes on its result topic for every
// token it received over MQTT or at its keypad.
type ResultMessage struct {
	// VendID echoes the token message; empty for a token typed at the
	// keypad that did not come from the vendor.
	VendID string `json:"vend_id,omitempty"`
	// Token is the 20-digit token as entered.
	Token string `json:"token"`
	// Outcome is the name from the protocol's outcome table.
	Outcome string `json:"outcome"`
	// Class and SubClass are set when the token could be decoded.
	Class    *int `json:"class,omitempty"`
	SubClass *int `json:"subclass,omitempty"`
	// Credited is the amount the token added to a register, as a decimal
	// in Unit; "0" when it added nothing.
	Credited string `json:"credited"`
	// Unit is kWh, m3, min or a currency code.
	Unit string `json:"unit"`
	// SimTime is the meter's simulated time when it processed the token.
	SimTime time.Time `json:"sim_time"`
	// SentAt is the wall time the result was published.
	SentAt time.Time `json:"sent_at"`
}

// Telemetry is a meter's periodic reading. Every figure is cumulative, so a
// lost reading loses no total: the next one carries it.
type Telemetry struct {
	// DRN is the meter's decoder reference number.
	DRN string `json:"drn"`
	// Utility is electricity, water or gas.
	Utility string `json:"utility"`
	// Unit is the unit of every register figure: kWh or m3.
	Unit string `json:"unit"`
	// Seq increases by one with every reading the meter sends.
	Seq uint64 `json:"seq"`
	// Credited, Consumed, Cleared and Remaining are decimals in Unit;
	// Credited = Consumed + Remaining + Cleared holds exactly.
	Credited  string `json:"credited"`
	Consumed  string `json:"consumed"`
	Cleared   string `json:"cleared"`
	Remaining string `json:"remaining"`
	// Relay is "closed" (supply on) or "open" (supply cut).
	Relay string `json:"relay"`
	// RelayReason says why an open relay is open: no_credit,
	// power_limit or tamper; empty when closed.
	RelayReason string `json:"relay_reason,omitempty"`
	// LoadW is the instantaneous load in watts (litres per hour scaled
	// the same way for water and gas).
	LoadW float64 `json:"load_w"`
	// Tamper is the meter's tamper flag.
	Tamper bool `json:"tamper"`
	// Final marks the last reading of a run, sent at QoS 1.
	Final bool `json:"final,omitempty"`
	// SimTime is the simulated time of the reading.
	SimTime time.Time `json:"sim_time"`
	// SentAt is the wall time the reading was published.
	SentAt time.Time `json:"sent_at"`
}

// Status is the retained message on a meter's status topic. The broker
// publishes the offline form as the client's last will.
type Status struct {
	// State is "online" or "offline".
	State string `json:"state"`
	// At is the wall time of the change; zero in a last will.
	At time.Time `json:"at,omitzero"`
}

// Status states.
const (
	StateOnline  = "online"
	StateOffline = "offline"
)

// OfflineWill is the last-will payload of every meter.
var OfflineWill = []byte(`{"state":"offline"}`)

// Decode unmarshals a payload strictly: unknown fields are an error, and so
// is trailing data, so a sender that drifts from the contract is caught.
func Decode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode %T: %w", v, err)
	}
	if dec.More() {
		return fmt.Errorf("decode %T: trailing data after the JSON object", v)
	}
	return nil
}

// DecodeToken decodes and checks a token message.
func DecodeToken(data []byte) (TokenMessage, error) {
	var m TokenMessage
	if err := Decode(data, &m); err != nil {
		return m, err
	}
	if m.VendID == "" {
		return m, fmt.Errorf("decode token message: vend_id is empty")
	}
	if len(m.Token) != 20 {
		return m, fmt.Errorf("decode token message: token has %d characters, want 20",
			len(m.Token))
	}
	return m, nil
}

// DecodeResult decodes and checks a result message.
func DecodeResult(data []byte) (ResultMessage, error) {
	var m ResultMessage
	if err := Decode(data, &m); err != nil {
		return m, err
	}
	if _, err := sts.ParseOutcome(m.Outcome); err != nil {
		return m, fmt.Errorf("decode result message: outcome: %w", err)
	}
	return m, nil
}

// DecodeTelemetry decodes and checks a telemetry reading.
func DecodeTelemetry(data []byte) (Telemetry, error) {
	var m Telemetry
	if err := Decode(data, &m); err != nil {
		return m, err
	}
	if m.DRN == "" {
		return m, fmt.Errorf("decode telemetry: drn is empty")
	}
	return m, nil
}
