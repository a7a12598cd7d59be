package vending

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/protocol/wire"
	"github.com/stsfleet/stsfleet/vending/ledger"
	"golang.org/x/sync/errgroup"
)

// Publisher sends a message to the MQTT broker. Publish returns when the
// broker has the message at the given QoS (for QoS 1, its PUBACK), or
// with an error when ctx ends first. It must be safe for concurrent use.
// The mqttc client satisfies it.
type Publisher interface {
	Publish(ctx context.Context, topic string, qos byte, retained bool, payload []byte) error
}

// outVend is a vend with a token still in delivery, or a key change whose
// completion is still to be seen. Guarded by Service.outMu.
type outVend struct {
	id, meter, kind string
	// received is when the request arrived, issued when it committed.
	received, issued time.Time
	tokens           []*outToken
	// next is the identity a key change moves the meter to; nil for
	// other vends. roll reports that it changes the base date.
	next *Meter
	roll bool
	// applied is set once a key change took effect.
	applied bool
	// unwritten counts result writes queued for the ledger and not yet
	// committed; the vend stays in memory until they are.
	unwritten int
}

// outToken is one token in delivery.
type outToken struct {
	seq   int
	token string
	class sts.Class
	units uint64
	// utility is set for credit tokens.
	utility Utility
	simTime time.Time
	state   ledger.State
	outcome string
	// attempts counts publications; nextAt is when the token is due
	// again (zero when there is no publisher).
	attempts int
	nextAt   time.Time
}

// delivery is one publication to make.
type delivery struct {
	meter, vend string
	seq         int
	msg         wire.TokenMessage
	nextAt      time.Time
	// redelivery marks publications after the first.
	redelivery bool
}

// trackLocked registers a committed vend's tokens for delivery. The
// caller holds the meter's lock, so the vend is known before any result
// for it can be looked up.
func (s *Service) track(v *outVend) {
	s.outMu.Lock()
	s.out[v.id] = v
	s.stats.vended += int64(len(v.tokens))
	for _, t := range v.tokens {
		if t.class == sts.ClassCredit {
			s.stats.sold[t.utility] += t.units
		}
	}
	s.outMu.Unlock()
}

// trackLoaded registers a vend read from the ledger on start; its counts
// are already in the ledger's totals.
func (s *Service) trackLoaded(v *ledger.Vend) {
	ov := &outVend{id: v.ID, meter: v.Meter, kind: v.Kind, received: v.ReceivedAt}
	for _, t := range v.Tokens {
		u, _ := utilityOfSubClass(t.SubClass)
		ot := &outToken{seq: t.Seq, token: t.Token, class: sts.Class(t.Class), units: t.Units,
			utility: u, simTime: v.SimAt, state: t.State, outcome: t.Outcome,
			attempts: t.Attempts, nextAt: t.NextAttemptAt}
		if ot.nextAt.IsZero() && ot.state == ledger.Issued && s.pub != nil {
			// Issued while the vendor had no publisher: due now.
			ot.nextAt = s.wall()
		}
		if ot.class == sts.ClassCredit || t.HasTID {
			if m, err := s.meter(v.Meter); err == nil {
				ot.simTime = sts.TIDTime(t.TID, m.def.BaseDate)
			}
		}
		ov.issued = t.IssuedAt
		ov.tokens = append(ov.tokens, ot)
	}
	if v.Kind == kindKeyChange {
		var kc keyChangeDetail
		if err := json.Unmarshal(v.Detail, &kc); err == nil {
			ov.next, ov.roll = &kc.Next, kc.Roll
			if m, err := s.meter(v.Meter); err == nil && ov.open() {
				m.mu.Lock()
				m.keyChange = v.ID
				m.mu.Unlock()
			}
		}
	}
	s.outMu.Lock()
	s.out[v.ID] = ov
	s.outMu.Unlock()
}

