package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stsfleet/stsfleet/internal/ratelimit"
	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/natsx"
	"github.com/stsfleet/stsfleet/protocol/wire"
)

// Defaults applied by [New] to zero [Config] fields.
const (
	// DefaultClientID is the bridge's MQTT client identifier.
	DefaultClientID = "stsfleet-bridge"
	// DefaultWorkers is the number of forwarding workers.
	DefaultWorkers = 4
	// DefaultQueueSize is the depth of each worker's queue, in messages.
	DefaultQueueSize = 8192
	// DefaultPublishAttempts is how often a JetStream publish is tried
	// before the message is counted as failed.
	DefaultPublishAttempts = 10
	// DefaultRetryWait is the first pause between attempts; it doubles up
	// to [MaxRetryWait].
	DefaultRetryWait = 100 * time.Millisecond
	// MaxRetryWait caps the pause between attempts.
	MaxRetryWait = 5 * time.Second
	// DefaultDrainTimeout bounds forwarding what is queued at shutdown.
	DefaultDrainTimeout = 10 * time.Second
	// publishTimeout bounds one JetStream publish attempt.
	publishTimeout = 5 * time.Second
)

// Config describes a bridge.
type Config struct {
	// MQTT is the bridge's MQTT connection: Broker (or Dialer), Username
	// and Password of an account allowed to read results and telemetry.
	// ClientID empty means [DefaultClientID]; the session is persistent
	// unless CleanSession is set, so the broker keeps QoS 1 results and
	// final readings for the bridge while it is away. Subscriptions and
	// the handlers are the bridge's own; any given are ignored, and
	// ConnectRetry and LogConnection are set.
	MQTT mqttc.Options
	// NATS is the connection to publish on; the caller owns it. Required.
	NATS *nats.Conn
	// Stream sizes the JetStream stream when the bridge is the first to
	// need it.
	Stream natsx.StreamConfig
	// ShareGroup, when set, subscribes through the shared subscription
	// $share/{ShareGroup}/... ([MQTT-4.8.2]), so that several bridges on a
	// clustered broker split the messages instead of each taking all.
	// The broker then spreads one meter's messages over the bridges, and
	// their order across bridges is lost: readings do not mind (each
	// meter's latest is kept by seq), a redelivered result may be seen
	// before the first. Empty subscribes directly.
	ShareGroup string
	// Partitions is the deployment's partition count. Zero means
	// [wire.DefaultPartitions].
	Partitions int
	// Workers is the number of forwarding workers; a meter's messages
	// always go through the same one, in order. Zero means
	// [DefaultWorkers].
	Workers int
	// QueueSize is the depth of each worker's queue. A message that finds
	// its queue full is dropped, counted and logged: the MQTT handler
	// never blocks. The last quarter is kept for QoS 1 messages (results
	// and final readings): a QoS 0 reading that finds the queue three
	// quarters full is dropped the same way. Zero means [DefaultQueueSize].
	QueueSize int
	// PublishAttempts is how often a JetStream publish is tried. Zero
	// means [DefaultPublishAttempts].
	PublishAttempts int
	// RetryWait is the first pause between attempts. Zero means
	// [DefaultRetryWait].
	RetryWait time.Duration
	// DrainTimeout bounds forwarding the queued messages at shutdown.
	// Zero means [DefaultDrainTimeout].
	DrainTimeout time.Duration
	// Logger receives lifecycle events and rate-limited warnings. Nil
	// discards them.
	Logger *slog.Logger
	// Registerer, when not nil, gets the bridge's metrics (bridge_*).
	Registerer prometheus.Registerer
}

// item is one MQTT message waiting for a worker.
type item struct {
	kind    wire.Kind
	drn     string
	payload []byte
}

// Bridge forwards meters' results and telemetry from MQTT to NATS.
type Bridge struct {
	cfg    Config
	log    *slog.Logger
	js     jetstream.JetStream
	queues []chan item
	// shedAt is the queue length from which QoS 0 readings are dropped.
	shedAt int
	stats  stats
	warn   *ratelimit.Limiter

	running atomic.Bool
	// ready is closed once the first Run has subscribed.
	ready     chan struct{}
	readyOnce sync.Once
}

