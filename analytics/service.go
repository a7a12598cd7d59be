package analytics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/stsfleet/stsfleet/internal/ratelimit"
	"github.com/stsfleet/stsfleet/natsx"
	"github.com/stsfleet/stsfleet/protocol/wire"
)

// Defaults applied by [New] to zero [Config] fields.
const (
	// DefaultCheckpointInterval is the longest time between checkpoints.
	DefaultCheckpointInterval = time.Second
	// DefaultCheckpointMessages is the most JetStream messages applied
	// between checkpoints.
	DefaultCheckpointMessages = 2000
	// DefaultTelemetryBuffer is how many telemetry messages may wait for
	// the aggregator before the NATS client drops them as a slow consumer.
	DefaultTelemetryBuffer = 65536
)

// Config describes one analytics instance.
type Config struct {
	// URL is the NATS server or comma-separated cluster. Empty means
	// [natsx.DefaultURL].
	URL string
	// Partitions is the share of the meters this instance owns. The zero
	// value means every partition of [wire.DefaultPartitions].
	Partitions PartitionSet
	// Name is the durable consumer's name. Empty means
	// [PartitionSet.ConsumerName]. Exactly one running instance may use a
	// name: two would split its messages between them.
	Name string
	// StateDir, when set, keeps a checkpoint of the totals there
	// (NAME.state.json), so that a restart resumes from the durable
	// consumer where the checkpoint ends. Empty keeps the totals in memory
	// only: each start replays the stream from its first message.
	StateDir string
	// Stream sizes the JetStream stream when this instance is the first
	// to need it; an existing stream is used as it is.
	Stream natsx.StreamConfig
	// CheckpointInterval is the longest wall time between checkpoints,
	// and so between acknowledgements. Zero means
	// [DefaultCheckpointInterval].
	CheckpointInterval time.Duration
	// CheckpointMessages is the most JetStream messages applied between
	// checkpoints. Zero means [DefaultCheckpointMessages].
	CheckpointMessages int
	// TelemetryBuffer is the number of core-NATS telemetry messages
	// buffered for the aggregator. Zero means [DefaultTelemetryBuffer].
	TelemetryBuffer int
	// Listener, when set, is where Run serves [Service.Handler] until it
	// returns; Run closes it, so it serves one Run. Nil serves nothing:
	// mount Handler yourself.
	Listener net.Listener
	// Registry receives the instance's metrics. Nil means a registry of
	// its own, which [Service.Handler] serves.
	Registry *prometheus.Registry
	// Index, when set, is what [Service.Handler] serves at GET /, such as
	// the status page. Nil serves nothing there.
	Index http.Handler
	// Now is the wall clock for lag and latency. Nil means time.Now.
	Now func() time.Time
	// Logger receives lifecycle events and rate-limited warnings. Nil
	// discards them.
	Logger *slog.Logger
}

// Service is one analytics instance. Create it with [New] and start it with
// [Service.Run]; [Service.Summary] and [Service.Handler] may be used from
// any goroutine at any time.
type Service struct {
	cfg  Config
	name string
	log  *slog.Logger
	agg  *aggregator
	reg  *prometheus.Registry
	warn *ratelimit.Limiter

	slow, checkpoints, cpFailures atomic.Int64
	ready                         chan struct{}
	readyOnce                     sync.Once
	running                       atomic.Bool
}

