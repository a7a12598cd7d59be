package scenarios

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/protocol/wire"
	"github.com/stsfleet/stsfleet/simclock"
	"github.com/stsfleet/stsfleet/vending"
)

// System is the running product a scenario drives: a vendor and a broker,
// embedded or external, and the scenario's own fleet of meters. [Stack]
// is the implementation; tests wrap it to inject faults.
type System interface {
	// Meters returns the fleet's meters in fleet order, with their
	// decoder keys as injected.
	Meters() []MeterInfo
	// Clock is the simulated clock the run shares.
	Clock() *simclock.Clock
	// Vend buys credit through the vendor API. A refusal by a vending
	// rule is a [*Refusal].
	Vend(ctx context.Context, req vending.VendRequest) (*vending.VendResponse, error)
	// ChangeKey asks the vendor for a key change set, which it delivers
	// to the meter over MQTT.
	ChangeKey(ctx context.Context, drn string,
		req vending.KeyChangeRequest) (*vending.KeyChangeResponse, error)
	// VendorMeter is the vendor's view of one meter.
	VendorMeter(ctx context.Context, drn string) (*vending.MeterView, error)
	// Summary is the vendor's totals.
	Summary(ctx context.Context) (*vending.Summary, error)
	// Type enters a token at a meter's keypad and returns its answer.
	Type(ctx context.Context, drn, token string) (Result, error)
	// SetOnline takes a meter off the network or brings it back.
	SetOnline(ctx context.Context, drn string, online bool) error
	// StopFleet stops every meter, which saves its state; StartFleet
	// starts the fleet again from the saved state. The broker keeps the
	// meters' sessions meanwhile.
	StopFleet(ctx context.Context) error
	StartFleet(ctx context.Context) error
	// Republish publishes a token message to a meter's token topic as
	// the vendor does.
	Republish(ctx context.Context, drn string, msg wire.TokenMessage) error
	// Spoof connects with meter as's own credentials and publishes to
	// victim's topics of the given kinds (token, result).
	Spoof(ctx context.Context, as, victim string, kinds []wire.Kind) error
	// ACLRefusals returns the broker's publish and subscribe refusals so
	// far, and false when the broker does not say.
	ACLRefusals() (uint64, bool)
	// Results receives every result message a meter publishes for a
	// token it got over MQTT, from the moment the system started.
	SetResultHandler(func(Result))
	// Close stops everything the system started.
	Close(ctx context.Context) error
}

// MeterInfo is what a scenario knows of one meter: its identity and the
// decoder key it was made with, for tokens made offline. It is secret.
type MeterInfo struct {
	DRN      string
	Utility  vending.Utility
	EA       sts.EA
	KEN      uint8
	KeyType  uint8
	BaseDate sts.BaseDate
	Key      []byte
	Tables   *sts.Tables
}

// Result is a meter's answer to one token.
type Result struct {
	// DRN is the meter's; VendID is empty for a keypad entry.
	DRN, VendID, Token string
	Outcome            sts.Outcome
	// Decoded reports that the token decrypted with a matching CRC;
	// Class and SubClass are then known.
	Decoded  bool
	Class    sts.Class
	SubClass uint8
	// Credited is what the token added to a register, a decimal in
	// Unit ("0" when nothing).
	Credited, Unit string
}

// resultOf converts a result message.
func resultOf(drn string, m wire.ResultMessage) (Result, error) {
	o, err := sts.ParseOutcome(m.Outcome)
	if err != nil {
		return Result{}, err
	}
	r := Result{DRN: drn, VendID: m.VendID, Token: m.Token, Outcome: o, Credited: m.Credited,
		Unit: m.Unit}
	if m.Class != nil && m.SubClass != nil {
		r.Decoded, r.Class, r.SubClass = true, sts.Class(*m.Class), uint8(*m.SubClass)
	}
	return r, nil
}

// Refusal is a request the vendor refused by one of its rules.
type Refusal struct {
	Rule vending.Rule
	Msg  string
}

func (r *Refusal) Error() string { return fmt.Sprintf("vendor refused (%s): %s", r.Rule, r.Msg) }

// errNoToken reports a step that needs a token the meter does not have.
var errNoToken = errors.New("no such token")

// waitFor polls cond every few milliseconds until it holds, ctx ends or
// the deadline passes; it reports whether cond held.
func waitFor(ctx context.Context, deadline time.Duration, cond func() bool) bool {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return cond()
		case <-t.C:
		}
	}
	return true
}
