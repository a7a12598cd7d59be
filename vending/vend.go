package vending

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/vending/ledger"
)

// Vend kinds, as the ledger records them.
const (
	kindCredit     = "credit"
	kindManagement = "management"
	kindKeyChange  = "key_change"
)

// keyChangeDetail is the ledger detail of a key change vend: what the
// meter becomes once it accepts the set.
type keyChangeDetail struct {
	Next Meter `json:"next"`
	// Roll reports a change of base date: the TID count restarts.
	Roll bool `json:"roll"`
	RO   bool `json:"ro"`
}

// plan is a vend prepared under its meter's lock, ready to commit.
type plan struct {
	vend  *ledger.Vend
	state ledger.MeterState
	out   *outVend
	// apply updates the meter after the commit, under its lock.
	apply func()
	// warning is a TID roll-over warning to log.
	warning string
}

// builder prepares a plan at simulated time sim and wall time now, with
// the meter's lock held.
type builder func(sim, now time.Time) (*plan, error)

// execute runs one vend against a meter: build the plan under the meter's
// lock, commit it to the ledger, and only then track and publish its
// tokens. The lock is held through the commit, so the meter's TIDs reach
// the ledger in the order they were allocated.
func (s *Service) execute(ctx context.Context, m *meterState, build builder) (*plan, error) {
	m.mu.Lock()
	start := s.wall()
	p, err := build(s.clock.Now(), start)
	if err != nil {
		m.mu.Unlock()
		return nil, err
	}
	err = s.led.Submit(ctx, ledger.InsertVend(p.vend, p.state))
	issued := s.wall()
	s.met.ledgerWrite.Observe(issued.Sub(start).Seconds())
	if err != nil {
		m.mu.Unlock()
		return nil, fmt.Errorf("record vend for meter %s: %w", p.vend.Meter, err)
	}
	p.apply()
	p.out.issued = issued
	for _, t := range p.out.tokens {
		if s.pub != nil {
			t.attempts, t.nextAt = 1, issued.Add(s.cfg.Delivery.InitialBackoff)
		}
	}
	s.track(p.out)
	m.mu.Unlock()

	for _, t := range p.out.tokens {
		s.lat.record(LatencyVendToIssue, issued.Sub(p.out.received))
		s.met.tokensIssued.WithLabelValues(t.class.String()).Inc()
	}
	if p.warning != "" {
		s.met.tidWarnings.Inc()
		s.warn.Warn("meter's TIDs near the end of its base date", "meter", p.vend.Meter,
			"vend", p.vend.ID, "warning", p.warning)
	}
	s.events.Emit(vendEvent(p, issued))
	if s.pub != nil {
		// In entry order: a key change set reaches the meter as a
		// customer would type it. The vend is committed: its tokens
		// go out even if the client stops waiting (the publish
		// timeout still bounds each).
		pctx := context.WithoutCancel(ctx)
		for _, t := range p.out.tokens {
			s.publish(pctx, delivery{meter: p.out.meter, vend: p.out.id, seq: t.seq,
				msg: p.out.message(t, 1)})
		}
	}
	return p, nil
}

func vendEvent(p *plan, at time.Time) Event {
	v := p.vend
	e := Event{Kind: EventVend, VendID: v.ID, Meter: v.Meter, VendKind: v.Kind, At: at,
		SimTime: v.SimAt, ReceivedAt: v.ReceivedAt}
	if len(v.Tokens) == 1 {
		e.Token, e.TID, e.SimTime = v.Tokens[0].Token, v.Tokens[0].TID, p.out.tokens[0].simTime
	}
	if v.Kind == kindCredit {
		e.Utility = p.out.tokens[0].utility
		e.Units, e.Unit = formatUnits(v.Units), v.Unit
		e.Amount, e.TokenAmount = formatMoney(v.Amount), formatMoney(v.TokenAmount)
		e.OtherCharges, e.Currency = formatMoney(v.OtherCharges), v.Currency
	}
	return e
}