// New checks cfg, applies its defaults and registers the instance's
// metrics.
func New(cfg Config) (*Service, error) {
	if cfg.Partitions.Len() == 0 {
		all, err := AllPartitions(cfg.Partitions.Count())
		if err != nil {
			return nil, fmt.Errorf("new analytics: %w", err)
		}
		cfg.Partitions = all
	}
	if cfg.Name == "" {
		cfg.Name = cfg.Partitions.ConsumerName()
	}
	if err := wire.CheckSubjectToken(cfg.Name); err != nil {
		return nil, fmt.Errorf("new analytics: name %q: %w", cfg.Name, err)
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = DefaultCheckpointInterval
	}
	if cfg.CheckpointMessages <= 0 {
		cfg.CheckpointMessages = DefaultCheckpointMessages
	}
	if cfg.TelemetryBuffer <= 0 {
		cfg.TelemetryBuffer = DefaultTelemetryBuffer
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}

	s := &Service{
		cfg: cfg, name: cfg.Name, agg: newAggregator(), reg: cfg.Registry,
		log:   cfg.Logger.With("component", "analytics", "partitions", cfg.Partitions.String()),
		warn:  ratelimit.NewWithClock(10*time.Second, cfg.Now),
		ready: make(chan struct{}),
	}
	col := newCollector(s.agg, cfg.Partitions.Len(), func() (int64, int64, int64) {
		return s.slow.Load(), s.checkpoints.Load(), s.cpFailures.Load()
	})
	if err := s.reg.Register(col); err != nil {
		return nil, fmt.Errorf("new analytics: register metrics: %w", err)
	}
	if err := s.reg.Register(newFraudCollector(s.agg)); err != nil {
		return nil, fmt.Errorf("new analytics: register metrics: %w", err)
	}
	return s, nil
}

// Summary returns the instance's totals now.
func (s *Service) Summary() Summary {
	return s.agg.summary(s.cfg.Partitions.String(), s.slow.Load())
}

// Partitions returns the partitions the instance owns.
func (s *Service) Partitions() PartitionSet { return s.cfg.Partitions }

// Registry returns the registry holding the instance's metrics.
func (s *Service) Registry() *prometheus.Registry { return s.reg }

// Ready is closed once Run has restored its state and subscribed to every
// subject it owns: telemetry published after that reaches the instance.
func (s *Service) Ready() <-chan struct{} { return s.ready }

// ErrRunning reports a second concurrent call of [Service.Run].
var ErrRunning = errors.New("analytics already running")

// Run connects to NATS, restores the checkpoint, consumes the instance's
// partitions and, with Config.Listener, serves HTTP, until ctx ends. It then
// stops intake, writes a last checkpoint, acknowledges what it covers and
// closes the connection. Run may be called again after it returns: the
// next run resumes where this one ended.
func (s *Service) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer s.running.Store(false)
	if s.cfg.Listener != nil {
		defer s.cfg.Listener.Close()
	}

	nc, err := natsx.Connect(natsx.ConnectConfig{
		URL: s.cfg.URL, Name: s.name, Logger: s.log,
		OnSlowConsumer: func(*nats.Subscription) { s.slow.Add(1) },
	})
	if err != nil {
		return fmt.Errorf("run analytics: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("run analytics: %w", err)
	}
	cons, err := s.prepare(ctx, js)
	if err != nil {
		return fmt.Errorf("run analytics: %w", err)
	}

	telemetry := make(chan *nats.Msg, s.cfg.TelemetryBuffer)
	var subs []*nats.Subscription
	defer func() {
		for _, sub := range subs {
			sub.Unsubscribe()
		}
	}()
	for _, f := range s.cfg.Partitions.filters([]wire.Channel{wire.ChannelTelemetry}) {
		sub, err := nc.ChanSubscribe(f, telemetry)
		if err != nil {
			return fmt.Errorf("run analytics: subscribe %s: %w", f, err)
		}
		subs = append(subs, sub)
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = nc.FlushWithContext(fctx)
	cancel()
	if err != nil {
		return fmt.Errorf("run analytics: subscribe: %w", err)
	}
	s.log.Info("analytics ready", "consumer", s.name, "seq", s.agg.lastSeq())
	s.readyOnce.Do(func() { close(s.ready) })

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.consumeTelemetry(gctx, telemetry) })
	g.Go(func() error { return s.consumeStream(gctx, cons) })
	if s.cfg.Listener != nil {
		g.Go(func() error { return s.serveHTTP(gctx, s.cfg.Listener) })
	}
	err = g.Wait()
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		return nil
	}
	return err
}

