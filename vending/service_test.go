package vending

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/protocol/wire"
)

func TestVendTokenDecodesUnderInjectedKey(t *testing.T) {
	e := newEnv(t, 40, nil)
	for _, tc := range []struct {
		name string
		pick func(*Meter) bool
	}{
		{"EA07 DKGA02 electricity", func(m *Meter) bool {
			return m.EA == sts.EA07 && m.DKGA == sts.DKGA02 && m.Utility == Electricity
		}},
		{"EA11 DKGA04 electricity", isEA(sts.EA11)},
		{"water", isUtility(Water)},
		{"gas", isUtility(Gas)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := e.meterOf(tc.pick)
			r := e.vend(m.DRN, "100.00")
			f := e.decode(m.DRN, r.Token)
			units, err := parseUnits(r.Units)
			if err != nil {
				t.Fatal(err)
			}
			want := sts.Fields{Class: sts.ClassCredit, SubClass: m.Utility.SubClass(),
				RND: f.RND, TID: r.TID, Value: f.Value}
			if diff := cmp.Diff(want, f); diff != "" {
				t.Errorf("decoded fields (-want +got):\n%s", diff)
			}
			if got := sts.DecodeAmount(f.Value); got != units {
				t.Errorf("token carries %d tenths, receipt says %s", got, r.Units)
			}
			if r.Unit != m.Utility.Unit() || r.Currency != "KES" || r.Tariff != m.Tariff {
				t.Errorf("receipt unit/currency/tariff = %s/%s/%s", r.Unit, r.Currency, r.Tariff)
			}
			amount, _ := parseMoney(r.Amount)
			tok, _ := parseMoney(r.TokenAmount)
			other, _ := parseMoney(r.OtherCharges)
			if amount != 10000 || tok+other != amount {
				t.Errorf("receipt %s = %s + %s does not add up to 100.00", r.Amount,
					r.TokenAmount, r.OtherCharges)
			}
			wantTID, _ := sts.TIDAt(e.cfg.Clock.Now(), m.BaseDate)
			if r.TID != wantTID {
				t.Errorf("TID = %d, want %d from the simulated clock", r.TID, wantTID)
			}
			msgs := e.pub.take()
			if len(msgs) != 1 {
				t.Fatalf("published %d messages, want 1", len(msgs))
			}
			wantMsg := published{Topic: wire.Topic(m.DRN, wire.KindToken), QoS: 1,
				Msg: wire.TokenMessage{VendID: r.VendID, Token: r.Token, Attempt: 1,
					IssuedAt: msgs[0].Msg.IssuedAt, SimTime: sts.TIDTime(r.TID, m.BaseDate)}}
			if diff := cmp.Diff(wantMsg, msgs[0]); diff != "" {
				t.Errorf("published (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVendKPLCShapedReceipt(t *testing.T) {
	e := newEnv(t, 10, nil)
	m := e.meterOf(isUtility(Electricity))
	r := e.vend(m.DRN, "100.00")
	got := [4]string{r.Units, r.Amount, r.TokenAmount, r.OtherCharges}
	// 100.00 KES at 12.22/kWh plus 4.65/kWh charges, REP 5 % and VAT 16 %
	// on the subtotal: 20.18/kWh, so 4.9 kWh for 59.88.
	want := [4]string{"4.9", "100.00", "59.88", "40.12"}
	if got != want {
		t.Errorf("receipt = %v, want %v", got, want)
	}
}

func TestTIDStrictlyIncreasingUnderConcurrentVends(t *testing.T) {
	e := newEnv(t, 5, nil)
	m := e.meterOf(isUtility(Electricity))
	const n = 40
	var wg sync.WaitGroup
	tids := make(chan uint32, n)
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.svc.Vend(context.Background(), VendRequest{Meter: m.DRN, Units: "1.0"}, "")
			if err != nil {
				errs <- err
				return
			}
			tids <- r.TID
		}()
	}
	wg.Wait()
	close(tids)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// The clock never moved: every vend fell in one minute, and each
	// took the next minute (CTSA09), so the TIDs are n consecutive ones.
	first, _ := sts.TIDAt(e.cfg.Clock.Now(), m.BaseDate)
	seen := map[uint32]bool{}
	for tid := range tids {
		if tid < first || tid >= first+n || seen[tid] {
			t.Errorf("TID %d repeated or outside [%d, %d)", tid, first, first+n)
		}
		seen[tid] = true
	}
	// In ledger order they are strictly increasing too.
	var last int64 = -1
	for _, id := range e.ledgerVendIDs(m.DRN) {
		v, err := e.svc.led.Vend(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if int64(v.Tokens[0].TID) <= last {
			t.Errorf("ledger TID %d after %d", v.Tokens[0].TID, last)
		}
		last = int64(v.Tokens[0].TID)
	}
}

// ledgerVendIDs lists a meter's vends in commit order.
func (e *env) ledgerVendIDs(drn string) []string {
	e.t.Helper()
	rows, err := e.svc.led.VendIDs(context.Background(), drn)
	if err != nil {
		e.t.Fatal(err)
	}
	return rows
}

func TestNextTID(t *testing.T) {
	base := sts.Base2014
	at := time.Date(2026, 12, 1, 8, 0, 59, 0, time.UTC)
	tid, _ := sts.TIDAt(at, base)
	for _, tc := range []struct {
		name string
		now  time.Time
		last int64
		want uint32
		rule Rule
	}{
		{"first token", at, -1, tid, ""},
		{"new minute", at, int64(tid) - 1, tid, ""},
		{"minute taken: bumped", at, int64(tid), tid + 1, ""},
		{"bumped ahead of the clock", at, int64(tid) + 5, tid + 6, ""},
		{"clock before base date", time.Date(2013, 12, 31, 0, 0, 0, 0, time.UTC), -1, 0,
			RuleBeforeBaseDate},
		{"past the last minute", base.Last().Add(time.Minute), -1, 0, RuleTIDExhausted},
		{"last TID used", base.Last(), sts.MaxTID, 0, RuleTIDExhausted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := nextTID(tc.now, base, tc.last)
			if ruleOf(err) != tc.rule {
				t.Fatalf("nextTID error %v, want rule %q", err, tc.rule)
			}
			if err == nil && got != tc.want {
				t.Errorf("nextTID = %d, want %d", got, tc.want)
			}
		})
	}
}

// kenVector is one ken_check entry of the published vectors.
type kenVector struct {
	Inputs struct {
		KEN uint8  `json:"ken"`
		TID uint32 `json:"tid"`
	} `json:"inputs"`
	Expected struct {
		Result string `json:"result"`
	} `json:"expected"`
	Source string `json:"source"`
}

func TestKENRefusalFollowsVectors(t *testing.T) {
	data, err := os.ReadFile("testdata/ken_check.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors []kenVector
	if err := json.Unmarshal(data, &vectors); err != nil {
		t.Fatal(err)
	}
	for _, v := range vectors {
		t.Run(fmt.Sprintf("ken %d tid %d", v.Inputs.KEN, v.Inputs.TID), func(t *testing.T) {
			refused := len(v.Expected.Result) >= 11 && v.Expected.Result[:11] == "key expired"
			e := newEnv(t, 3, func(d *Definition) {
				for j := range d.Meters {
					// CTSA16 runs under a DDTK: the KEN check comes
					// first, so the refusal must name it.
					d.Meters[j].KEN, d.Meters[j].BaseDate = v.Inputs.KEN, sts.Base1993
					d.Meters[j].KT = sts.KeyTypeDDTK
				}
			})
			e.cfg.Clock.Start = sts.TIDTime(v.Inputs.TID, sts.Base1993)
			m := e.fleet.Definition.Meters[0]
			_, err := e.svc.Manage(context.Background(), m.DRN,
				ManagementRequest{Function: FuncClearTamper}, "")
			if refused != (ruleOf(err) == RuleKeyExpired) {
				t.Errorf("management token at TID %d under KEN %d: err %v, want refused %v (%s)",
					v.Inputs.TID, v.Inputs.KEN, err, refused, v.Source)
			}
			// Another meter, whose next TID is the vector's too.
			m = e.fleet.Definition.Meters[1]
			_, err = e.svc.Vend(context.Background(), VendRequest{Meter: m.DRN, Units: "1"}, "")
			want := RuleDDTK
			if refused {
				want = RuleKeyExpired
			}
			if ruleOf(err) != want {
				t.Errorf("credit at TID %d under KEN %d and a DDTK: %v, want rule %s",
					v.Inputs.TID, v.Inputs.KEN, err, want)
			}
		})
	}
}

func TestRefusalsAreCountedAndBurnNoTID(t *testing.T) {
	e := newEnv(t, 6, func(d *Definition) { d.Meters[0].KT = sts.KeyTypeDDTK })
	ddtk := e.fleet.Definition.Meters[0]
	_, err := e.svc.Vend(context.Background(), VendRequest{Meter: ddtk.DRN, Amount: "50"}, "")
	if ruleOf(err) != RuleDDTK {
		t.Fatalf("vend to a DDTK meter: %v, want rule ddtk", err)
	}
	// A management token is still allowed under the DDTK, with the TID
	// the refused vend did not use.
	r, err := e.svc.Manage(context.Background(), ddtk.DRN,
		ManagementRequest{Function: FuncClearTamper}, "")
	if err != nil {
		t.Fatal(err)
	}
	first, _ := sts.TIDAt(e.cfg.Clock.Now(), ddtk.BaseDate)
	if r.TID != first {
		t.Errorf("management TID %d, want %d: the refusal took a TID", r.TID, first)
	}
	if got := e.svc.Summary().Refusals[RuleDDTK]; got != 1 {
		t.Errorf("ddtk refusals = %d, want 1", got)
	}
	_, err = e.svc.Vend(context.Background(), VendRequest{Meter: e.fleet.Definition.Meters[1].DRN,
		Amount: "0.05"}, "")
	if ruleOf(err) != RuleBelowMinimum {
		t.Errorf("vend of 0.05: %v, want rule below_minimum", err)
	}
}

func TestVendInputErrorsNameTheField(t *testing.T) {
	e := newEnv(t, 3, nil)
	drn := e.meterOf(isUtility(Electricity)).DRN
	for _, tc := range []struct {
		name  string
		req   VendRequest
		key   string
		field string
	}{
		{"no meter", VendRequest{Amount: "1"}, "", "meter"},
		{"bad check digit", VendRequest{Meter: drn[:10] + string('0'+(drn[10]-'0'+1)%10),
			Amount: "1"}, "", "meter"},
		{"unknown meter", VendRequest{Meter: "01234567897", Amount: "1"}, "", "meter"},
		{"neither", VendRequest{Meter: drn}, "", "amount"},
		{"both", VendRequest{Meter: drn, Amount: "1", Units: "1"}, "", "units"},
		{"three decimals", VendRequest{Meter: drn, Amount: "1.005"}, "", "amount"},
		{"negative", VendRequest{Meter: drn, Amount: "-5"}, "", "amount"},
		{"exponent", VendRequest{Meter: drn, Amount: "1e3"}, "", "amount"},
		{"units decimals", VendRequest{Meter: drn, Units: "1.25"}, "", "units"},
		{"currency", VendRequest{Meter: drn, Amount: "10", Currency: "USD"}, "", "currency"},
		{"currency with units", VendRequest{Meter: drn, Units: "1", Currency: "KES"}, "",
			"currency"},
		{"key with space", VendRequest{Meter: drn, Amount: "1"}, "a b", "Idempotency-Key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Vend(context.Background(), tc.req, tc.key)
			if got := fieldOf(err); got != tc.field {
				t.Errorf("error %v names field %q, want %q", err, got, tc.field)
			}
		})
	}
}

func TestIdempotency(t *testing.T) {
	e := newEnv(t, 3, nil)
	drn := e.meterOf(isUtility(Electricity)).DRN
	ctx := context.Background()
	req := VendRequest{Meter: drn, Amount: "100.00", Currency: "KES"}
	first, err := e.svc.Vend(ctx, req, "order-1")
	if err != nil {
		t.Fatal(err)
	}
	// The same order spelt differently is the same request.
	again, err := e.svc.Vend(ctx, VendRequest{Meter: drn, Amount: "100", Currency: "KES"},
		"order-1")
	if err != nil {
		t.Fatal(err)
	}
	if !again.Replayed || first.Replayed {
		t.Errorf("replayed flags: first %v, repeat %v", first.Replayed, again.Replayed)
	}
	again.Replayed = false
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("repeat differs (-first +repeat):\n%s", diff)
	}
	_, err = e.svc.Vend(ctx, VendRequest{Meter: drn, Amount: "200.00"}, "order-1")
	if !errors.Is(err, ErrIdempotencyConflict) {
		t.Errorf("other body, same key: %v, want ErrIdempotencyConflict", err)
	}
	// A refused request leaves nothing behind: fixed, it goes through.
	_, err = e.svc.Vend(ctx, VendRequest{Meter: drn, Amount: "0.01"}, "order-2")
	if ruleOf(err) != RuleBelowMinimum {
		t.Fatalf("tiny vend: %v", err)
	}
	fixed, err := e.svc.Vend(ctx, VendRequest{Meter: drn, Amount: "20.00"}, "order-2")
	if err != nil || fixed.Replayed {
		t.Fatalf("fixed vend under a refused request's key: %+v, %v", fixed, err)
	}
	if got := len(e.pub.take()); got != 2 {
		t.Errorf("published %d tokens for two vends and a repeat, want 2", got)
	}
	if s := e.svc.Summary(); s.TokensVended != 2 {
		t.Errorf("tokens vended = %d, want 2", s.TokensVended)
	}
}

func TestIdempotencyConcurrentRepeats(t *testing.T) {
	e := newEnv(t, 3, nil)
	drn := e.meterOf(isUtility(Electricity)).DRN
	const n = 16
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.svc.Vend(context.Background(), VendRequest{Meter: drn, Amount: "50"}, "k")
			if err != nil {
				t.Error(err)
				return
			}
			ids <- r.VendID
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != 1 {
		t.Errorf("%d concurrent repeats made %d vends, want 1", n, len(seen))
	}
}

func TestLedgerSurvivesRestart(t *testing.T) {
	e := newEnv(t, 4, nil)
	m := e.meterOf(isUtility(Electricity))
	ctx := context.Background()
	r1, err := e.svc.Vend(ctx, VendRequest{Meter: m.DRN, Amount: "100.00"}, "before")
	if err != nil {
		t.Fatal(err)
	}
	msgs := e.pub.take()
	e.result(m.DRN, msgs[0].Msg, sts.Accept)
	r2 := e.vend(m.DRN, "40.00")
	e.pub.take()
	before := e.svc.Summary()
	statusBefore, err := e.svc.VendStatus(ctx, r1.VendID)
	if err != nil {
		t.Fatal(err)
	}

	e.restart()
	after := e.svc.Summary()
	if after.TokensVended != 2 || after.TokensAccepted != 1 || after.TokensPending != 1 ||
		!after.Conserved() {
		t.Errorf("summary after restart %+v", after)
	}
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"vended", after.TokensVended, before.TokensVended},
		{"sold", after.Sold, before.Sold},
		{"credited", after.Credited, before.Credited},
	} {
		if diff := cmp.Diff(f.want, f.got); diff != "" {
			t.Errorf("%s changed across restart (-before +after):\n%s", f.name, diff)
		}
	}
	statusAfter, err := e.svc.VendStatus(ctx, r1.VendID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(statusBefore, statusAfter); diff != "" {
		t.Errorf("vend status changed across restart (-before +after):\n%s", diff)
	}
	// The idempotency key still replays; the TIDs carry on.
	rep, err := e.svc.Vend(ctx, VendRequest{Meter: m.DRN, Amount: "100.00"}, "before")
	if err != nil || !rep.Replayed || rep.VendID != r1.VendID {
		t.Errorf("replay after restart: %+v, %v", rep, err)
	}
	r3 := e.vend(m.DRN, "10.00")
	if r3.TID <= r2.TID {
		t.Errorf("TID after restart %d, not above %d", r3.TID, r2.TID)
	}
	// The open token is still delivered: due after its backoff.
	e.pub.take()
	e.wall.Advance(e.svc.cfg.Delivery.InitialBackoff)
	e.svc.Tick(ctx)
	var resent []string
	for _, p := range e.pub.take() {
		resent = append(resent, p.Msg.VendID)
	}
	want := sortStrings([]string{r2.VendID, r3.VendID})
	if diff := cmp.Diff(want, sortStrings(resent)); diff != "" {
		t.Errorf("redelivered after restart (-want +got):\n%s", diff)
	}
	// Month units carry on too: the block tariff sees 4.9 + 1.9 + 0.4.
	v, err := e.svc.MeterView(m.DRN)
	if err != nil {
		t.Fatal(err)
	}
	if v.MonthUnits != "7.2" {
		t.Errorf("month units after restart = %s, want 7.2", v.MonthUnits)
	}
}