// newPlan assembles the parts every kind of vend shares. tokens are the
// encoded tokens with their fields; tid is the TID they carry, or -1.
func (s *Service) newPlan(m *meterState, kind, key, hash string, received, sim, now time.Time,
	fields []sts.Fields, tokens []sts.Token, tid int64) *plan {
	id := s.newID()
	v := &ledger.Vend{ID: id, Meter: m.def.DRN, Kind: kind, IdempotencyKey: key,
		RequestHash: hash, ReceivedAt: received, SimAt: sim}
	ov := &outVend{id: id, meter: m.def.DRN, kind: kind, received: received}
	for i := range tokens {
		f := &fields[i]
		lt := ledger.Token{Seq: i, Token: tokens[i].String(), Class: uint8(f.Class),
			SubClass: f.SubClass, TID: f.TID, HasTID: f.HasTID(), State: ledger.Issued,
			IssuedAt: now}
		ot := &outToken{seq: i, token: lt.Token, class: f.Class, state: ledger.Issued,
			simTime: sim}
		if f.HasTID() {
			ot.simTime = sts.TIDTime(f.TID, m.def.BaseDate)
		}
		if f.Class == sts.ClassCredit {
			lt.Units = sts.DecodeAmount(f.Value)
			ot.units, ot.utility = lt.Units, m.def.Utility
		}
		if s.pub != nil {
			lt.Attempts, lt.LastSentAt = 1, now
			lt.NextAttemptAt = now.Add(s.cfg.Delivery.InitialBackoff)
		}
		v.Tokens = append(v.Tokens, lt)
		ov.tokens = append(ov.tokens, ot)
	}
	st := ledger.MeterState{DRN: m.def.DRN, LastTID: m.lastTID, Month: m.month,
		MonthUnits: m.monthUnits, LastVend: id}
	if tid >= 0 {
		st.LastTID = tid
	}
	p := &plan{vend: v, state: st, out: ov}
	// The builder may still change p.state; apply reads it after commit.
	p.apply = func() {
		m.lastTID, m.month, m.monthUnits, m.lastVend = p.state.LastTID, p.state.Month,
			p.state.MonthUnits, id
	}
	return p
}

// checkTIDLocked allocates the next TID and applies the rules that need
// it: the key's expiry first (the vendor must refuse to generate a token
// the meter would answer with key_expired_error, STS 531 CTSA16).
func (s *Service) checkTIDLocked(m *meterState, sim time.Time) (uint32, error) {
	tid, err := nextTID(sim, m.def.BaseDate, m.lastTID)
	if err != nil {
		return 0, err
	}
	// PROTOCOL.md §4: a token is valid only while TID >> 16 ≤ KEN.
	if sts.KeyExpired(tid, m.def.KEN) {
		return 0, ruleErr(RuleKeyExpired, "TID %d (%s) is past the key's expiry number "+
			"KEN %d (TID>>16 = %d): a key change to a key with a later KEN is due", tid,
			sts.TIDTime(tid, m.def.BaseDate).Format("2006-01-02 15:04"), m.def.KEN, tid>>16)
	}
	return tid, nil
}

func (s *Service) checkNoKeyChangeLocked(m *meterState) error {
	if m.keyChange != "" {
		return ruleErr(RuleKeyChangePending, "key change %s is waiting for the meter's "+
			"answer; tokens under either key could fail until then", m.keyChange)
	}
	return nil
}

func randomNibble() uint8 { return uint8(rand.IntN(16)) }

// Vend sells credit to a meter. With an idempotency key, a repeat of the
// same request returns the first vend (Replayed set) and one with a
// different request fails with [ErrIdempotencyConflict].
func (s *Service) Vend(ctx context.Context, req VendRequest, key string) (*VendResponse, error) {
	body, replayed, err := s.vend(ctx, req, key)
	if err != nil {
		return nil, err
	}
	return storedVend(body, replayed)
}

// storedVend reads a vend's response as the ledger keeps it.
func storedVend(body []byte, replayed bool) (*VendResponse, error) {
	var resp VendResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("vend: stored response: %w", err)
	}
	resp.Replayed = replayed
	return &resp, nil
}

// vend is [Service.Vend] answering with the response as the ledger keeps
// it, the JSON of a [VendResponse], which the HTTP API sends as it is.
func (s *Service) vend(ctx context.Context, req VendRequest, key string) (body []byte,
	replayed bool, err error) {
	received := s.wall()
	o, err := req.order()
	if err == nil {
		err = checkIdempotencyKey(key)
	}
	if err != nil {
		s.countFailure(req.Meter, err)
		return nil, false, err
	}
	hash := o.hash()
	body, replayed, err = s.once(ctx, key, hash, func() ([]byte, error) {
		p, err := s.vendCredit(ctx, &o, key, hash, received)
		if err != nil {
			return nil, err
		}
		return p.vend.Response, nil
	})
	if err != nil {
		s.countFailure(req.Meter, err)
		return nil, false, err
	}
	s.countSuccess(replayed)
	return body, replayed, nil
}

