package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stsfleet/stsfleet/meter"
	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/protocol/wire"
	"github.com/stsfleet/stsfleet/vending"
)

// Token sources, as events and views name them.
const (
	sourceMQTT   = "mqtt"
	sourceKeypad = "keypad"
)

// mailbox is an actor's unbounded inbox of work. put never blocks, so a
// paho handler can hand over a message and return at once; the actor takes
// everything waiting in one go.
type mailbox struct {
	// wake holds a token while work is waiting.
	wake chan struct{}

	mu    sync.Mutex
	items []func(*actor)
}

func (b *mailbox) put(f func(*actor)) {
	b.mu.Lock()
	b.items = append(b.items, f)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *mailbox) take() []func(*actor) {
	b.mu.Lock()
	defer b.mu.Unlock()
	items := b.items
	b.items = nil
	return items
}

// outcomeRecord is one token outcome a meter remembers for its view.
type outcomeRecord struct {
	vendID   string
	token    string
	source   string
	outcome  sts.Outcome
	credited meter.Milli
	simAt    time.Time
}

// pendingVend is a purchase whose receipt came back and whose token has
// not reached the meter yet.
type pendingVend struct {
	id    string
	since time.Time
}

// overdueAfter is how long, in wall time, a customer waits for a bought
// token before buying again.
const overdueAfter = 2 * time.Minute

// actor is one virtual meter with its MQTT client and its customer. One
// goroutine (run) owns every field except box and done; everything else
// reaches the actor by putting work in its mailbox.
type actor struct {
	f    *Fleet
	def  *vending.Meter
	drn  string
	unit string
	// currency is the currency of the meter's tariff.
	currency string
	box      mailbox
	// done is closed when run returns.
	done chan struct{}
	// up is set while the meter's connection is open, as paho reports
	// it; it keeps the fleet's count of connected meters.
	up atomic.Bool

	// ctx bounds the actor's publications: the fleet's context while it
	// runs, a short one of its own while it stops.
	ctx    context.Context
	m      *meter.Meter
	client *mqttc.Client
	rng    *rand.Rand
	seq    uint64
	steps  int
	// buying is set while a purchase is with the buyers.
	buying    bool
	purchases int
	// buyAt is when, in simulated time, a customer with a [Timing]
	// model gets round to buying after the balance fell low; zero while
	// the balance is not low.
	buyAt   time.Time
	waiting []pendingVend
	// arrived are the latest vend IDs received, so that a receipt that
	// comes back after its token is not waited for.
	arrived [4]string
	recent  []outcomeRecord
	// unsent are results and readings that could not be published while
	// offline, sent when the meter is back.
	unsent []outbound
	// offline is set while the meter is taken off the network on purpose.
	offline bool
	// frozen is set by the final reading: simulated time stops at frozenAt.
	frozen   bool
	frozenAt time.Time
	// dirty is set when the meter's state changed since it was saved.
	dirty bool
	// supply is read by the fleet's metrics (metrics_obs.go).
	supply supply
}

// outbound is a QoS 1 message waiting for the connection.
type outbound struct {
	topic   string
	payload []byte
}

func newActor(f *Fleet, def *vending.Meter, m *meter.Meter, seq uint64) *actor {
	a := &actor{
		f: f, def: def, drn: def.DRN, unit: def.Utility.Unit(),
		currency: f.currency[def.Tariff], m: m, seq: seq,
		done: make(chan struct{}),
		rng:  rand.New(rand.NewPCG(seedOf(f.cfg.Seed, def.DRN), 0x5eed)),
	}
	a.box.wake = make(chan struct{}, 1)
	return a
}

// now is the meter's simulated time: the fleet's clock until the final
// reading, then the time of that reading.
func (a *actor) now() time.Time {
	if a.frozen {
		return a.frozenAt
	}
	return a.f.cfg.Clock.Now()
}

// run is the actor's goroutine: connect, then work until ctx ends.
func (a *actor) run(ctx context.Context) {
	defer close(a.done)
	a.ctx = ctx
	err := a.connect(ctx)
	a.f.connected(a, err)
	if err != nil {
		return
	}
	a.announce(ctx)
	// A customer whose meter is installed without credit buys at once,
	// whatever the hour: the installer loads the first credit.
	a.maybeBuyNow(true)

	step := a.f.cfg.Clock.WallDuration(a.f.cfg.Step)
	// Start each meter at its own phase, so that wake-ups spread out.
	first := time.NewTimer(time.Duration(a.rng.Int64N(int64(step) + 1)))
	var tick <-chan time.Time
	var ticker *time.Ticker
	defer func() {
		first.Stop()
		if ticker != nil {
			ticker.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			a.stop()
			return
		case <-a.box.wake:
			a.work()
		case <-first.C:
			ticker = time.NewTicker(step)
			tick = ticker.C
			a.tick(ctx)
		case <-tick:
			a.tick(ctx)
		}
	}
}

