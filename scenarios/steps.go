package scenarios

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/protocol/wire"
	"github.com/stsfleet/stsfleet/vending"
)

// do carries out the step's action on the target meters.
func (r *run) do(ctx context.Context, s *Step, targets []int, st *stepState) error {
	switch s.Kind {
	case KindVend:
		return r.vend(ctx, s, targets, st)
	case KindReplay:
		return r.eachMeter(targets, func(m *meterRun) error {
			tok, err := m.acceptedToken(s.Token)
			if err != nil {
				return err
			}
			return r.typeAt(ctx, m, tok)
		})
	case KindWrongMeter:
		return r.eachMeter(targets, func(m *meterRun) error {
			tok, err := m.acceptedToken("last")
			if err != nil {
				return err
			}
			return r.typeAt(ctx, r.meters[(m.idx+1)%len(r.meters)], tok)
		})
	case KindTamper:
		return r.eachMeter(targets, func(m *meterRun) error { return r.tamper(ctx, s, m) })
	case KindBruteForce:
		return r.eachMeter(targets, func(m *meterRun) error { return r.bruteForce(ctx, s, m, st) })
	case KindOldTID, KindForge:
		return r.eachMeter(targets, func(m *meterRun) error { return r.forged(ctx, s, m) })
	case KindKeyChange:
		return r.eachMeter(targets, func(m *meterRun) error { return r.keyChange(ctx, s, m, st) })
	case KindDuplicate:
		return r.eachMeter(targets, func(m *meterRun) error { return r.duplicate(ctx, m, st) })
	case KindSpoof:
		return r.eachMeter(targets, func(m *meterRun) error {
			kinds := make([]wire.Kind, len(s.Publish))
			for i, k := range s.Publish {
				kinds[i] = wire.Kind(k)
			}
			victim := r.meters[(m.idx+1)%len(r.meters)]
			return r.sys.Spoof(ctx, m.info.DRN, victim.info.DRN, kinds)
		})
	case KindOffline, KindOnline:
		online := s.Kind == KindOnline
		return r.eachMeter(targets, func(m *meterRun) error {
			if err := r.sys.SetOnline(ctx, m.info.DRN, online); err != nil {
				return err
			}
			m.offline = !online
			if online {
				r.awaitQueued(m, st)
			}
			return nil
		})
	case KindRestart:
		return r.restart(ctx, s, targets, st)
	case KindWait:
		if s.Sim > 0 {
			return sleep(ctx, r.wallFor(s.Sim))
		}
		return sleep(ctx, s.Wall)
	}
	return fmt.Errorf("step kind %q: not implemented", s.Kind)
}

