package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/stsfleet/stsfleet/internal/ratelimit"
	"github.com/stsfleet/stsfleet/meter"
	"github.com/stsfleet/stsfleet/vending"
)

// Errors callers branch on.
var (
	// ErrUnknownMeter reports a DRN that this fleet (or shard) does not run.
	ErrUnknownMeter = errors.New("meter not in this fleet")
	// ErrStopped reports a call on a fleet that is shutting down or has
	// not started.
	ErrStopped = errors.New("fleet not running")

	// errPurchaseCancelled is the answer to a purchase still queued when
	// customers stopped buying.
	errPurchaseCancelled = errors.New("purchase cancelled: customers stopped buying")
)

// Fleet runs virtual meters over MQTT: one actor per meter, owning its
// meter.Meter and its MQTT client. Create it with [New], then [Fleet.Start]
// and [Fleet.Shutdown]. Every method is safe for concurrent use.
type Fleet struct {
	cfg Config
	log *slog.Logger
	// runID tells this process's idempotency keys from another's.
	runID string
	// currency maps tariff names to their currency.
	currency       map[string]string
	telemetryEvery int

	actors []*actor
	byDRN  map[string]*actor
	ramp   *rate.Limiter
	buys   chan purchase
	stats  *stats
	events *eventLog
	warns  *ratelimit.Limiter

	buyingStopped atomic.Bool
	// ctx ends at Shutdown; every goroutine of the fleet runs under it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// ready counts meters that have not finished their first connect.
	ready    sync.WaitGroup
	fatalErr chan error

	mu       sync.Mutex
	started  bool
	stopping bool
	stopped  chan struct{}
	stopErr  error
}

// purchase is one customer's request on its way to the buyers.
type purchase struct {
	a   *actor
	at  time.Time
	req VendRequest
}

// New checks cfg and builds the meters of its shard: restored from
// cfg.StateDir where a state file exists, new from the definition and the
// injected keys otherwise. Nothing connects until Start.
func New(cfg Config) (*Fleet, error) {
	cfg, err := cfg.validate()
	if err != nil {
		return nil, fmt.Errorf("new fleet: %w", err)
	}
	var nonce [4]byte
	rand.Read(nonce[:])
	// A burst of a tenth of a second's connections.
	burst := max(1, int(cfg.ConnectRate/10))
	f := &Fleet{
		cfg: cfg, log: cfg.Logger, runID: hex.EncodeToString(nonce[:]),
		currency:       make(map[string]string),
		telemetryEvery: cfg.telemetryEvery(),
		byDRN:          make(map[string]*actor),
		ramp:           rate.NewLimiter(rate.Limit(cfg.ConnectRate), burst),
		stats:          newStats(),
		events:         newEventLog(cfg.Events),
		warns:          ratelimit.New(time.Minute),
		fatalErr:       make(chan error, 1),
		stopped:        make(chan struct{}),
	}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	for _, t := range cfg.Definition.Tariffs {
		f.currency[t.Name] = t.Currency
	}
	if cfg.StateDir != "" {
		if err := ensureStateDir(cfg.StateDir); err != nil {
			return nil, fmt.Errorf("new fleet: %w", err)
		}
	}
	start := cfg.Clock.Now()
	for i := range cfg.Definition.Meters {
		def := &cfg.Definition.Meters[i]
		if !cfg.Shard.Has(def.DRN) {
			continue
		}
		a, err := f.build(def, start)
		if err != nil {
			return nil, fmt.Errorf("new fleet: %w", err)
		}
		f.actors = append(f.actors, a)
		f.byDRN[def.DRN] = a
	}
	f.buys = make(chan purchase, len(f.actors)+1)
	if cfg.Registerer != nil {
		if err := f.stats.register(cfg.Registerer, f); err != nil {
			return nil, fmt.Errorf("new fleet: %w", err)
		}
	}
	return f, nil
}

// build makes one meter's actor, from its saved state if there is one.
func (f *Fleet) build(def *vending.Meter, now time.Time) (*actor, error) {
	if f.cfg.StateDir != "" {
		saved, ok, err := readState(f.cfg.StateDir, def.DRN)
		if err != nil {
			return nil, err
		}
		if ok {
			m, err := meter.Restore(saved.Meter, f.cfg.Tables)
			if err != nil {
				return nil, fmt.Errorf("meter %s: %w", def.DRN, err)
			}
			f.stats.restored.Add(1)
			return newActor(f, def, m, saved.Seq), nil
		}
	}
	key, ok := f.cfg.Injection[def.DRN]
	if !ok {
		return nil, fmt.Errorf("meter %s: no decoder key in the injection", def.DRN)
	}
	mc, err := f.cfg.meterConfig(def, key)
	if err != nil {
		return nil, err
	}
	m, err := meter.New(mc, now)
	if err != nil {
		return nil, fmt.Errorf("meter %s: %w", def.DRN, err)
	}
	a := newActor(f, def, m, 0)
	// A new meter has never been saved.
	a.dirty = true
	return a, nil
}