func (a *actor) work() {
	for _, f := range a.box.take() {
		f(a)
	}
}

// tick runs consumption up to now, sends a reading when one is due and
// lets the customer buy.
func (a *actor) tick(ctx context.Context) {
	if a.frozen {
		return
	}
	a.m.Advance(a.now())
	a.noteSupply(nil)
	a.dirty = true
	a.steps++
	if every := a.f.telemetryEvery; every > 0 && a.steps%every == 0 {
		a.sendReading(ctx, false)
	}
	a.maybeBuy()
}

// onToken enters a token that arrived over MQTT.
func (a *actor) onToken(ctx context.Context, payload []byte) {
	msg, err := wire.DecodeToken(payload)
	if err != nil {
		a.f.stats.badTokens.Add(1)
		a.f.warn("token message", "meter", a.drn, "err", err)
		return
	}
	r := a.m.Enter(msg.Token, a.now())
	a.afterToken(ctx, msg.VendID, msg.Token, sourceMQTT, r)
}

// afterToken publishes a token's result and records it everywhere.
func (a *actor) afterToken(ctx context.Context, vendID, token, source string, r meter.Result) {
	now := a.m.Now()
	a.dirty = true
	res := a.result(vendID, token, r, now)
	payload, _ := json.Marshal(res)
	a.publishReliably(ctx, wire.Topic(a.drn, wire.KindResult), payload)

	a.f.stats.outcome(r.Outcome, source)
	a.noteSupply(&r)
	a.f.events.write(Event{Meter: a.drn, VendID: vendID, Token: token, Source: source,
		Outcome: r.Outcome.String(), Class: res.Class, SubClass: res.SubClass,
		Credited: res.Credited, Unit: res.Unit, SimTime: now, At: res.SentAt})
	a.remember(outcomeRecord{vendID: vendID, token: token, source: source,
		outcome: r.Outcome, credited: r.Credited, simAt: now})
	if vendID != "" {
		a.tokenArrived(vendID)
	}
	if r.Outcome.Accepted() {
		a.save(false)
	}
}

// result builds the result message of a token.
func (a *actor) result(vendID, token string, r meter.Result, now time.Time) wire.ResultMessage {
	res := wire.ResultMessage{VendID: vendID, Token: token, Outcome: r.Outcome.String(),
		Credited: "0", Unit: a.unit, SimTime: now, SentAt: time.Now().UTC()}
	if r.Decoded {
		class, sub := int(r.Class), int(r.SubClass)
		res.Class, res.SubClass = &class, &sub
		if r.Class == sts.ClassCredit && meter.IsCurrency(r.SubClass) {
			res.Unit = a.currency
			res.Credited = r.Credited.Format(sts.CurrencyScale, 2)
		} else if r.Credited > 0 {
			res.Credited = r.Credited.Format(1, 1)
		}
	}
	return res
}

func (a *actor) remember(o outcomeRecord) {
	n := a.f.cfg.Recent
	if n <= 0 {
		return
	}
	if len(a.recent) == n {
		copy(a.recent, a.recent[1:])
		a.recent = a.recent[:n-1]
	}
	a.recent = append(a.recent, o)
}

// typeToken enters a token at the keypad, for scenarios and Fleet.Type.
func (a *actor) typeToken(ctx context.Context, token string) meter.Result {
	r := a.m.Enter(token, a.now())
	a.afterToken(ctx, "", token, sourceKeypad, r)
	return r
}

// reading returns the meter's telemetry now.
func (a *actor) reading(final bool) wire.Telemetry {
	s := a.m.Snapshot()
	u := s.Units
	t := wire.Telemetry{
		DRN: a.drn, Utility: string(a.def.Utility), Unit: a.unit, Seq: a.seq,
		Credited: u.Credited.Format(1, 1), Consumed: u.Consumed.Format(1, 1),
		Cleared: u.Cleared.Format(1, 1), Remaining: u.Remaining.Format(1, 1),
		Relay: "closed", Tamper: s.Tamper, Final: final,
		SimTime: s.At, SentAt: time.Now().UTC(),
	}
	a.seq++
	if !s.Relay.Closed {
		t.Relay, t.RelayReason = "open", s.Relay.Reason.String()
	} else {
		t.LoadW = float64(s.Demand)
	}
	return t
}

