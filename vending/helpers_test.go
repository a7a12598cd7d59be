package vending

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/protocol/wire"
	"github.com/stsfleet/stsfleet/simclock"
)

// wallStart is the fake wall time tests start at; simStart the simulated
// time the clock reads then.
var (
	wallStart = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	simStart  = time.Date(2026, 12, 1, 8, 0, 30, 0, time.UTC)
)

// fakeWall is a wall clock tests move by hand.
type fakeWall struct {
	mu sync.Mutex
	t  time.Time
}

func (w *fakeWall) Now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.t
}

func (w *fakeWall) Advance(d time.Duration) {
	w.mu.Lock()
	w.t = w.t.Add(d)
	w.mu.Unlock()
}

// published is one message a fakePublisher took.
type published struct {
	Topic string
	QoS   byte
	Msg   wire.TokenMessage
}

// fakePublisher records publications; fail makes them fail.
type fakePublisher struct {
	mu   sync.Mutex
	msgs []published
	fail bool
}

var errBrokerDown = errors.New("broker down")

func (p *fakePublisher) Publish(ctx context.Context, topic string, qos byte, _ bool,
	payload []byte) error {
	if err := ctx.Err(); err != nil {
		// As a real client: a done context publishes nothing.
		return err
	}
	m, err := wire.DecodeToken(payload)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail {
		return errBrokerDown
	}
	p.msgs = append(p.msgs, published{Topic: topic, QoS: qos, Msg: m})
	return nil
}

func (p *fakePublisher) setFail(v bool) {
	p.mu.Lock()
	p.fail = v
	p.mu.Unlock()
}

// take returns and forgets the messages published so far.
func (p *fakePublisher) take() []published {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.msgs
	p.msgs = nil
	return out
}

// env is a service under test with its fleet, clocks and publisher.
type env struct {
	t     testing.TB
	fleet *Fleet
	wall  *fakeWall
	pub   *fakePublisher
	cfg   Config
	svc   *Service
}

type envOption func(*env)

func withDelivery(d DeliveryConfig) envOption { return func(e *env) { e.cfg.Delivery = d } }

func withoutPublisher() envOption { return func(e *env) { e.cfg.Publisher = nil } }

// newEnv builds a fleet of n meters (seed 7) and a service over a ledger in
// a temporary directory. edit, when set, changes the definition before the
// injection is derived.
func newEnv(t testing.TB, n int, edit func(*Definition), opts ...envOption) *env {
	t.Helper()
	f, err := NewFleet(FleetConfig{Meters: n, Seed: 7})
	if err != nil {
		t.Fatalf("NewFleet: %v", err)
	}
	if edit != nil {
		edit(f.Definition)
		if f.Injection, err = BuildInjection(f.Definition, f.Keys); err != nil {
			t.Fatalf("BuildInjection: %v", err)
		}
	}
	e := &env{t: t, fleet: f, wall: &fakeWall{t: wallStart}, pub: &fakePublisher{}}
	e.cfg = Config{
		Definition: f.Definition, Keys: f.Keys,
		DBPath:    filepath.Join(t.TempDir(), "ledger.db"),
		Publisher: e.pub, Wall: e.wall.Now,
		Clock: &simclock.Clock{Start: simStart, Speed: 1, Epoch: wallStart, Wall: e.wall.Now},
	}
	for _, o := range opts {
		o(e)
	}
	e.start()
	return e
}

// start opens the service on the env's config.
func (e *env) start() {
	e.t.Helper()
	svc, err := New(context.Background(), e.cfg)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	e.svc = svc
	e.t.Cleanup(func() { svc.Close() })
}

// restart closes the service and opens a new one on the same ledger.
func (e *env) restart() {
	e.t.Helper()
	if err := e.svc.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
	e.start()
}

// meterOf returns the first meter of the fleet matching pred.
func (e *env) meterOf(pred func(*Meter) bool) Meter {
	e.t.Helper()
	for _, m := range e.fleet.Definition.Meters {
		if pred(&m) {
			return m
		}
	}
	e.t.Fatal("no meter matches")
	return Meter{}
}

func isUtility(u Utility) func(*Meter) bool {
	return func(m *Meter) bool { return m.Utility == u }
}

func isEA(ea sts.EA) func(*Meter) bool {
	return func(m *Meter) bool { return m.EA == ea && m.Utility == Electricity }
}

// decode decodes a token under the meter's decoder key from the injection,
// as the meter would.
func (e *env) decode(drn, token string) sts.Fields {
	e.t.Helper()
	dk, ok := e.fleet.Injection[drn]
	if !ok {
		e.t.Fatalf("meter %s is not in the injection", drn)
	}
	return decodeUnder(e.t, dk, token)
}

func decodeUnder(t testing.TB, dk DecoderKey, token string) sts.Fields {
	t.Helper()
	c, err := sts.NewCipher(dk.EA, dk.Key, nil)
	if err != nil {
		t.Fatalf("NewCipher: %v", err)
	}
	tok, err := sts.ParseToken(token)
	if err != nil {
		t.Fatalf("ParseToken(%s): %v", token, err)
	}
	f, ok, err := sts.Decode(c, tok)
	if err != nil || !ok {
		t.Fatalf("token %s does not decode under the meter's key: crc ok %v, err %v",
			token, ok, err)
	}
	return f
}

// vend sells amount KES to a meter and fails the test on error.
func (e *env) vend(drn, amount string) *VendResponse {
	e.t.Helper()
	r, err := e.svc.Vend(context.Background(), VendRequest{Meter: drn, Amount: Decimal(amount)}, "")
	if err != nil {
		e.t.Fatalf("Vend(%s, %s): %v", drn, amount, err)
	}
	return r
}

// result hands the service a meter's result for a token message and
// handles it at once, as a worker would.
func (e *env) result(drn string, m wire.TokenMessage, outcome sts.Outcome) {
	e.t.Helper()
	e.svc.handleResult(resultIn{drn: drn, payload: resultPayload(m.VendID, m.Token, outcome),
		at: e.wall.Now()})
}

func resultPayload(vendID, token string, outcome sts.Outcome) []byte {
	b, _ := jsonMarshal(wire.ResultMessage{VendID: vendID, Token: token,
		Outcome: outcome.String(), Credited: "0", Unit: "kWh"})
	return b
}

func ruleOf(err error) Rule {
	var re *RuleError
	if errors.As(err, &re) {
		return re.Rule
	}
	return ""
}

func fieldOf(err error) string {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func sortStrings(s []string) []string {
	out := append([]string(nil), s...)
	slices.Sort(out)
	return out
}

func ratFromMinor(v int64) *big.Rat { return big.NewRat(v, 100) }