// Shard returns the slice of the fleet this one runs.
func (f *Fleet) Shard() Shard { return f.cfg.Shard }

// Len returns the number of meters the fleet runs.
func (f *Fleet) Len() int { return len(f.actors) }

// DRNs returns the DRNs of the fleet's meters, in definition order.
func (f *Fleet) DRNs() []string {
	out := make([]string, len(f.actors))
	for i, a := range f.actors {
		out[i] = a.drn
	}
	return out
}

// Start connects every meter, at cfg.ConnectRate per second, and starts
// their lives: consumption, telemetry and purchases. It returns once every
// meter has connected, or with an error when one was refused or ctx ended
// first; call Shutdown in every case.
func (f *Fleet) Start(ctx context.Context) error {
	f.mu.Lock()
	if f.started || f.stopping {
		f.mu.Unlock()
		return fmt.Errorf("start fleet: %w", ErrStopped)
	}
	f.started = true
	f.ready.Add(len(f.actors))
	for range f.cfg.Buyers {
		f.wg.Add(1)
		go f.buyer()
	}
	for _, a := range f.actors {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			a.run(f.ctx)
		}()
	}
	f.wg.Add(1)
	go f.flushEvents()
	f.mu.Unlock()
	f.log.Info("fleet starting", "meters", len(f.actors), "shard", f.cfg.Shard.String(),
		"clock", f.cfg.Clock.String())

	all := make(chan struct{})
	go func() {
		f.ready.Wait()
		close(all)
	}()
	select {
	case <-all:
	case err := <-f.fatalErr:
		return fmt.Errorf("start fleet: %w", err)
	case <-ctx.Done():
		return fmt.Errorf("start fleet: %w", ctx.Err())
	}
	select {
	case err := <-f.fatalErr:
		return fmt.Errorf("start fleet: %w", err)
	default:
	}
	f.log.Info("fleet connected", "meters", len(f.actors))
	return nil
}

// connected is called by each actor once its first connect has ended.
func (f *Fleet) connected(a *actor, err error) {
	defer f.ready.Done()
	if err == nil || errors.Is(err, context.Canceled) {
		return
	}
	select {
	case f.fatalErr <- err:
	default:
	}
}

// buyer makes purchases for the customers until the fleet stops.
func (f *Fleet) buyer() {
	defer f.wg.Done()
	for {
		select {
		case <-f.ctx.Done():
			return
		case p := <-f.buys:
			var (
				rc  Receipt
				err = errPurchaseCancelled
			)
			// Once the run ends, purchases still queued are not made: the
			// end of a run waits only for those already with the vendor.
			if !f.buyingStopped.Load() {
				rc, err = f.cfg.Vendor.Vend(f.ctx, p.req)
			}
			p.a.box.put(func(a *actor) { a.bought(p, rc, err) })
		}
	}
}

// flushEvents writes buffered events out every second, so that the
// events file can be followed while the fleet runs.
func (f *Fleet) flushEvents() {
	defer f.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-t.C:
			if err := f.events.flush(); err != nil {
				f.warn("events", "err", err)
			}
		}
	}
}

// StopBuying stops the customers from buying: purchases already made go
// on, no new one starts. It is the first step of ending a run.
func (f *Fleet) StopBuying() { f.buyingStopped.Store(true) }

