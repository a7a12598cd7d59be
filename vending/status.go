package vending

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/vending/ledger"
)

// VendStatus is where a vend stands, GET /v1/vends/{id}.
type VendStatus struct {
	VendID string `json:"vend_id"`
	Meter  string `json:"meter"`
	// Kind is credit, management or key_change.
	Kind string `json:"kind"`
	// State is issued while a token waits for a result; then accepted,
	// delivered (the meter already held the token: used_error), rejected
	// (with the meter's outcome) or lost (no result after the last
	// attempt). A key change set is accepted when every section is.
	State string `json:"state"`
	// Delivered reports that the meter's result has arrived.
	Delivered bool `json:"delivered"`
	// Outcome is the meter's outcome: the rejecting one, or that of the
	// last token.
	Outcome string `json:"outcome,omitempty"`
	// Attempts is the highest number of publications of its tokens.
	Attempts int `json:"attempts"`
	// The receipt of a credit vend.
	Units        string `json:"units,omitempty"`
	Unit         string `json:"unit,omitempty"`
	Amount       string `json:"amount,omitempty"`
	TokenAmount  string `json:"token_amount,omitempty"`
	OtherCharges string `json:"other_charges,omitempty"`
	Currency     string `json:"currency,omitempty"`
	Tariff       string `json:"tariff,omitempty"`
	// ReceivedAt is the wall time of the request, SimTime the simulated
	// time then; each token's TID says which minute it carries.
	ReceivedAt time.Time `json:"received_at"`
	SimTime    time.Time `json:"sim_time"`
	// Tokens are the vend's tokens in entry order.
	Tokens []TokenStatus `json:"tokens"`
}

// TokenStatus is one token of a [VendStatus].
type TokenStatus struct {
	Token    string    `json:"token"`
	TID      *uint32   `json:"tid,omitempty"`
	Class    int       `json:"class"`
	SubClass int       `json:"subclass"`
	State    string    `json:"state"`
	Outcome  string    `json:"outcome,omitempty"`
	Attempts int       `json:"attempts"`
	IssuedAt time.Time `json:"issued_at"`
	// LastSentAt is the latest publication; ResultAt when the first
	// result arrived or the token was given up.
	LastSentAt time.Time `json:"last_sent_at,omitzero"`
	ResultAt   time.Time `json:"result_at,omitzero"`
}

// VendStatus returns a vend's delivery state. The in-memory state of a
// vend in delivery is newer than the ledger's by the writes still queued,
// so it takes precedence.
func (s *Service) VendStatus(ctx context.Context, id string) (*VendStatus, error) {
	// Memory first: a vend leaves memory only after the ledger has its
	// final state, so either the snapshot or the ledger read is current.
	var snap []outToken
	s.outMu.Lock()
	if ov := s.out[id]; ov != nil {
		for _, t := range ov.tokens {
			snap = append(snap, *t)
		}
	}
	s.outMu.Unlock()
	v, err := s.led.Vend(ctx, id)
	if errors.Is(err, ledger.ErrNotFound) {
		return nil, fmt.Errorf("vend %s: %w", id, ErrUnknownVend)
	}
	if err != nil {
		return nil, err
	}
	for i := range v.Tokens {
		if i < len(snap) {
			t := &snap[i]
			v.Tokens[i].State, v.Tokens[i].Outcome = t.state, t.outcome
			v.Tokens[i].Attempts = max(v.Tokens[i].Attempts, t.attempts)
		}
	}
	st := &VendStatus{VendID: v.ID, Meter: v.Meter, Kind: v.Kind, ReceivedAt: v.ReceivedAt,
		SimTime: v.SimAt}
	if v.Kind == kindCredit {
		st.Units, st.Unit, st.Tariff = formatUnits(v.Units), v.Unit, v.Tariff
		st.Amount, st.TokenAmount = formatMoney(v.Amount), formatMoney(v.TokenAmount)
		st.OtherCharges, st.Currency = formatMoney(v.OtherCharges), v.Currency
	}
	for _, t := range v.Tokens {
		ts := TokenStatus{Token: t.Token, Class: int(t.Class), SubClass: int(t.SubClass),
			State: string(t.State), Outcome: t.Outcome, Attempts: t.Attempts,
			IssuedAt: t.IssuedAt, LastSentAt: t.LastSentAt, ResultAt: t.ResultAt}
		if t.HasTID {
			tid := t.TID
			ts.TID = &tid
		}
		st.Attempts = max(st.Attempts, t.Attempts)
		st.Delivered = st.Delivered || t.State.Final()
		st.Tokens = append(st.Tokens, ts)
	}
	st.State, st.Outcome = vendState(v.Tokens)
	return st, nil
}