func (s *Service) vendCredit(ctx context.Context, o *vendOrder, key, hash string,
	received time.Time) (*plan, error) {
	m, err := s.meter(o.meter)
	if err != nil {
		return nil, &FieldError{Field: "meter", Err: err}
	}
	return s.execute(ctx, m, func(sim, now time.Time) (*plan, error) {
		def := &m.def
		pr := s.pricer(def.Tariff)
		if pr == nil {
			return nil, fmt.Errorf("vend for meter %s: tariff %q is not loaded", def.DRN,
				def.Tariff)
		}
		if o.currency != "" && o.currency != pr.tariff.Currency {
			return nil, fieldErr("currency", "%s: meter %s is priced in %s", o.currency,
				def.DRN, pr.tariff.Currency)
		}
		tid, err := s.checkTIDLocked(m, sim)
		if err != nil {
			return nil, err
		}
		if def.KT == sts.KeyTypeDDTK {
			return nil, ruleErr(RuleDDTK, "meter %s holds a default key (DDTK), under which "+
				"it refuses credit (ddtk_error): key change it to a DUTK first", def.DRN)
		}
		if err := s.checkNoKeyChangeLocked(m); err != nil {
			return nil, err
		}
		month := monthOf(sim)
		bought := m.monthUnitsLocked(month)
		var q Quote
		if o.money {
			q, err = pr.quoteMoney(bought, o.amount)
		} else {
			q, err = pr.quoteUnits(bought, o.units)
		}
		if err != nil {
			return nil, err
		}
		c, err := s.cipherLocked(m)
		if err != nil {
			return nil, err
		}
		field, err := sts.EncodeAmount(q.Units)
		if err != nil {
			return nil, ruleErr(RuleAboveMaximum, "%v", err)
		}
		f := sts.Fields{Class: sts.ClassCredit, SubClass: def.Utility.SubClass(),
			RND: randomNibble(), TID: tid, Value: field}
		tok, err := sts.Encode(c, &f)
		if err != nil {
			return nil, fmt.Errorf("vend for meter %s: %w", def.DRN, err)
		}
		p := s.newPlan(m, kindCredit, key, hash, received, sim, now, []sts.Fields{f},
			[]sts.Token{tok}, int64(tid))
		p.state.Month, p.state.MonthUnits = month, bought+q.Units
		v := p.vend
		v.Units, v.Unit, v.Currency, v.Tariff = sts.DecodeAmount(field), def.Utility.Unit(),
			pr.tariff.Currency, def.Tariff
		v.Amount, v.TokenAmount, v.OtherCharges = q.Amount, q.TokenAmount, q.OtherCharges
		p.warning = tidWarning(tid, def.BaseDate, s.cfg.TIDWarning)
		resp := VendResponse{VendID: v.ID, Meter: def.DRN, Token: v.Tokens[0].Token,
			Units: formatUnits(v.Units), Unit: v.Unit, TID: tid, Amount: formatMoney(q.Amount),
			TokenAmount: formatMoney(q.TokenAmount), OtherCharges: formatMoney(q.OtherCharges),
			Currency: v.Currency, Tariff: v.Tariff, SimTime: p.out.tokens[0].simTime,
			Warning: p.warning}
		v.Response, err = json.Marshal(resp)
		return p, err
	})
}

// issueOnce runs one idempotent request that plans tokens for a meter:
// under the idempotency key, the meter's plan is made and executed once,
// and a repeat gets the stored response back (replayed). A failure is
// counted against the meter.
func (s *Service) issueOnce(ctx context.Context, drn, key, hash string,
	planFor func(m *meterState, sim, now time.Time) (*plan, error)) ([]byte, bool, error) {
	body, replayed, err := s.once(ctx, key, hash, func() ([]byte, error) {
		m, err := s.meter(drn)
		if err != nil {
			return nil, err
		}
		p, err := s.execute(ctx, m, func(sim, now time.Time) (*plan, error) {
			return planFor(m, sim, now)
		})
		if err != nil {
			return nil, err
		}
		return p.vend.Response, nil
	})
	if err != nil {
		s.countFailure(drn, err)
	}
	return body, replayed, err
}