// prepare restores the checkpoint, if any, and returns the durable
// consumer positioned to continue from it. Without a usable checkpoint the
// consumer is recreated from the stream's first message, so the totals are
// rebuilt from everything the stream holds.
func (s *Service) prepare(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error) {
	st, err := natsx.EnsureStream(ctx, js, s.cfg.Stream)
	if err != nil {
		return nil, err
	}
	stream := st.CachedInfo().Config.Name
	start, err := s.restore(st.CachedInfo().State.LastSeq)
	if err != nil {
		return nil, err
	}
	if start == 0 {
		// Rebuild from the first message: forget the totals and the
		// consumer's position alike.
		s.agg.reset()
		if err := natsx.DeleteConsumer(ctx, js, stream, s.name); err != nil {
			return nil, err
		}
	}
	return natsx.EnsureConsumer(ctx, js, natsx.ConsumerConfig{
		Stream: stream, Name: s.name, StartSeq: start,
		Filters:       s.cfg.Partitions.filters(wire.DurableChannels),
		MaxAckPending: max(natsx.DefaultMaxAckPending, 4*s.cfg.CheckpointMessages),
		// Messages are acknowledged at checkpoints; past a few missed
		// checkpoints, a message is redelivered (and skipped if applied).
		AckWait: max(ackWait, 10*s.cfg.CheckpointInterval),
	})
}

// restore loads the checkpoint and returns the stream sequence to resume
// from, or 0 to rebuild from the start.
func (s *Service) restore(streamLast uint64) (uint64, error) {
	if s.cfg.StateDir == "" {
		return 0, nil
	}
	if err := os.MkdirAll(s.cfg.StateDir, 0o755); err != nil {
		return 0, fmt.Errorf("state dir: %w", err)
	}
	st, err := loadState(statePath(s.cfg.StateDir, s.name))
	if errors.Is(err, errNoState) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	ps := s.cfg.Partitions
	switch {
	case st.Partitions != ps.String() || st.Count != ps.Count() || st.Consumer != s.name:
		s.log.Warn("checkpoint is for other partitions; rebuilding",
			"checkpoint_partitions", st.Partitions, "checkpoint_count", st.Count)
		return 0, nil
	case st.Seq > streamLast:
		s.log.Warn("checkpoint is ahead of the stream, which must be new; rebuilding",
			"seq", st.Seq, "stream_last", streamLast)
		return 0, nil
	}
	if err := s.agg.load(st); err != nil {
		return 0, err
	}
	return st.Seq + 1, nil
}

// consumeTelemetry applies core-NATS readings until ctx ends.
func (s *Service) consumeTelemetry(ctx context.Context, in <-chan *nats.Msg) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-in:
			s.apply(m.Subject, m.Data)
		}
	}
}

// consumeStream applies JetStream messages in stream order and checkpoints
// every CheckpointMessages messages or CheckpointInterval, whichever comes
// first. A message is acknowledged only once a checkpoint covers it.
func (s *Service) consumeStream(ctx context.Context, cons jetstream.Consumer) error {
	it, err := cons.Messages(jetstream.PullMaxMessages(500))
	if err != nil {
		return fmt.Errorf("consume %s: %w", s.name, err)
	}
	defer it.Stop()

	var unacked []jetstream.Msg
	readings := s.agg.readings()
	next := s.cfg.Now().Add(s.cfg.CheckpointInterval)
	for {
		nctx, cancel := context.WithDeadline(ctx, next)
		msg, err := it.Next(jetstream.NextContext(nctx))
		cancel()
		switch {
		case err == nil:
			s.applyStream(msg)
			unacked = append(unacked, msg)
		case ctx.Err() != nil:
			s.checkpoint(s.drainStream(it, unacked))
			return nil
		case errors.Is(err, context.DeadlineExceeded):
		case errors.Is(err, jetstream.ErrMsgIteratorClosed):
			return fmt.Errorf("consume %s: %w", s.name, err)
		default:
			s.warnf("jetstream", "consume", "err", err)
		}
		now := s.cfg.Now()
		due := !now.Before(next) && (len(unacked) > 0 || s.agg.readings() != readings)
		if len(unacked) >= s.cfg.CheckpointMessages || due {
			if s.checkpoint(unacked) {
				unacked = unacked[:0]
			}
			readings = s.agg.readings()
		}
		if !now.Before(next) {
			next = now.Add(s.cfg.CheckpointInterval)
		}
	}
}