// sendReading publishes a reading: periodic ones at the configured QoS and
// dropped while offline, the final one at QoS 1.
func (a *actor) sendReading(ctx context.Context, final bool) error {
	payload, _ := json.Marshal(a.reading(final))
	topic := wire.Topic(a.drn, wire.KindTelemetry)
	if final {
		return a.publishReliably(ctx, topic, payload)
	}
	if a.client == nil {
		a.f.stats.telemetryFailed.Add(1)
		return nil
	}
	if err := a.publish(ctx, topic, a.f.cfg.TelemetryQoS, false, payload); err != nil {
		a.f.stats.telemetryFailed.Add(1)
		a.f.warn("publish telemetry", "meter", a.drn, "err", err)
		return nil
	}
	a.f.stats.telemetrySent.Add(1)
	return nil
}

// publishReliably publishes at QoS 1, or keeps the message for the next
// connection while the meter is offline. A message paho has taken but the
// broker has not acknowledged in time stays with paho, which sends it
// again after a reconnection.
func (a *actor) publishReliably(ctx context.Context, topic string, payload []byte) error {
	if a.client == nil {
		a.unsent = append(a.unsent, outbound{topic: topic, payload: payload})
		return nil
	}
	err := a.publish(ctx, topic, 1, false, payload)
	if err != nil {
		a.f.warn("publish", "meter", a.drn, "topic", topic, "err", err)
		return err
	}
	if topic == wire.Topic(a.drn, wire.KindTelemetry) {
		a.f.stats.telemetrySent.Add(1)
	}
	return nil
}

func (a *actor) publish(ctx context.Context, topic string, qos byte, retained bool,
	payload []byte) error {
	ctx, cancel := context.WithTimeout(ctx, a.f.cfg.PublishTimeout)
	defer cancel()
	return a.client.Publish(ctx, topic, qos, retained, payload)
}

// announce publishes the retained online status and whatever waited for
// the connection.
func (a *actor) announce(ctx context.Context) {
	st, _ := json.Marshal(wire.Status{State: wire.StateOnline, At: time.Now().UTC()})
	if err := a.publish(ctx, wire.Topic(a.drn, wire.KindStatus), 1, true, st); err != nil {
		a.f.warn("publish status", "meter", a.drn, "err", err)
	}
	unsent := a.unsent
	a.unsent = nil
	for _, o := range unsent {
		a.publishReliably(ctx, o.topic, o.payload)
	}
}

// maybeBuy hands a purchase to the buyers when the balance is below the
// customer's threshold and no purchase or bought token is on its way. A
// customer whose amounts come with a [Timing] buys at the time it draws.
func (a *actor) maybeBuy() { a.maybeBuyNow(false) }

func (a *actor) maybeBuyNow(now bool) {
	f := a.f
	if f.cfg.Vendor == nil || f.cfg.Purchases.Off || f.buyingStopped.Load() || a.buying {
		return
	}
	a.dropOverdue()
	if len(a.waiting) > 0 {
		return
	}
	credit, _ := a.m.Credit(a.m.Utility().UnitSubClass())
	if credit >= f.cfg.Purchases.below(a.def.Utility) {
		a.buyAt = time.Time{}
		return
	}
	sampler := f.cfg.Purchases.sampler(a.def.Utility)
	if t, ok := sampler.(Timing); ok && !now {
		sim := a.m.Now()
		if a.buyAt.IsZero() {
			a.buyAt = t.BuyAt(a.rng, sim)
		}
		if sim.Before(a.buyAt) {
			return
		}
	}
	a.purchases++
	p := purchase{a: a, at: time.Now(), req: VendRequest{
		Meter:          a.drn,
		Amount:         sampler.Sample(a.rng),
		Currency:       a.currency,
		IdempotencyKey: f.runID + "-" + a.drn + "-" + strconv.Itoa(a.purchases),
	}}
	select {
	case f.buys <- p:
		a.buying = true
		a.buyAt = time.Time{}
		f.stats.purchasesAsked.Add(1)
	default:
		// Every buyer is busy and the queue is full: try at the next step.
	}
}