// Manage issues a class 2 management token to a meter.
func (s *Service) Manage(ctx context.Context, drn string, req ManagementRequest,
	key string) (*ManagementResponse, error) {
	received := s.wall()
	o, err := req.order()
	if err == nil {
		err = checkIdempotencyKey(key)
	}
	if err != nil {
		s.countFailure(drn, err)
		return nil, err
	}
	hash := o.hash(drn)
	body, replayed, err := s.issueOnce(ctx, drn, key, hash,
		func(m *meterState, sim, now time.Time) (*plan, error) {
			return s.planManagement(m, &o, key, hash, received, sim, now)
		})
	if err != nil {
		return nil, err
	}
	var resp ManagementResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("manage: stored response: %w", err)
	}
	resp.Replayed = replayed
	s.countSuccess(replayed)
	return &resp, nil
}

func (s *Service) planManagement(m *meterState, o *managementOrder, key, hash string,
	received, sim, now time.Time) (*plan, error) {
	// Management tokens are taken under every key type, a DDTK included
	// (PROTOCOL.md §8.1), but they carry a TID and so obey the KEN.
	tid, err := s.checkTIDLocked(m, sim)
	if err != nil {
		return nil, err
	}
	if err := s.checkNoKeyChangeLocked(m); err != nil {
		return nil, err
	}
	c, err := s.cipherLocked(m)
	if err != nil {
		return nil, err
	}
	f := sts.Fields{Class: sts.ClassManagement, SubClass: o.subclass, RND: randomNibble(),
		TID: tid, Value: o.value}
	tok, err := sts.Encode(c, &f)
	if err != nil {
		return nil, fmt.Errorf("management token for meter %s: %w", m.def.DRN, err)
	}
	p := s.newPlan(m, kindManagement, key, hash, received, sim, now, []sts.Fields{f},
		[]sts.Token{tok}, int64(tid))
	p.vend.Detail, _ = json.Marshal(map[string]any{"function": o.function, "value": o.value})
	p.warning = tidWarning(tid, m.def.BaseDate, s.cfg.TIDWarning)
	resp := ManagementResponse{VendID: p.vend.ID, Meter: m.def.DRN, Function: o.function,
		Token: p.vend.Tokens[0].Token, TID: tid, Class: int(f.Class), SubClass: int(f.SubClass),
		Watts: o.watts, Register: o.register, SimTime: p.out.tokens[0].simTime,
		Warning: p.warning}
	p.vend.Response, err = json.Marshal(resp)
	return p, err
}

// ChangeKey issues a key change token set moving a meter to a new decoder
// key, derived from the vending key store with the new identity, and
// encrypted under the current key. The vendor keeps selling under the
// current key's identity, and refuses other tokens for the meter, until
// the meter accepts the whole set; then the fleet definition follows.
func (s *Service) ChangeKey(ctx context.Context, drn string, req KeyChangeRequest,
	key string) (*KeyChangeResponse, error) {
	received := s.wall()
	if err := checkIdempotencyKey(key); err != nil {
		s.countFailure(drn, err)
		return nil, err
	}
	hash := req.hash(drn)
	body, replayed, err := s.issueOnce(ctx, drn, key, hash,
		func(m *meterState, sim, now time.Time) (*plan, error) {
			return s.planKeyChange(m, &req, key, hash, received, sim, now)
		})
	if err != nil {
		return nil, err
	}
	var resp KeyChangeResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("key change: stored response: %w", err)
	}
	resp.Replayed = replayed
	s.countSuccess(replayed)
	return &resp, nil
}

func (s *Service) planKeyChange(m *meterState, req *KeyChangeRequest, key, hash string,
	received, sim, now time.Time) (*plan, error) {
	if err := s.checkNoKeyChangeLocked(m); err != nil {
		return nil, err
	}
	next, ro, err := req.apply(m.def)
	if err != nil {
		return nil, err
	}
	if next == m.def && !ro {
		return nil, fieldErr("sgc", "the request changes nothing: give a new sgc, ti, krn, "+
			"kt, ken or base_date, or ro")
	}
	newKey, err := s.keys.DecoderKey(&next)
	if err != nil {
		return nil, err
	}
	defer clear(newKey)
	kc := sts.KeyChange{NewKey: newKey, KEN: next.KEN, KRN: next.KRN, KeyType: next.KT,
		TariffIndex: next.TI, RO: ro}
	if len(newKey) == 16 {
		sgc, _ := strconv.ParseUint(next.SGC, 10, 32)
		kc.SGC = uint32(sgc)
	}
	sections, err := kc.Sections()
	if err != nil {
		return nil, fmt.Errorf("key change for meter %s: %w", m.def.DRN, err)
	}
	// IEC 62055-41 §6.5: every section is encrypted under the current key.
	c, err := s.cipherLocked(m)
	if err != nil {
		return nil, err
	}
	tokens := make([]sts.Token, len(sections))
	for i := range sections {
		if tokens[i], err = sts.Encode(c, &sections[i]); err != nil {
			return nil, fmt.Errorf("key change for meter %s: %w", m.def.DRN, err)
		}
	}
	p := s.newPlan(m, kindKeyChange, key, hash, received, sim, now, sections, tokens, -1)
	roll := next.BaseDate != m.def.BaseDate
	p.vend.Detail, _ = json.Marshal(keyChangeDetail{Next: next, Roll: roll, RO: ro})
	p.out.next, p.out.roll = &next, roll
	prev := p.apply
	p.apply = func() {
		prev()
		m.keyChange = p.vend.ID
	}
	resp := KeyChangeResponse{VendID: p.vend.ID, Meter: m.def.DRN, From: identityOf(&m.def),
		To: identityOf(&next), RO: ro}
	for _, t := range p.vend.Tokens {
		resp.Tokens = append(resp.Tokens, t.Token)
	}
	p.vend.Response, err = json.Marshal(resp)
	return p, err
}