// vendState sums up the states of a vend's tokens.
func vendState(tokens []ledger.Token) (string, string) {
	has := func(s ledger.State) (bool, string) {
		for _, t := range tokens {
			if t.State == s {
				return true, t.Outcome
			}
		}
		return false, ""
	}
	for _, s := range []ledger.State{ledger.Issued, ledger.Rejected, ledger.Lost,
		ledger.Delivered} {
		if ok, outcome := has(s); ok {
			return string(s), outcome
		}
	}
	if len(tokens) == 0 {
		return string(ledger.Issued), ""
	}
	// A complete key change set: kct_pending for all but the section
	// that completed it.
	for _, t := range tokens {
		if t.Outcome == sts.Accept.String() {
			return string(ledger.Accepted), t.Outcome
		}
	}
	return string(ledger.Accepted), tokens[len(tokens)-1].Outcome
}

// ResendResponse is the answer to a resend.
type ResendResponse struct {
	VendID string `json:"vend_id"`
	Meter  string `json:"meter"`
	// Tokens are the tokens published again, with their attempt number.
	Tokens []ResentToken `json:"tokens"`
}

// ResentToken is one token of a [ResendResponse].
type ResentToken struct {
	Token   string `json:"token"`
	Attempt int    `json:"attempt"`
	State   string `json:"state"`
}

// Resend publishes the meter's latest vend again: all of its tokens,
// whatever their state, as for a customer who says nothing arrived. The
// meter's TID memory makes a copy of a credited token harmless
// (used_error), and a copy's result never changes a settled token.
func (s *Service) Resend(ctx context.Context, drn string) (*ResendResponse, error) {
	if s.pub == nil {
		return nil, fmt.Errorf("resend to meter %s: %w", drn, ErrNoDelivery)
	}
	m, err := s.meter(drn)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	id := m.lastVend
	m.mu.Unlock()
	if id == "" {
		return nil, fmt.Errorf("resend to meter %s: %w", drn, ErrNothingToResend)
	}
	now := s.wall()
	ds, resp, err := s.resendPlan(ctx, drn, id, now)
	if err != nil {
		return nil, err
	}
	ops := make([]ledger.Op, len(ds))
	for i, d := range ds {
		ops[i] = ledger.RecordAttempt(d.vend, d.seq, d.msg.Attempt, now, d.nextAt)
	}
	if err := s.led.Submit(ctx, ops...); err != nil {
		return nil, fmt.Errorf("resend to meter %s: %w", drn, err)
	}
	s.met.redeliveries.Add(float64(len(ds)))
	for _, d := range ds {
		if err := s.publish(ctx, d); err != nil {
			return nil, fmt.Errorf("resend to meter %s: %w", drn, err)
		}
	}
	return resp, nil
}

// resendPlan makes the deliveries of a resend: from the tokens in
// delivery when the vend is one, from the ledger otherwise.
func (s *Service) resendPlan(ctx context.Context, drn, id string,
	now time.Time) ([]delivery, *ResendResponse, error) {
	resp := &ResendResponse{VendID: id, Meter: drn}
	var ds []delivery
	s.outMu.Lock()
	if v := s.out[id]; v != nil {
		for _, t := range v.tokens {
			t.attempts++
			if t.state == ledger.Issued {
				t.nextAt = now.Add(s.cfg.Delivery.backoff(t.attempts))
			}
			ds = append(ds, delivery{meter: drn, vend: id, seq: t.seq,
				msg: v.message(t, t.attempts), nextAt: t.nextAt, redelivery: true})
			resp.Tokens = append(resp.Tokens, ResentToken{Token: t.token, Attempt: t.attempts,
				State: string(t.state)})
		}
		s.stats.redeliveries += int64(len(ds))
		s.outMu.Unlock()
		return ds, resp, nil
	}
	s.outMu.Unlock()
	v, err := s.led.Vend(ctx, id)
	if err != nil {
		return nil, nil, fmt.Errorf("resend to meter %s: %w", drn, err)
	}
	for _, t := range v.Tokens {
		msgVend := &outVend{id: id, issued: t.IssuedAt}
		ot := &outToken{token: t.Token, simTime: v.SimAt}
		ds = append(ds, delivery{meter: drn, vend: id, seq: t.Seq,
			msg: msgVend.message(ot, t.Attempts+1), nextAt: t.NextAttemptAt, redelivery: true})
		resp.Tokens = append(resp.Tokens, ResentToken{Token: t.Token, Attempt: t.Attempts + 1,
			State: string(t.State)})
	}
	s.outMu.Lock()
	s.stats.redeliveries += int64(len(ds))
	s.outMu.Unlock()
	return ds, resp, nil
}