// New checks cfg and applies its defaults.
func New(cfg Config) (*Bridge, error) {
	if cfg.NATS == nil {
		return nil, errors.New("new bridge: no NATS connection")
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = wire.DefaultPartitions
	}
	if strings.ContainsAny(cfg.ShareGroup, "/+#") {
		return nil, fmt.Errorf("new bridge: share group %q: no '/', '+' or '#'", cfg.ShareGroup)
	}
	if err := wire.CheckPartitionCount(cfg.Partitions); err != nil {
		return nil, fmt.Errorf("new bridge: %w", err)
	}
	cfg.MQTT.ClientID = orDefault(cfg.MQTT.ClientID, DefaultClientID)
	cfg.Workers = orDefault(cfg.Workers, DefaultWorkers)
	cfg.QueueSize = orDefault(cfg.QueueSize, DefaultQueueSize)
	cfg.PublishAttempts = orDefault(cfg.PublishAttempts, DefaultPublishAttempts)
	cfg.RetryWait = orDefault(cfg.RetryWait, DefaultRetryWait)
	cfg.DrainTimeout = orDefault(cfg.DrainTimeout, DefaultDrainTimeout)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	js, err := jetstream.New(cfg.NATS)
	if err != nil {
		return nil, fmt.Errorf("new bridge: %w", err)
	}
	b := &Bridge{
		cfg: cfg, js: js,
		log:    cfg.Logger.With("component", "bridge"),
		warn:   ratelimit.New(10 * time.Second),
		ready:  make(chan struct{}),
		shedAt: cfg.QueueSize - cfg.QueueSize/4,
	}
	b.queues = make([]chan item, cfg.Workers)
	for i := range b.queues {
		b.queues[i] = make(chan item, cfg.QueueSize)
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(newCollector(b)); err != nil {
			return nil, fmt.Errorf("new bridge: register metrics: %w", err)
		}
	}
	return b, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Ready is closed once Run has connected and subscribed: messages meters
// publish from then on are forwarded.
func (b *Bridge) Ready() <-chan struct{} { return b.ready }

// ErrRunning reports a second concurrent call of [Bridge.Run].
var ErrRunning = errors.New("bridge already running")

// Run makes sure the stream exists, connects to MQTT and forwards until ctx
// ends. A broker that is not there yet is waited for, and logged; one that
// refuses the credentials ends Run with an error wrapping
// [mqttc.ErrCredentialsRefused]. Once ctx ends, Run disconnects from MQTT
// (the broker keeps the persistent session's later messages), forwards
// what is queued within DrainTimeout, counts whatever is left, and returns.
func (b *Bridge) Run(ctx context.Context) error {
	if !b.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer b.running.Store(false)
	if _, err := natsx.EnsureStream(ctx, b.js, b.cfg.Stream); err != nil {
		return fmt.Errorf("run bridge: %w", err)
	}

	// Workers publish under drain, which outlives ctx by DrainTimeout
	// once intake has stopped, so that what was taken from MQTT is
	// forwarded.
	drain, cancelDrain := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelDrain()
	stopped := make(chan struct{})
	var wg sync.WaitGroup
	for _, q := range b.queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.work(stopped, drain, q)
		}()
	}

	opts := b.cfg.MQTT
	opts.ConnectRetry = true
	opts.LogConnection = true
	opts.Logger = orDefault(opts.Logger, b.log)
	share := ""
	if b.cfg.ShareGroup != "" {
		share = "$share/" + b.cfg.ShareGroup + "/"
	}
	opts.Subscriptions = []mqttc.Subscription{
		{Filter: share + wire.TopicFilter(wire.KindResult), QoS: 1, Handler: b.handle},
		// QoS 1, so final readings published at QoS 1 arrive at QoS 1;
		// ordinary readings stay at the QoS the meter sent.
		{Filter: share + wire.TopicFilter(wire.KindTelemetry), QoS: 1, Handler: b.handle},
	}
	client, err := mqttc.Connect(ctx, opts)
	if err == nil {
		b.log.Info("bridge running", "mqtt", client.Addr(), "workers", len(b.queues),
			"partitions", b.cfg.Partitions)
		b.readyOnce.Do(func() { close(b.ready) })
		<-ctx.Done()
		// Stop intake first: after Disconnect no handler runs.
		client.Disconnect(250 * time.Millisecond)
	}
	close(stopped)

	timer := time.AfterFunc(b.cfg.DrainTimeout, cancelDrain)
	defer timer.Stop()
	wg.Wait()
	b.countLeftovers()
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("run bridge: %w", err)
	}
	return nil
}