// message returns the token message of a token at an attempt.
func (v *outVend) message(t *outToken, attempt int) wire.TokenMessage {
	return wire.TokenMessage{VendID: v.id, Token: t.token, Attempt: attempt,
		IssuedAt: v.issued, SimTime: t.simTime}
}

// publish makes one publication. A failure is counted and logged, and
// returned; the token's backoff retries it.
func (s *Service) publish(ctx context.Context, d delivery) error {
	payload, err := json.Marshal(d.msg)
	if err != nil {
		return fmt.Errorf("publish token for meter %s: %w", d.meter, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Delivery.PublishTimeout)
	defer cancel()
	topic := wire.Topic(d.meter, wire.KindToken)
	if err := s.pub.Publish(ctx, topic, 1, false, payload); err != nil {
		s.met.publishErrors.Inc()
		s.outMu.Lock()
		s.stats.publishErrors++
		s.outMu.Unlock()
		s.warn.Warn("publish token failed; it will be retried", "meter", d.meter,
			"vend", d.vend, "topic", topic, "err", err)
		return fmt.Errorf("publish token for meter %s: %w: %w", d.meter, ErrPublish, err)
	}
	s.log.Debug("token published", "meter", d.meter, "vend", d.vend, "attempt", d.msg.Attempt)
	return nil
}

// publishAll publishes deliveries, at most Delivery.Concurrency at once.
func (s *Service) publishAll(ctx context.Context, ds []delivery) {
	if len(ds) == 1 {
		s.publish(ctx, ds[0])
		return
	}
	var g errgroup.Group
	g.SetLimit(s.cfg.Delivery.Concurrency)
	for _, d := range ds {
		g.Go(func() error {
			// A failure is counted and logged by publish and retried
			// by the backoff; it must not stop the others.
			s.publish(ctx, d)
			return nil
		})
	}
	g.Wait()
}

// Tick publishes again every token whose wait for a result is over, and
// marks lost those past their last attempt. Run calls it every
// Delivery.TickInterval; tests call it directly with an injected clock.
func (s *Service) Tick(ctx context.Context) {
	if s.pub == nil {
		return
	}
	now := s.wall()
	var due []delivery
	var ops []ledger.Op
	var lost []Event
	var lostKC []*outVend
	s.outMu.Lock()
	for _, v := range s.out {
		for _, t := range v.tokens {
			if t.state != ledger.Issued || t.nextAt.IsZero() || now.Before(t.nextAt) {
				continue
			}
			if t.attempts >= s.cfg.Delivery.MaxAttempts {
				t.state = ledger.Lost
				s.stats.lost++
				ops = append(ops, ledger.MarkLost(v.id, t.seq, now))
				lost = append(lost, Event{Kind: EventLost, VendID: v.id, Meter: v.meter,
					VendKind: v.kind, Token: t.token, Seq: t.seq, Attempts: t.attempts,
					At: now})
				if v.next != nil {
					lostKC = append(lostKC, v)
				}
				continue
			}
			t.attempts++
			t.nextAt = now.Add(s.cfg.Delivery.backoff(t.attempts))
			due = append(due, delivery{meter: v.meter, vend: v.id, seq: t.seq,
				msg: v.message(t, t.attempts), nextAt: t.nextAt, redelivery: true})
			s.stats.redeliveries++
		}
	}
	s.outMu.Unlock()
	for _, d := range due {
		ops = append(ops, ledger.RecordAttempt(d.vend, d.seq, d.msg.Attempt, now, d.nextAt))
	}
	if len(ops) > 0 {
		if err := s.led.Enqueue(ctx, ops...); err != nil {
			s.log.Error("record delivery attempts", "err", err)
		}
	}
	s.met.redeliveries.Add(float64(len(due)))
	s.met.lost.Add(float64(len(lost)))
	for _, e := range lost {
		s.warn.Warn("token lost: no result after the last attempt", "meter", e.Meter,
			"vend", e.VendID, "attempts", e.Attempts)
		s.events.Emit(e)
	}
	for _, v := range lostKC {
		s.keyChangeSettled(v)
	}
	s.publishAll(ctx, due)
}

// resultIn is a result message as received.
type resultIn struct {
	drn     string
	payload []byte
	at      time.Time
}

// HandleResult takes a result message from a meter's result topic (the
// DRN is the topic's). It only queues the message, so it never blocks the
// MQTT client that calls it; Run's workers handle it, a meter's results
// in the order they arrived: a copy's used_error never overtakes the
// accept before it.
func (s *Service) HandleResult(drn string, payload []byte) {
	h := fnv.New32a()
	h.Write([]byte(drn))
	q := s.results[h.Sum32()%uint32(len(s.results))]
	q.Push(resultIn{drn: drn, payload: payload, at: s.wall()})
}

// handleResult settles a token with the meter's result. Only a token's
// first result counts: a copy's used_error after an accept changes
// nothing, and neither does any result for a settled token.
func (s *Service) handleResult(r resultIn) {
	msg, err := wire.DecodeResult(r.payload)
	if err != nil {
		s.met.results.WithLabelValues(resultMalformed).Inc()
		s.warn.Warn("malformed result message", "meter", r.drn, "err", err)
		return
	}
	outcome, _ := sts.ParseOutcome(msg.Outcome)
	s.outMu.Lock()
	v := s.out[msg.VendID]
	var t *outToken
	if v != nil {
		for _, c := range v.tokens {
			if c.token == msg.Token {
				t = c
			}
		}
	}
	switch {
	case msg.VendID == "" || v == nil || t == nil:
		s.outMu.Unlock()
		s.strayResult(r.drn, &msg)
		return
	case v.meter != r.drn:
		s.outMu.Unlock()
		s.met.results.WithLabelValues(resultForeign).Inc()
		s.warn.Warn("result from a meter for another meter's vend", "meter", r.drn,
			"vend", msg.VendID)
		return
	case t.state.Final():
		s.stats.duplicates++
		s.outMu.Unlock()
		s.met.results.WithLabelValues(resultDuplicate).Inc()
		return
	}
	state := ledger.Rejected
	switch {
	case outcome.Accepted():
		state = ledger.Accepted
	case outcome == sts.UsedError:
		// The meter holds this TID: a copy was credited and its accept
		// never reached us. It counts as delivered, never as credit
		// again.
		state = ledger.Delivered
	}
	s.settleLocked(v, t, state, msg.Outcome)
	attempts := t.attempts
	v.unwritten++
	s.outMu.Unlock()

	s.met.results.WithLabelValues(resultFirst).Inc()
	s.met.firstResults.WithLabelValues(msg.Outcome).Inc()
	// The latencies end at the meter's accept: a key change section's
	// kct_pending is taken, not yet credited.
	if outcome == sts.Accept {
		s.lat.record(LatencyIssueToCredit, r.at.Sub(v.issued))
		s.lat.record(LatencyVendToCredit, r.at.Sub(v.received))
		s.met.vendToCredit.Observe(r.at.Sub(v.received).Seconds())
	}
	// A settled vend leaves memory once the ledger has its result, so
	// that its status reads the same before and after. Lost tokens keep
	// their vend here, for a late result.
	op := ledger.RecordResult(v.id, t.seq, state, msg.Outcome, r.at)
	if err := s.led.EnqueueNotify(context.Background(), func(error) { s.forget(v) },
		op); err != nil {
		s.log.Error("record result", "vend", v.id, "err", err)
		s.forget(v)
	}
	s.events.Emit(Event{Kind: EventResult, VendID: v.id, Meter: v.meter, VendKind: v.kind,
		Token: t.token, Seq: t.seq, Outcome: msg.Outcome, Attempts: attempts, At: r.at,
		SimTime: msg.SimTime})
	if v.next != nil {
		s.keyChangeSettled(v)
	}
}

// strayResult classifies a result that matches no token in delivery: a
// duplicate for a token already settled (such as a copy's used_error), or
// unmatched (a token typed at the keypad, or unknown). Settled vends are
// not kept in memory, so the ledger is asked; strays are rare.
func (s *Service) strayResult(drn string, msg *wire.ResultMessage) {
	kind := resultUnmatched
	if msg.VendID != "" {
		v, err := s.led.Vend(context.Background(), msg.VendID)
		if err == nil && v.Meter == drn && slices.ContainsFunc(v.Tokens,
			func(t ledger.Token) bool { return t.Token == msg.Token }) {
			kind = resultDuplicate
		}
	}
	s.met.results.WithLabelValues(kind).Inc()
	if kind == resultDuplicate {
		s.outMu.Lock()
		s.stats.duplicates++
		s.outMu.Unlock()
		return
	}
	s.log.Debug("result for no vend in delivery", "meter", drn, "vend", msg.VendID)
}

// settleLocked moves a token to its first result and updates the totals.
func (s *Service) settleLocked(v *outVend, t *outToken, state ledger.State, outcome string) {
	if t.state == ledger.Lost {
		s.stats.lost--
	}
	t.state, t.outcome = state, outcome
	switch state {
	case ledger.Accepted:
		s.stats.accepted++
	case ledger.Delivered:
		s.stats.delivered++
	default:
		s.stats.rejected++
		s.stats.rejectedBy[outcome]++
	}
	if t.class == sts.ClassCredit && state != ledger.Rejected {
		s.stats.credited[t.utility] += t.units
	}
}

// open reports whether a token of v still waits for a result.
func (v *outVend) open() bool {
	for _, t := range v.tokens {
		if t.state == ledger.Issued {
			return true
		}
	}
	return false
}

// forget notes that a result write of v is done, and drops v from the
// tokens in delivery once it is settled and the ledger has every result.
func (s *Service) forget(v *outVend) {
	s.outMu.Lock()
	v.unwritten--
	if v.unwritten == 0 && v.settled() {
		delete(s.out, v.id)
	}
	s.outMu.Unlock()
}

// settled reports whether every token of v has its first result.
func (v *outVend) settled() bool {
	for _, t := range v.tokens {
		if !t.state.Final() {
			return false
		}
	}
	return true
}

// pendingCount counts the tokens waiting for a result, from the tokens in
// delivery rather than from the totals.
func (s *Service) pendingCount() int64 {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	var n int64
	for _, v := range s.out {
		for _, t := range v.tokens {
			if t.state == ledger.Issued {
				n++
			}
		}
	}
	return n
}

// Summary returns the vendor's totals.
func (s *Service) Summary() Summary {
	pending := s.pendingCount()
	sum := Summary{Meters: s.meterCount(), TokensPending: pending, Latency: s.lat.summary()}
	s.outMu.Lock()
	c := &s.stats
	sum.TokensVended, sum.TokensAccepted, sum.TokensDelivered = c.vended, c.accepted,
		c.delivered
	sum.TokensRejected, sum.TokensLost = c.rejected, c.lost
	sum.Redeliveries, sum.PublishErrors, sum.DuplicateResults = c.redeliveries,
		c.publishErrors, c.duplicates
	sum.RejectedByOutcome = make(map[string]int64, len(c.rejectedBy))
	for k, v := range c.rejectedBy {
		sum.RejectedByOutcome[k] = v
	}
	sum.Refusals = make(map[Rule]int64, len(c.refusals))
	for k, v := range c.refusals {
		sum.Refusals[k] = v
	}
	sum.Sold, sum.Credited = map[Utility]string{}, map[Utility]string{}
	for _, u := range Utilities {
		sum.Sold[u], sum.Credited[u] = formatUnits(c.sold[u]), formatUnits(c.credited[u])
	}
	s.outMu.Unlock()
	return sum
}