// eventLog is an EventSink that keeps what it gets.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) Emit(e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func TestEventsMatchTheWireContract(t *testing.T) {
	log := &eventLog{}
	e := newEnv(t, 3, nil)
	e.cfg.Events = log
	e.restart()
	m := e.meterOf(isUtility(Water))
	r := e.vend(m.DRN, "100.00")
	e.result(m.DRN, e.pub.take()[0].Msg, sts.Accept)
	e.svc.Vend(context.Background(), VendRequest{Meter: m.DRN, Amount: "0.01"}, "")
	log.mu.Lock()
	defer log.mu.Unlock()
	var kinds []EventKind
	for _, ev := range log.events {
		kinds = append(kinds, ev.Kind)
	}
	if diff := cmp.Diff([]EventKind{EventVend, EventResult, EventRefusal}, kinds); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	wv, ok := log.events[0].WireVend()
	if !ok {
		t.Fatal("the vend event has no wire form")
	}
	b, _ := json.Marshal(wv)
	got, err := wire.DecodeVend(b)
	if err != nil {
		t.Fatalf("vend event breaks the NATS contract: %v", err)
	}
	if got.VendID != r.VendID || got.TID != r.TID || got.Units != r.Units ||
		got.Utility != "water" || got.Amount != r.Amount || !got.SimTime.Equal(r.SimTime) {
		t.Errorf("wire vend event %+v for vend %+v", got, r)
	}
	if _, ok := log.events[1].WireVend(); ok {
		t.Error("a result event has a wire vend form")
	}
	if log.events[2].Rule != RuleBelowMinimum {
		t.Errorf("refusal event rule %q", log.events[2].Rule)
	}
}