// drainStream stops the pull and applies the messages already on their way
// or buffered, so that none is left delivered and unacknowledged until its
// ack wait expires; it returns every message to acknowledge.
func (s *Service) drainStream(it jetstream.MessagesContext, unacked []jetstream.Msg,
) []jetstream.Msg {
	it.Drain()
	deadline := time.Now().Add(drainTimeout)
	for time.Now().Before(deadline) {
		msg, err := it.Next(jetstream.NextMaxWait(time.Until(deadline)))
		if err != nil {
			break
		}
		s.applyStream(msg)
		unacked = append(unacked, msg)
	}
	return unacked
}

// ackWait is the least redelivery timeout of the durable consumer: after a
// crash, what was delivered and not acknowledged comes back this soon.
const ackWait = 10 * time.Second

// drainTimeout bounds applying the messages in flight at shutdown.
const drainTimeout = 5 * time.Second

// applyStream applies one JetStream message unless an earlier delivery of
// it has been applied already.
func (s *Service) applyStream(msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		s.warnf("jetstream", "message without metadata", "err", err)
		return
	}
	if !s.agg.observeSeq(meta.Sequence.Stream) {
		return
	}
	s.apply(msg.Subject(), msg.Data())
}

// apply routes one message by its subject.
func (s *Service) apply(subject string, data []byte) {
	c, p, drn, err := wire.ParseSubject(subject)
	if err == nil && !s.cfg.Partitions.Contains(p) {
		err = fmt.Errorf("partition %d is not owned", p)
	}
	if err == nil {
		err = wire.CheckPartition(drn, p, s.cfg.Partitions.Count())
	}
	if err == nil {
		err = s.agg.handle(c, drn, data, s.cfg.Now())
	} else {
		s.agg.countInvalid(c)
	}
	if err != nil {
		s.warnf(string(c), "invalid message", "subject", subject, "err", err)
	}
}

// checkpoint writes the state, when there is a state directory, and then
// acknowledges msgs. It reports whether msgs were acknowledged; after a
// failed write they stay unacknowledged, to be redelivered and skipped.
func (s *Service) checkpoint(msgs []jetstream.Msg) bool {
	if s.cfg.StateDir != "" {
		st := s.agg.export(s.name, s.cfg.Partitions)
		if err := saveState(statePath(s.cfg.StateDir, s.name), st); err != nil {
			s.cpFailures.Add(1)
			s.log.Error("checkpoint failed", "err", err)
			return false
		}
		s.checkpoints.Add(1)
	}
	for _, m := range msgs {
		if err := m.Ack(); err != nil {
			s.warnf("ack", "acknowledge", "err", err)
		}
	}
	return true
}

// warnf logs a warning at most once per period per kind, with the count of
// the ones held back.
func (s *Service) warnf(kind, msg string, args ...any) {
	if ok, held := s.warn.Allow(kind); ok {
		s.log.Warn(msg, append(args, "suppressed", held)...)
	}
}

func (a *aggregator) countInvalid(c wire.Channel) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.counts.Invalid[string(c)]++
}

func (a *aggregator) readings() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.counts.Readings
}

func (a *aggregator) lastSeq() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seq
}

// reset empties the aggregator.
func (a *aggregator) reset() {
	b := newAggregator()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.meters, a.tokens, a.totals, a.revenue = b.meters, b.tokens, b.totals, b.revenue
	a.counts, a.latency, a.lag, a.seq = b.counts, b.latency, b.lag, b.seq
}

// load replaces the aggregator's state with a checkpoint's.
func (a *aggregator) load(st *stateFile) error {
	b, err := restore(st)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.meters, a.tokens, a.totals, a.revenue = b.meters, b.tokens, b.totals, b.revenue
	a.counts, a.latency, a.lag, a.seq = b.counts, b.latency, b.lag, b.seq
	return nil
}