// keyChangeSettled looks at a key change set after one of its tokens got a
// result or was lost. When every section was accepted (the completing one
// with accept), the meter has the new key and the vendor moves to it; when
// the set can no longer complete, the vendor stays on the old key and
// takes vends again.
func (s *Service) keyChangeSettled(v *outVend) {
	s.outMu.Lock()
	all, open, accept := true, false, false
	for _, t := range v.tokens {
		all = all && t.state == ledger.Accepted
		open = open || t.state == ledger.Issued
		accept = accept || t.outcome == sts.Accept.String()
	}
	apply := all && accept && !v.applied
	if apply {
		v.applied = true
	}
	s.outMu.Unlock()
	m, err := s.meter(v.meter)
	if err != nil {
		return
	}
	m.mu.Lock()
	switch {
	case apply:
		m.def = *v.next
		m.cipher = nil
		if v.roll {
			m.lastTID = -1
		}
		if m.keyChange == v.id {
			m.keyChange = ""
		}
	case !open && m.keyChange == v.id:
		m.keyChange = ""
	}
	def := m.def
	m.mu.Unlock()
	if !apply {
		return
	}
	now := s.wall()
	b, _ := json.Marshal(def)
	if err := s.led.Enqueue(context.Background(),
		ledger.PutMeterIdentity(def.DRN, b, v.roll, now)); err != nil {
		s.log.Error("record key change", "meter", def.DRN, "vend", v.id, "err", err)
	}
	s.log.Info("key change took effect", "meter", def.DRN, "vend", v.id, "krn", def.KRN,
		"kt", def.KT, "base_date", def.BaseDate.Year())
	s.events.Emit(Event{Kind: EventKeyChange, VendID: v.id, Meter: def.DRN,
		VendKind: kindKeyChange, At: now})
	s.writeFleetFile()
}

// writeFleetFile rewrites Config.FleetPath with the current definition.
func (s *Service) writeFleetFile() {
	if s.cfg.FleetPath == "" {
		return
	}
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	if err := s.Definition().Write(s.cfg.FleetPath); err != nil {
		s.log.Error("rewrite fleet definition", "err", err)
	}
}

// countSuccess and countFailure keep vendor_vends_total and the refusal
// totals.
func (s *Service) countSuccess(replayed bool) {
	if replayed {
		s.met.vends.WithLabelValues(resultReplayed).Inc()
		return
	}
	s.met.vends.WithLabelValues(resultIssued).Inc()
}

func (s *Service) countFailure(drn string, err error) {
	var re *RuleError
	var fe *FieldError
	switch {
	case errors.As(err, &re):
		s.met.vends.WithLabelValues(string(re.Rule)).Inc()
		s.outMu.Lock()
		s.stats.refusals[re.Rule]++
		s.outMu.Unlock()
		now := s.wall()
		s.events.Emit(Event{Kind: EventRefusal, Meter: drn, Rule: re.Rule, At: now,
			SimTime: s.clock.Now()})
		s.log.Debug("vend refused", "meter", drn, "rule", re.Rule, "err", err)
	case errors.Is(err, ErrUnknownMeter):
		s.met.vends.WithLabelValues(resultUnknown).Inc()
	case errors.Is(err, ErrIdempotencyConflict):
		s.met.vends.WithLabelValues(resultConflict).Inc()
	case errors.As(err, &fe):
		s.met.vends.WithLabelValues(resultInvalid).Inc()
	default:
		s.met.vends.WithLabelValues(resultError).Inc()
	}
}