// Final stops simulated time for every meter at the current simulated
// time and publishes each meter's final reading at QoS 1, waiting for the
// broker to acknowledge them. Tokens that arrive later are still entered,
// at that time. Customers stop buying.
//
// Every meter's clock stops first, so no periodic reading follows a final
// one. The final readings then go out at cfg.ConnectRate per second: a
// subscriber of every meter's telemetry (the bridge to analytics) gets
// them in a stream rather than all in one instant, which would overflow
// its queue at the broker.
func (f *Fleet) Final(ctx context.Context) error {
	f.StopBuying()
	t := f.cfg.Clock.Now()
	if err := errors.Join(f.each(ctx, func(a *actor) error {
		a.freeze(t)
		return nil
	})...); err != nil {
		return fmt.Errorf("final readings: %w", err)
	}
	pace := rate.NewLimiter(rate.Limit(f.cfg.ConnectRate), finalBurst)
	replies := make(chan error, len(f.actors))
	for _, a := range f.actors {
		if err := pace.Wait(ctx); err != nil {
			return fmt.Errorf("final readings: %w", err)
		}
		a.box.put(func(a *actor) { replies <- a.final(a.ctx) })
	}
	var errs []error
	for range f.actors {
		select {
		case err := <-replies:
			if err != nil {
				errs = append(errs, err)
			}
		case <-ctx.Done():
			return fmt.Errorf("final readings: %w", ctx.Err())
		case <-f.stopped:
			return fmt.Errorf("final readings: %w", ErrStopped)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("final readings: %w", err)
	}
	return nil
}

// FinalPace is how long [Fleet.Final] takes at least to send every
// meter's final reading at cfg.ConnectRate: a deadline for Final must
// allow this much on top of the broker's answers.
func (f *Fleet) FinalPace() time.Duration {
	return time.Duration(float64(max(len(f.actors)-finalBurst, 0)) / f.cfg.ConnectRate *
		float64(time.Second))
}

// finalBurst is how many final readings may go out at once.
const finalBurst = 32

// each runs fn on every actor's goroutine, all at once, and waits for
// them; it returns the errors.
func (f *Fleet) each(ctx context.Context, fn func(*actor) error) []error {
	replies := make(chan error, len(f.actors))
	for _, a := range f.actors {
		a.box.put(func(a *actor) { replies <- fn(a) })
	}
	var errs []error
	for _, a := range f.actors {
		select {
		case err := <-replies:
			if err != nil {
				errs = append(errs, err)
			}
		case <-ctx.Done():
			return append(errs, ctx.Err())
		case <-f.stopped:
			return append(errs, fmt.Errorf("meter %s: %w", a.drn, ErrStopped))
		}
	}
	return errs
}

// ask runs fn on the goroutine of the meter with this DRN and waits.
func (f *Fleet) ask(ctx context.Context, drn string, fn func(*actor)) error {
	a := f.byDRN[drn]
	if a == nil {
		return fmt.Errorf("meter %s: %w", drn, ErrUnknownMeter)
	}
	f.mu.Lock()
	running := f.started && !f.stopping
	f.mu.Unlock()
	if !running {
		return fmt.Errorf("meter %s: %w", drn, ErrStopped)
	}
	done := make(chan struct{})
	a.box.put(func(a *actor) {
		fn(a)
		close(done)
	})
	select {
	case <-done:
		return nil
	case <-a.done:
		return fmt.Errorf("meter %s: %w", drn, ErrStopped)
	case <-ctx.Done():
		return fmt.Errorf("meter %s: %w", drn, ctx.Err())
	}
}

// Type enters a token at the keypad of the meter with this DRN, as a
// customer would type it, and returns the meter's answer. The result is
// published on the meter's result topic like that of a token received
// over MQTT, without a vend ID.
func (f *Fleet) Type(ctx context.Context, drn, token string) (meter.Result, error) {
	var r meter.Result
	err := f.ask(ctx, drn, func(a *actor) { r = a.typeToken(a.ctx, token) })
	if err != nil {
		return meter.Result{}, fmt.Errorf("type token: %w", err)
	}
	return r, nil
}

// SetOnline takes the meter with this DRN off the network (false) or
// brings it back (true). Off, it publishes its offline status and
// disconnects; the broker keeps its session, and the tokens published
// meanwhile reach it when it is back.
func (f *Fleet) SetOnline(ctx context.Context, drn string, online bool) error {
	var err error
	if aerr := f.ask(ctx, drn, func(a *actor) { err = a.setOnline(ctx, online) }); aerr != nil {
		return fmt.Errorf("set meter online: %w", aerr)
	}
	if err != nil {
		return fmt.Errorf("set meter online: %w", err)
	}
	return nil
}

// Shutdown ends the fleet in order: customers stop buying, each meter
// enters what it has received, saves its state (with cfg.StateDir),
// publishes its offline status and disconnects; then the events file is
// flushed. It waits for every goroutine, or until ctx ends. Later calls
// wait for the first and return its result.
func (f *Fleet) Shutdown(ctx context.Context) error {
	f.mu.Lock()
	if f.stopping {
		f.mu.Unlock()
		<-f.stopped
		return f.stopErr
	}
	f.stopping = true
	f.mu.Unlock()

	f.StopBuying()
	f.cancel()
	done := make(chan struct{})
	go func() {
		f.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		f.stopErr = fmt.Errorf("shut down fleet: %w", ctx.Err())
	}
	if err := f.events.close(); err != nil && f.stopErr == nil {
		f.stopErr = fmt.Errorf("shut down fleet: %w", err)
	}
	f.log.Info("fleet stopped", "meters", len(f.actors))
	close(f.stopped)
	return f.stopErr
}

// warn logs a recoverable anomaly, at most once a minute for each message;
// the rest are counted in the next line.
func (f *Fleet) warn(msg string, args ...any) {
	if ok, skipped := f.warns.Allow(msg); ok {
		if skipped > 0 {
			args = append(args, "similar_suppressed", skipped)
		}
		f.log.Warn(msg, args...)
	}
}
