package vending

import (
	"time"

	"github.com/stsfleet/stsfleet/protocol/wire"
)

// EventKind says what happened in an [Event].
type EventKind string

// Event kinds.
const (
	// EventVend: a vend was committed to the ledger: its tokens exist.
	EventVend EventKind = "vend"
	// EventRefusal: a request was refused by a rule.
	EventRefusal EventKind = "refusal"
	// EventResult: a token's first result arrived.
	EventResult EventKind = "result"
	// EventLost: the vendor gave up delivering a token.
	EventLost EventKind = "lost"
	// EventKeyChange: a meter accepted a key change set; the vendor now
	// vends under the new key.
	EventKeyChange EventKind = "key_change"
)

// Event is something the vendor did that others may want to know, such as
// analytics over NATS. Fields that do not apply to the kind are empty.
type Event struct {
	Kind   EventKind `json:"kind"`
	VendID string    `json:"vend_id,omitempty"`
	Meter  string    `json:"meter"`
	// VendKind is credit, management or key_change.
	VendKind string `json:"vend_kind,omitempty"`
	Token    string `json:"token,omitempty"`
	Seq      int    `json:"seq,omitempty"`
	// Utility, TID, Units, Unit and the amounts describe a credit vend.
	Utility      Utility `json:"utility,omitempty"`
	TID          uint32  `json:"tid,omitempty"`
	Units        string  `json:"units,omitempty"`
	Unit         string  `json:"unit,omitempty"`
	Amount       string  `json:"amount,omitempty"`
	TokenAmount  string  `json:"token_amount,omitempty"`
	OtherCharges string  `json:"other_charges,omitempty"`
	Currency     string  `json:"currency,omitempty"`
	// Outcome is the meter's outcome of a result event.
	Outcome string `json:"outcome,omitempty"`
	// Rule is the rule of a refusal.
	Rule Rule `json:"rule,omitempty"`
	// Attempts is how often the token had been published.
	Attempts int `json:"attempts,omitempty"`
	// At is the vendor's wall time of the event; SimTime its simulated
	// time (for a vend, the time its TID stands for).
	At      time.Time `json:"at"`
	SimTime time.Time `json:"sim_time,omitzero"`
	// ReceivedAt is when the vendor received the vend request.
	ReceivedAt time.Time `json:"received_at,omitzero"`
}

// WireVend returns a credit vend event as the NATS contract's
// [wire.VendEvent]; false for every other event.
func (e *Event) WireVend() (wire.VendEvent, bool) {
	if e.Kind != EventVend || e.VendKind != kindCredit {
		return wire.VendEvent{}, false
	}
	return wire.VendEvent{VendID: e.VendID, Meter: e.Meter, Utility: string(e.Utility),
		Units: e.Units, Unit: e.Unit, Amount: e.Amount, Currency: e.Currency,
		TokenAmount: e.TokenAmount, OtherCharges: e.OtherCharges, TID: e.TID,
		IssuedAt: e.ReceivedAt, SimTime: e.SimTime}, true
}

// EventSink receives the vendor's events. Vend events are emitted after
// their ledger commit; result, lost and key change events after the
// in-memory state changed, with their ledger write possibly still queued.
// Emit is called from request and worker goroutines concurrently and must
// not block: an implementation that forwards events over the network
// buffers them and does its own retrying and counting.
type EventSink interface {
	Emit(Event)
}

// noEvents is the sink used when none is configured.
type noEvents struct{}

func (noEvents) Emit(Event) {}