// bought records the answer to a purchase.
func (a *actor) bought(p purchase, rc Receipt, err error) {
	a.buying = false
	if errors.Is(err, errPurchaseCancelled) {
		a.f.stats.purchasesCancelled.Add(1)
		return
	}
	if err != nil {
		a.f.stats.purchaseFailed(err)
		if !errors.Is(err, context.Canceled) {
			a.f.warn("purchase", "meter", a.drn, "err", err)
		}
		return
	}
	a.f.stats.purchasesDone.Add(1)
	for _, id := range a.arrived {
		if id == rc.VendID {
			return
		}
	}
	a.f.stats.inFlight.Add(1)
	a.waiting = append(a.waiting, pendingVend{id: rc.VendID, since: p.at})
}

// tokenArrived notes that a vend's token reached the meter.
func (a *actor) tokenArrived(vendID string) {
	copy(a.arrived[1:], a.arrived[:len(a.arrived)-1])
	a.arrived[0] = vendID
	for i, w := range a.waiting {
		if w.id == vendID {
			a.f.stats.inFlight.Add(-1)
			a.f.stats.purchaseToToken.Observe(time.Since(w.since).Seconds())
			a.waiting = append(a.waiting[:i], a.waiting[i+1:]...)
			return
		}
	}
}

func (a *actor) dropOverdue() {
	kept := a.waiting[:0]
	for _, w := range a.waiting {
		if time.Since(w.since) > overdueAfter {
			a.f.stats.inFlight.Add(-1)
			a.f.stats.overdue.Add(1)
			continue
		}
		kept = append(kept, w)
	}
	a.waiting = kept
}

// freeze stops simulated time for the meter at t: consumption runs up to
// t, then no further; tokens are entered at that time.
func (a *actor) freeze(t time.Time) {
	if a.frozen {
		return
	}
	a.m.Advance(t)
	a.frozen, a.frozenAt = true, a.m.Now()
	a.dirty = true
}

// final publishes the meter's final reading at QoS 1.
func (a *actor) final(ctx context.Context) error {
	if err := a.sendReading(ctx, true); err != nil {
		return fmt.Errorf("final reading of meter %s: %w", a.drn, err)
	}
	return nil
}

// setOnline takes the meter off the network or brings it back. Off, it
// publishes its offline status and disconnects cleanly; its persistent
// session keeps the tokens sent meanwhile, which arrive on return.
func (a *actor) setOnline(ctx context.Context, online bool) error {
	switch {
	case online && a.client == nil:
		if err := a.connect(ctx); err != nil {
			return err
		}
		a.offline = false
		a.announce(ctx)
	case !online && a.client != nil:
		a.offline = true
		a.disconnect(ctx)
	}
	return nil
}

// stop ends the actor: it enters what is waiting, saves the meter and
// leaves the network.
func (a *actor) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), a.f.cfg.PublishTimeout)
	defer cancel()
	// Tokens already received are entered and their results published.
	a.ctx = ctx
	a.work()
	a.save(true)
	a.disconnect(ctx)
}

func (a *actor) disconnect(ctx context.Context) {
	if a.client == nil {
		return
	}
	st, _ := json.Marshal(wire.Status{State: wire.StateOffline, At: time.Now().UTC()})
	if err := a.publish(ctx, wire.Topic(a.drn, wire.KindStatus), 1, true, st); err != nil {
		a.f.warn("publish status", "meter", a.drn, "err", err)
	}
	a.client.Disconnect(100 * time.Millisecond)
	a.client = nil
	a.setUp(false)
}

// setUp records whether the connection is open, counting changes only.
func (a *actor) setUp(up bool) {
	if a.up.CompareAndSwap(!up, up) {
		if up {
			a.f.stats.connectedNow.Add(1)
		} else {
			a.f.stats.connectedNow.Add(-1)
		}
	}
}

// save writes the meter's state when a state directory is set. sync makes
// the write survive a power cut, not only a crash of the process.
func (a *actor) save(sync bool) {
	if a.f.cfg.StateDir == "" || !a.dirty {
		return
	}
	if err := writeState(a.f.cfg.StateDir, a.m.State(), a.seq, sync); err != nil {
		a.f.stats.saveErrors.Add(1)
		a.f.warn("save meter state", "meter", a.drn, "err", err)
		return
	}
	a.dirty = false
}