// cancelOnVend cancels a context when the vendor reports a vend, that is
// once the vend is committed and before its token is published.
type cancelOnVend struct{ cancel context.CancelFunc }

func (c cancelOnVend) Emit(ev Event) {
	if ev.Kind == EventVend {
		c.cancel()
	}
}

func TestCommittedVendPublishesAfterClientGoes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := newEnv(t, 2, nil, func(e *env) { e.cfg.Events = cancelOnVend{cancel} })
	drn := e.meterOf(isUtility(Electricity)).DRN
	if _, err := e.svc.Vend(ctx, VendRequest{Meter: drn, Amount: "50.00"}, ""); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() == nil {
		t.Fatal("the request's context was not cancelled before the publish")
	}
	if got := len(e.pub.take()); got != 1 {
		t.Errorf("published %d tokens for a committed vend whose client went, want 1", got)
	}
	if s := e.svc.Summary(); s.PublishErrors != 0 {
		t.Errorf("publish errors %d, want 0", s.PublishErrors)
	}
}

func TestLedgerWindowBounded(t *testing.T) {
	e := newEnv(t, 1, nil)
	cfg := e.cfg
	cfg.DBPath = filepath.Join(t.TempDir(), "ledger.db")
	cfg.Ledger.Window = time.Hour
	if svc, err := New(context.Background(), cfg); err == nil {
		svc.Close()
		t.Fatal("a one-hour ledger window was accepted")
	} else if !strings.Contains(err.Error(), "at most 1s") {
		t.Errorf("error %q does not give the bound", err)
	}
}