// handle runs on the MQTT client's delivery goroutine: it only routes the
// message to its meter's worker, never waiting.
func (b *Bridge) handle(m mqttc.Message) {
	drn, kind, err := wire.ParseTopic(m.Topic)
	if err != nil || (kind != wire.KindResult && kind != wire.KindTelemetry) {
		b.stats.invalid.add(kind)
		b.warnf("topic", "message on an unexpected topic", "topic", m.Topic)
		return
	}
	b.stats.received.add(kind)
	q := b.queues[wire.Partition(drn, len(b.queues))]
	// Ordinary readings arrive at QoS 0 and may be lost; they fill a queue
	// only up to shedAt, so that a flood of them leaves room for results
	// and final readings, which arrive at QoS 1 and carry the exact totals.
	if m.QoS == 0 && len(q) >= b.shedAt {
		b.stats.overflow.add(kind)
		b.warnf("shed", "forwarding queue nearly full; QoS 0 reading dropped", "meter", drn)
		return
	}
	select {
	case q <- item{kind: kind, drn: drn, payload: m.Payload}:
	default:
		b.stats.overflow.add(kind)
		b.warnf("overflow", "forwarding queue full; message dropped", "meter", drn,
			"topic", m.Topic)
	}
}

// work forwards the messages of one queue until intake has stopped, then
// what is still queued unless drain has ended.
func (b *Bridge) work(stopped <-chan struct{}, drain context.Context, q <-chan item) {
	for {
		select {
		case it := <-q:
			b.forward(drain, it)
		case <-stopped:
			for {
				select {
				case it := <-q:
					if drain.Err() != nil {
						b.stats.leftover.Add(1)
						continue
					}
					b.forward(drain, it)
				default:
					return
				}
			}
		}
	}
}

// countLeftovers counts and logs messages that were still queued when the
// drain ended.
func (b *Bridge) countLeftovers() {
	for _, q := range b.queues {
		for len(q) > 0 {
			<-q
			b.stats.leftover.Add(1)
		}
	}
	if n := b.stats.leftover.Load(); n > 0 {
		b.log.Error("messages left unforwarded at shutdown", "count", n)
	}
}

// forward checks one message and publishes it on its NATS subject.
func (b *Bridge) forward(ctx context.Context, it item) {
	channel, err := b.channelOf(it)
	if err != nil {
		b.stats.invalid.add(it.kind)
		b.warnf("invalid", "invalid message", "meter", it.drn, "kind", it.kind, "err", err)
		return
	}
	subject, err := wire.Subject(channel, it.drn, b.cfg.Partitions)
	if err != nil {
		b.stats.invalid.add(it.kind)
		b.warnf("invalid", "meter without a subject", "meter", it.drn, "err", err)
		return
	}
	if channel == wire.ChannelTelemetry {
		err = b.cfg.NATS.Publish(subject, it.payload)
	} else {
		err = b.publishDurable(ctx, channel, subject, it.payload)
	}
	if err != nil {
		b.stats.failed.add(channel)
		b.warnf("publish", "forward failed; message dropped", "meter", it.drn,
			"subject", subject, "err", err)
		return
	}
	b.stats.forwarded.add(channel)
}

// channelOf decodes a message enough to route it: results must be results,
// readings must be the topic's meter's, and a final reading goes to the
// durable final channel.
func (b *Bridge) channelOf(it item) (wire.Channel, error) {
	if it.kind == wire.KindResult {
		if _, err := wire.DecodeResult(it.payload); err != nil {
			return "", err
		}
		return wire.ChannelResult, nil
	}
	t, err := wire.DecodeTelemetry(it.payload)
	if err != nil {
		return "", err
	}
	if t.DRN != it.drn {
		return "", fmt.Errorf("reading of meter %s on meter %s's topic", t.DRN, it.drn)
	}
	if t.Final {
		return wire.ChannelFinal, nil
	}
	return wire.ChannelTelemetry, nil
}

// publishDurable publishes through JetStream and waits for the stream's
// acknowledgement, trying again with a growing pause. The message ID makes
// a retry that reaches the stream twice count once.
func (b *Bridge) publishDurable(ctx context.Context, c wire.Channel, subject string,
	payload []byte) error {
	id := natsx.MsgID(subject, payload)
	wait := b.cfg.RetryWait
	var err error
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, publishTimeout)
		_, err = b.js.Publish(actx, subject, payload, jetstream.WithMsgID(id))
		cancel()
		if err == nil {
			return nil
		}
		if attempt >= b.cfg.PublishAttempts || ctx.Err() != nil {
			return fmt.Errorf("publish %s after %d attempts: %w", subject, attempt, err)
		}
		b.stats.retries.add(c)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("publish %s: %w (last: %w)", subject, ctx.Err(), err)
		case <-t.C:
		}
		wait = min(2*wait, MaxRetryWait)
	}
}

// warnf logs a warning at most once per period per kind, with the count of
// the ones held back.
func (b *Bridge) warnf(kind, msg string, args ...any) {
	if ok, held := b.warn.Allow(kind); ok {
		b.log.Warn(msg, append(args, "suppressed", held)...)
	}
}
