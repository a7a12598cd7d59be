package vending

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stsfleet/stsfleet/internal/ratelimit"
	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/simclock"
	"github.com/stsfleet/stsfleet/vending/ledger"
	"golang.org/x/sync/errgroup"
)

// Config configures a [Service]. Fields without a stated default are
// required.
type Config struct {
	// Definition is the fleet to sell to. Meters the ledger already
	// knows keep the ledger's identity (a key change may have moved
	// them on); tariffs are taken from the definition. Nil starts with
	// the fleet the ledger holds, which may be none until POST /v1/fleet.
	Definition *Definition
	// Keys holds the vending keys the decoder keys derive from.
	Keys *KeyStore
	// DBPath is the ledger's SQLite file, created if missing.
	DBPath string
	// Ledger tunes the ledger's group commit; its OnCommit and
	// OnAsyncError are set by the service. A zero Window means
	// [DefaultLedgerWindow], a negative one that the writer never waits;
	// at most [MaxLedgerWindow].
	Ledger ledger.Options
	// Publisher delivers tokens. Nil records tokens in the ledger without
	// publishing them (customers key them in from their receipt).
	Publisher Publisher
	// Delivery tunes redelivery.
	Delivery DeliveryConfig
	// Clock is the simulated clock TIDs are issued on. Nil means real
	// time.
	Clock *simclock.Clock
	// Wall is the wall clock of latencies, backoff and timestamps. Nil
	// means time.Now.
	Wall func() time.Time
	// Logger receives the service's logs. Nil discards them.
	Logger *slog.Logger
	// Registry receives the service's metrics. Nil keeps them private.
	Registry prometheus.Registerer
	// Events receives vend events. Nil means none.
	Events EventSink
	// APIToken is the bearer token of the HTTP API. Empty disables
	// authentication (tests and in-process use only).
	APIToken string
	// TIDWarning is how long before the end of a meter's base date the
	// vendor starts warning, on the simulated clock. Zero means 180 days.
	TIDWarning time.Duration
	// ResultWorkers is the number of goroutines handling results. Each
	// meter's results go to one of them, in the order they arrived. Zero
	// means 2.
	ResultWorkers int
	// Tables are the STA tables for EA07. Nil means the sample tables.
	Tables *sts.Tables
	// FleetPath, when set, is rewritten (atomically) with the current
	// fleet definition whenever a key change takes effect.
	FleetPath string
}

// DeliveryConfig tunes at-least-once delivery.
type DeliveryConfig struct {
	// InitialBackoff is the wait for a result after the first
	// publication; each further attempt doubles it. Zero means 5 s.
	InitialBackoff time.Duration
	// MaxBackoff caps the wait. Zero means 2 min.
	MaxBackoff time.Duration
	// MaxAttempts is the number of publications before a token is lost
	// (one backoff after the last). Zero means 6.
	MaxAttempts int
	// TickInterval is how often Run looks for due tokens. Zero means 1 s.
	TickInterval time.Duration
	// PublishTimeout bounds one publication. Zero means 10 s.
	PublishTimeout time.Duration
	// Concurrency is how many redeliveries are published at once. Zero
	// means 16.
	Concurrency int
}

func (d *DeliveryConfig) resolve() {
	if d.InitialBackoff <= 0 {
		d.InitialBackoff = 5 * time.Second
	}
	if d.MaxBackoff <= 0 {
		d.MaxBackoff = 2 * time.Minute
	}
	if d.MaxBackoff < d.InitialBackoff {
		d.MaxBackoff = d.InitialBackoff
	}
	if d.MaxAttempts <= 0 {
		d.MaxAttempts = 6
	}
	if d.TickInterval <= 0 {
		d.TickInterval = time.Second
	}
	if d.PublishTimeout <= 0 {
		d.PublishTimeout = 10 * time.Second
	}
	if d.Concurrency <= 0 {
		d.Concurrency = 16
	}
}

// backoff returns the wait after the attempt-th publication.
func (d *DeliveryConfig) backoff(attempt int) time.Duration {
	b := d.InitialBackoff
	for i := 1; i < attempt && b < d.MaxBackoff; i++ {
		b *= 2
	}
	return min(b, d.MaxBackoff)
}

// Service is the vending service: it prices vends, issues tokens with
// strictly increasing TIDs per meter, records them in the ledger before
// publishing them, and delivers them at least once. Construct it with
// [New], run its workers with [Service.Run], serve [Service.Handler], and
// [Service.Close] it after Run returned. All methods are safe for
// concurrent use.
type Service struct {
	cfg    Config
	log    *slog.Logger
	led    *ledger.Ledger
	keys   *KeyStore
	pub    Publisher
	clock  *simclock.Clock
	wall   func() time.Time
	met    *metrics
	events EventSink
	lat    *latencies
	warn   *limiter

	// mu guards meters and tariffs; each meterState has its own lock for
	// its vending state. Lock order: mu, then a meter's mu, then outMu.
	mu      sync.RWMutex
	meters  map[string]*meterState
	tariffs map[string]*pricer

	idem idempotency

	// outMu guards out, every outToken in it and stats.
	outMu sync.Mutex
	out   map[string]*outVend
	stats counters

	// results holds one queue per result worker; a meter's results all
	// go through the same one, so they are handled in arrival order.
	results []*queue[resultIn]
	// fileMu serialises rewrites of FleetPath.
	fileMu sync.Mutex

	closeOnce sync.Once
	closeErr  error
}