func (r *run) eachMeter(targets []int, fn func(*meterRun) error) error {
	var errs []error
	for _, i := range targets {
		if err := fn(r.meters[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m *meterRun) acceptedToken(which string) (string, error) {
	if len(m.accepted) == 0 {
		return "", fmt.Errorf("meter %s: %w: it has accepted no credit token", m.info.DRN,
			errNoToken)
	}
	if which == "first" {
		return m.accepted[0], nil
	}
	return m.accepted[len(m.accepted)-1], nil
}

// typeAt types a token at the meter's keypad and records the answer.
func (r *run) typeAt(ctx context.Context, m *meterRun, token string) error {
	res, err := r.sys.Type(ctx, m.info.DRN, token)
	if err != nil {
		return fmt.Errorf("type at meter %s: %w", m.info.DRN, err)
	}
	r.typed(res)
	return nil
}

func (r *run) vend(ctx context.Context, s *Step, targets []int, st *stepState) error {
	return r.eachMeter(targets, func(m *meterRun) error {
		return r.vendOne(ctx, m, vending.VendRequest{Meter: m.info.DRN,
			Units: vending.Decimal(s.Units), Amount: vending.Decimal(s.Amount),
			Currency: s.Currency}, st)
	})
}

func (r *run) vendOne(ctx context.Context, m *meterRun, req vending.VendRequest,
	st *stepState) error {
	resp, err := r.sys.Vend(ctx, req)
	var ref *Refusal
	if errors.As(err, &ref) {
		st.refusals[string(ref.Rule)]++
		return nil
	}
	if err != nil {
		return fmt.Errorf("vend to meter %s: %w", m.info.DRN, err)
	}
	k := tokenKey{m.info.DRN, resp.VendID, resp.Token}
	m.vended = append(m.vended, vended{key: k, units: resp.Units, issued: time.Now(),
		simTime: resp.SimTime})
	units, _ := sts.ParseDecimal(resp.Units, sts.CurrencyScale)
	st.sold[m.info.DRN] += units
	if m.offline || r.down {
		r.mu.Lock()
		m.queued = append(m.queued, k)
		r.mu.Unlock()
		return nil
	}
	r.awaitFirst(st, k)
	return nil
}

// awaitQueued makes the step wait for the tokens queued for the meter.
func (r *run) awaitQueued(m *meterRun, st *stepState) {
	r.mu.Lock()
	queued := append([]tokenKey(nil), m.queued...)
	r.mu.Unlock()
	for _, k := range queued {
		r.awaitFirst(st, k)
	}
}

// tamper changes one digit of the meter's last vended token and types it.
func (r *run) tamper(ctx context.Context, s *Step, m *meterRun) error {
	if len(m.vended) == 0 {
		return fmt.Errorf("meter %s: %w: nothing was vended to it", m.info.DRN, errNoToken)
	}
	digits := []byte(m.vended[len(m.vended)-1].key.token)
	rng := rand.New(rand.NewPCG(r.sc.Fleet.Seed, uint64(s.Index)<<32|uint64(m.idx)))
	pos := s.Digit - 1
	if pos < 0 {
		pos = rng.IntN(len(digits))
	}
	digits[pos] = '0' + (digits[pos]-'0'+1+byte(rng.IntN(9)))%10
	return r.typeAt(ctx, m, string(digits))
}

// bruteForce types random 20-digit strings and counts the false accepts:
// random tokens that added credit.
func (r *run) bruteForce(ctx context.Context, s *Step, m *meterRun, st *stepState) error {
	rng := rand.New(rand.NewPCG(s.Seed^r.sc.Fleet.Seed, uint64(m.idx)))
	var buf [sts.TokenDigits]byte
	for range s.Tokens {
		for i := range buf {
			buf[i] = '0' + byte(rng.IntN(10))
		}
		res, err := r.sys.Type(ctx, m.info.DRN, string(buf[:]))
		if err != nil {
			return fmt.Errorf("brute force at meter %s: %w", m.info.DRN, err)
		}
		r.typed(res)
		if res.Outcome == sts.Accept && res.Decoded && res.Class == sts.ClassCredit &&
			nonZero(res.Credited) {
			st.falseAccepts++
		}
	}
	st.expectedFalse += float64(s.Tokens) * falseAcceptChance(m, r.sc.Fleet.Start)
	return nil
}

func nonZero(dec string) bool {
	v, err := sts.ParseDecimal(dec, sts.CurrencyScale)
	return err == nil && v > 0
}

// falseAcceptChance is the probability that a random 20-digit string adds
// credit at the meter: it must be below 2^66 (2^66/10^20), of class 0
// (1/4), pass the 16-bit CRC (1/65536) and then the TID and KEN checks,
// estimated from the lowest floor the TID memory can have (the
// manufacture floor, 30 days before the start) and the KEN.
func falseAcceptChance(m *meterRun, start time.Time) float64 {
	const below66 = 73786976294838206464.0 / 1e20
	floor, err := sts.TIDAt(start.Add(-30*24*time.Hour), m.base)
	if err != nil {
		floor = 0
	}
	limit := min(float64(uint64(m.ken)+1)*65536, float64(sts.MaxTID+1))
	pass := max(0, limit-float64(floor)) / float64(sts.MaxTID+1)
	return below66 * 0.25 / 65536 * min(pass, 1)
}

// forged types a credit token made offline with the token tools.
func (r *run) forged(ctx context.Context, s *Step, m *meterRun) error {
	key := m.key
	if s.PreviousKey {
		if m.prevKey == nil {
			return fmt.Errorf("meter %s: no previous key: no key change took effect",
				m.info.DRN)
		}
		key = m.prevKey
	}
	units := s.Units
	if units == "" {
		units = "1.0"
	}
	tid, err := sts.TIDAt(r.sys.Clock().Now().Add(-s.Age), m.base)
	if err != nil {
		tid = 0
	}
	tok, err := forgeCredit(m.info, key, units, tid)
	if err != nil {
		return fmt.Errorf("forge a token for meter %s: %w", m.info.DRN, err)
	}
	return r.typeAt(ctx, m, tok)
}

// forgeCredit makes a credit token for the meter under key, as the token
// tools do offline: units of the meter's utility at the given TID.
func forgeCredit(mi MeterInfo, key []byte, units string, tid uint32) (string, error) {
	c, err := sts.NewCipher(mi.EA, key, mi.Tables)
	if err != nil {
		return "", err
	}
	tenths, err := sts.ParseDecimal(units, 1)
	if err != nil {
		return "", err
	}
	field, err := sts.EncodeAmount(tenths)
	if err != nil {
		return "", err
	}
	f := sts.Fields{Class: sts.ClassCredit, SubClass: mi.Utility.SubClass(),
		RND: uint8(tid % 16), TID: tid, Value: field}
	tok, err := sts.Encode(c, &f)
	if err != nil {
		return "", err
	}
	return tok.String(), nil
}

func (r *run) keyChange(ctx context.Context, s *Step, m *meterRun, st *stepState) error {
	k := s.KeyChange
	req := vending.KeyChangeRequest{SGC: k.SGC, TI: k.TI, KRN: k.KRN, KT: k.KT, KEN: k.KEN,
		BaseDate: k.BaseDate, RO: k.RO}
	resp, err := r.sys.ChangeKey(ctx, m.info.DRN, req)
	var ref *Refusal
	if errors.As(err, &ref) {
		st.refusals[string(ref.Rule)]++
		return nil
	}
	if err != nil {
		return fmt.Errorf("key change for meter %s: %w", m.info.DRN, err)
	}
	st.keyChanges[m.info.DRN] = *resp
	for _, tok := range resp.Tokens {
		r.awaitFirst(st, tokenKey{m.info.DRN, resp.VendID, tok})
	}
	return nil
}

// afterKeyChanges follows each meter that took its key change set onto
// the new key, recovered from the set with the old key as the meter does,
// and waits until the vendor has seen it too.
func (r *run) afterKeyChanges(ctx context.Context, st *stepState) {
	for drn, resp := range st.keyChanges {
		m := r.byDRN[drn]
		r.mu.Lock()
		took := false
		for _, res := range r.results {
			if res.VendID == resp.VendID && res.Outcome == sts.Accept {
				took = true
			}
		}
		r.mu.Unlock()
		if !took {
			continue
		}
		kc, err := recoverKeyChange(m.info, m.key, resp.Tokens)
		if err != nil {
			r.log.Warn("recover key change", "meter", drn, "err", err)
			continue
		}
		m.prevKey, m.key, m.ken = m.key, kc.NewKey, kc.KEN
		if kc.RO {
			if next, ok := m.base.Next(); ok {
				m.base = next
			}
		}
		waitFor(ctx, r.sc.Timeout, func() bool {
			v, err := r.sys.VendorMeter(ctx, drn)
			return err == nil && v.KeyChangePending == ""
		})
	}
}

// recoverKeyChange decrypts a key change set under the meter's current key
// and assembles the new key, as the meter does.
func recoverKeyChange(mi MeterInfo, key []byte, tokens []string) (sts.KeyChange, error) {
	c, err := sts.NewCipher(mi.EA, key, mi.Tables)
	if err != nil {
		return sts.KeyChange{}, err
	}
	var sections []sts.Fields
	for _, s := range tokens {
		t, err := sts.ParseToken(s)
		if err != nil {
			return sts.KeyChange{}, err
		}
		f, ok, err := sts.Decode(c, t)
		if err != nil || !ok {
			return sts.KeyChange{}, fmt.Errorf("section %s does not decode under the key", s)
		}
		sections = append(sections, f)
	}
	return sts.AssembleKeyChange(mi.EA.KeyLen(), sections)
}

// duplicate publishes the meter's last token message again.
func (r *run) duplicate(ctx context.Context, m *meterRun, st *stepState) error {
	if len(m.vended) == 0 {
		return fmt.Errorf("meter %s: %w: nothing was vended to it", m.info.DRN, errNoToken)
	}
	v := m.vended[len(m.vended)-1]
	msg := wire.TokenMessage{VendID: v.key.vendID, Token: v.key.token, Attempt: 2,
		IssuedAt: v.issued.UTC(), SimTime: v.simTime}
	r.await(st, v.key, 1)
	if err := r.sys.Republish(ctx, m.info.DRN, msg); err != nil {
		return fmt.Errorf("republish to meter %s: %w", m.info.DRN, err)
	}
	return nil
}

// restart stops the fleet, vends to the targets while it is down when the
// step says so, and starts it again from its saved state.
func (r *run) restart(ctx context.Context, s *Step, targets []int, st *stepState) error {
	if err := r.sys.StopFleet(ctx); err != nil {
		return err
	}
	r.down = true
	var errs []error
	if s.Units != "" {
		errs = append(errs, r.eachMeter(targets, func(m *meterRun) error {
			return r.vendOne(ctx, m, vending.VendRequest{Meter: m.info.DRN,
				Units: vending.Decimal(s.Units)}, st)
		}))
	}
	errs = append(errs, sleep(ctx, s.Down))
	if err := r.sys.StartFleet(ctx); err != nil {
		return errors.Join(append(errs, err)...)
	}
	r.down = false
	for _, m := range r.meters {
		if !m.offline {
			r.awaitQueued(m, st)
		}
	}
	return errors.Join(errs...)
}
