package natsx

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stsfleet/stsfleet/internal/ratelimit"
	"github.com/stsfleet/stsfleet/protocol/wire"
)

// Defaults applied by [NewVendForwarder] to zero [ForwarderConfig] fields.
const (
	// DefaultForwardQueue is the depth of the forwarder's queue.
	DefaultForwardQueue = 4096
	// DefaultForwardAttempts is how often a vend event is tried.
	DefaultForwardAttempts = 10
	// DefaultForwardWorkers is how many events are published at once.
	DefaultForwardWorkers = 8
)

// ForwarderConfig sizes a [VendForwarder].
type ForwarderConfig struct {
	// Queue is the number of events waiting to be published; an event
	// offered to a full queue is dropped and counted. Zero means
	// [DefaultForwardQueue].
	Queue int
	// Attempts is how often a publish is tried before the event is
	// counted as failed. Zero means [DefaultForwardAttempts].
	Attempts int
	// RetryWait is the first pause between attempts, doubling up to five
	// seconds. Zero means 100 ms.
	RetryWait time.Duration
	// DrainTimeout bounds publishing what is queued when Run's context
	// ends. Zero means ten seconds.
	DrainTimeout time.Duration
	// Workers is how many events are published at once, each waiting
	// for JetStream's acknowledgement, so that a slow round trip does not
	// bound the rate. Zero means [DefaultForwardWorkers].
	Workers int
	// Logger receives failures, rate-limited. Nil discards them.
	Logger *slog.Logger
}

// VendForwarder publishes vend events in the background for a caller that
// must not block, such as the vending service's event sink: Offer queues,
// Run publishes with retries. A vending.EventSink over it is
//
//	func (s sink) Emit(e vending.Event) {
//		if v, ok := e.WireVend(); ok {
//			s.fwd.Offer(v)
//		}
//	}
//
// Every event ends published, dropped (queue full) or failed, and is
// counted ([VendForwarder.Stats]). Events are published several at a time,
// so not always in the order they were offered. Offer may be called from
// any goroutine.
type VendForwarder struct {
	pub   *VendPublisher
	cfg   ForwarderConfig
	queue chan wire.VendEvent
	log   *slog.Logger
	lim   *ratelimit.Limiter

	published, dropped, failed atomic.Uint64
}

// NewVendForwarder returns a forwarder publishing through p.
func NewVendForwarder(p *VendPublisher, cfg ForwarderConfig) *VendForwarder {
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultForwardQueue
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultForwardAttempts
	}
	if cfg.RetryWait <= 0 {
		cfg.RetryWait = 100 * time.Millisecond
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 10 * time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultForwardWorkers
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &VendForwarder{pub: p, cfg: cfg, queue: make(chan wire.VendEvent, cfg.Queue),
		log: log, lim: ratelimit.New(10 * time.Second)}
}

// Offer queues an event without waiting. It reports false, and counts the
// event as dropped, when the queue is full.
func (f *VendForwarder) Offer(ev wire.VendEvent) bool {
	select {
	case f.queue <- ev:
		return true
	default:
		f.dropped.Add(1)
		if ok, held := f.lim.Allow("drop"); ok {
			f.log.Warn("vend event queue full; event dropped", "vend", ev.VendID,
				"meter", ev.Meter, "suppressed", held)
		}
		return false
	}
}

// Run publishes queued events, Workers at a time, until ctx ends, then
// what is still queued within the drain timeout; whatever remains is
// counted as failed. It returns once every worker has.
func (f *VendForwarder) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range f.cfg.Workers {
		wg.Go(func() { f.work(ctx) })
	}
	wg.Wait()
	return nil
}

func (f *VendForwarder) work(ctx context.Context) {
	for {
		select {
		case ev := <-f.queue:
			f.publish(ctx, ev)
		case <-ctx.Done():
			drain, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.cfg.DrainTimeout)
			defer cancel()
			for {
				select {
				case ev := <-f.queue:
					f.publish(drain, ev)
				default:
					return
				}
			}
		}
	}
}

func (f *VendForwarder) publish(ctx context.Context, ev wire.VendEvent) {
	payload, err := json.Marshal(ev)
	wait := f.cfg.RetryWait
	for attempt := 1; err == nil; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = f.pub.PublishVend(actx, ev.Meter, payload)
		cancel()
		if err == nil {
			f.published.Add(1)
			return
		}
		if attempt >= f.cfg.Attempts || !Transient(err) || ctx.Err() != nil {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		wait = min(2*wait, 5*time.Second)
		err = nil
	}
	f.failed.Add(1)
	if ok, held := f.lim.Allow("fail"); ok {
		f.log.Error("vend event not published", "vend", ev.VendID, "meter", ev.Meter,
			"err", err, "suppressed", held)
	}
}

// ForwarderStats counts what became of the offered events.
type ForwarderStats struct {
	// Published events are stored in JetStream.
	Published uint64
	// Dropped events found the queue full.
	Dropped uint64
	// Failed events could not be published after every attempt, or were
	// invalid.
	Failed uint64
	// Queued events wait to be published.
	Queued int
}

// Stats returns the counts now.
func (f *VendForwarder) Stats() ForwarderStats {
	return ForwarderStats{Published: f.published.Load(), Dropped: f.dropped.Load(),
		Failed: f.failed.Load(), Queued: len(f.queue)}
}