// DefaultLedgerWindow is how long the ledger's writer waits, after the
// first request of a batch, for others to join it. A millisecond is
// little next to a commit's fsync, and under load it makes batches large
// enough to halve the cost of a vend: at 6,000 vends/s on two CPUs it is
// the difference between keeping up and falling behind.
const DefaultLedgerWindow = time.Millisecond

// MaxLedgerWindow is the longest ledger window New accepts.
const MaxLedgerWindow = time.Second

// New opens the ledger, loads the fleet and the tokens still in delivery,
// and returns a service ready to take vends. The caller must Close it.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Keys == nil {
		return nil, errors.New("new vending service: no key store")
	}
	if cfg.DBPath == "" {
		return nil, errors.New("new vending service: no ledger path")
	}
	cfg.Delivery.resolve()
	if cfg.TIDWarning <= 0 {
		cfg.TIDWarning = 180 * 24 * time.Hour
	}
	if cfg.ResultWorkers <= 0 {
		cfg.ResultWorkers = 2
	}
	s := &Service{cfg: cfg, log: cfg.Logger, keys: cfg.Keys, pub: cfg.Publisher,
		clock: cfg.Clock, wall: cfg.Wall, events: cfg.Events, lat: newLatencies(),
		meters: map[string]*meterState{}, tariffs: map[string]*pricer{},
		out: map[string]*outVend{}, stats: newCounters()}
	for range cfg.ResultWorkers {
		s.results = append(s.results, newQueue[resultIn]())
	}
	s.idem = newIdempotency()
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.wall == nil {
		s.wall = time.Now
	}
	if s.clock == nil {
		now := s.wall()
		s.clock = &simclock.Clock{Start: now, Speed: 1, Epoch: now, Wall: s.wall}
	}
	if s.events == nil {
		s.events = noEvents{}
	}
	s.warn = newLimiter(s.log, time.Minute, s.wall)
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s.met = newMetrics(reg, func() float64 { return float64(s.pendingCount()) })
	lopts := cfg.Ledger
	switch {
	case lopts.Window > MaxLedgerWindow:
		return nil, fmt.Errorf("new vending service: ledger window %v: at most %v, "+
			"since every vend may wait that long", lopts.Window, MaxLedgerWindow)
	case lopts.Window == 0:
		lopts.Window = DefaultLedgerWindow
	case lopts.Window < 0:
		lopts.Window = 0
	}
	lopts.OnCommit = func(n int, _ time.Duration, _ error) { s.met.ledgerBatch.Observe(float64(n)) }
	lopts.OnAsyncError = func(err error) {
		s.log.Error("ledger write failed", "err", err)
	}
	led, err := ledger.Open(ctx, cfg.DBPath, lopts)
	if err != nil {
		return nil, fmt.Errorf("new vending service: %w", err)
	}
	s.led = led
	if err := s.load(ctx); err != nil {
		led.Close()
		return nil, fmt.Errorf("new vending service: %w", err)
	}
	return s, nil
}

// Run handles results and redelivers tokens until ctx is done, then
// handles the results already received and returns nil.
func (s *Service) Run(ctx context.Context) error {
	s.log.Info("vending service running", "meters", s.meterCount(),
		"pending", s.pendingCount(), "clock", s.clock.String())
	g, gctx := errgroup.WithContext(ctx)
	for _, q := range s.results {
		g.Go(func() error {
			for {
				r, ok := q.Pop(gctx)
				if !ok {
					return nil
				}
				s.handleResult(r)
			}
		})
	}
	g.Go(func() error {
		t := time.NewTicker(s.cfg.Delivery.TickInterval)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-t.C:
				s.Tick(gctx)
			}
		}
	})
	err := g.Wait()
	// Results that arrived before the end still count.
	for _, q := range s.results {
		for r, ok := q.TryPop(); ok; r, ok = q.TryPop() {
			s.handleResult(r)
		}
	}
	s.log.Info("vending service stopped", "pending", s.pendingCount())
	return err
}

// Close commits what is queued for the ledger and closes it. Call it after
// Run has returned and the HTTP server has stopped. It is idempotent.
func (s *Service) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.led.Close() })
	return s.closeErr
}

// idAlphabet is Crockford's base32 in lower case; its order matches byte
// order, so IDs sort by creation time.
var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").
	WithPadding(base32.NoPadding)

// newID returns a 26-character vend ID: 48 bits of wall milliseconds and
// 80 random bits.
func (s *Service) newID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(s.wall().UnixMilli())<<16)
	rand.Read(b[6:])
	return idEncoding.EncodeToString(b[:])
}

// limiter rate-limits a repeated warning: the first is logged, later ones
// at most once per period with the number suppressed since.
type limiter struct {
	log *slog.Logger
	lim *ratelimit.Limiter
}

func newLimiter(log *slog.Logger, period time.Duration, now func() time.Time) *limiter {
	return &limiter{log: log, lim: ratelimit.NewWithClock(period, now)}
}

// Warn logs msg unless one with the same msg was logged within the period.
func (l *limiter) Warn(msg string, args ...any) {
	ok, n := l.lim.Allow(msg)
	if !ok {
		return
	}
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	l.log.Warn(msg, args...)
}
