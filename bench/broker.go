package bench

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/stsfleet/stsfleet/bench/load"
	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/protocol/wire"
)

// Latency names of the broker bench.
const (
	// LatencyRoundTrip runs from the intended send time of a probe to the
	// vendor receiving the meter's echo: two QoS 1 legs.
	LatencyRoundTrip = "round_trip"
	// LatencyPublishToReceive runs from the intended send time to the
	// meter receiving the probe: one leg.
	LatencyPublishToReceive = "publish_to_receive"
)

// BrokerNames is the vocabulary of the broker bench: a request is one
// probe message, accepted when its echo is back.
var BrokerNames = load.Names{
	Kind: "broker", Unit: "messages", Issued: "messages_sent",
	States: [5]string{"messages_received", "messages_rejected", "messages_failed",
		"messages_timed_out", "messages_lost"},
	Latencies: []string{LatencyRoundTrip, LatencyPublishToReceive},
}

// probeHeader is the start of a probe's payload: sequence number and
// intended send time in Unix nanoseconds, both big-endian.
const probeHeader = 16

// MinPayload is the smallest probe [BrokerConfig.Payload] takes, in bytes:
// its sequence number and intended send time.
const MinPayload = probeHeader

// MaxPayload is the largest probe the broker bench sends, in bytes: far
// above any token message, well below what a broker refuses.
const MaxPayload = 1 << 20

// BrokerConfig configures [RunBroker]: a raw MQTT QoS 1 bench through the
// embedded broker. Each probe is published by a vendor account to a
// meter's token topic, and the meter publishes it back on its result
// topic, which the vendor reads through the shared subscription: the two
// legs a token and its result take, without STS or vending.
type BrokerConfig struct {
	Common
	// Clients is the number of meter clients; zero means 100.
	Clients int
	// Vendors is the number of vendor connections publishing probes and
	// sharing the results; zero means 1, as the vending service has.
	Vendors int
	// Payload is the size of each probe in bytes, at least 16; zero means
	// 200, about a token message.
	Payload int
	// Split reads the echoes on connections of their own instead of the
	// publishing ones. False (the zero value) publishes and reads on the
	// same connections, as the vending service does.
	Split bool
}

// brokerRun is the state of one broker bench.
type brokerRun struct {
	cfg     BrokerConfig
	vendors []*mqttc.Client
	// readers are the connections reading echoes when split.
	readers []*mqttc.Client
	meters  []string
	// echo queues each meter's probes for its publishing goroutine.
	echo    []chan []byte
	clients []*mqttc.Client
	// dropped counts probes a meter's full queue refused.
	dropped atomic.Int64

	// mu guards track, the tracker of the step running (the clients'
	// handlers outlive steps), and warned.
	mu    sync.Mutex
	track *tracker
	// warned holds the failure kinds already logged.
	warned map[string]bool
}

// warnOnce logs the first error of each kind.
func (r *brokerRun) warnOnce(kind string, err error) {
	r.mu.Lock()
	first := !r.warned[kind]
	if r.warned == nil {
		r.warned = map[string]bool{}
	}
	r.warned[kind] = true
	r.mu.Unlock()
	if first {
		r.cfg.Logger.Warn("bench publish failed", "kind", kind, "err", err)
	}
}

// RunBroker runs the broker bench and returns its result.
func RunBroker(ctx context.Context, cfg BrokerConfig) (*Report, error) {
	cfg.Clients = orDefault(cfg.Clients, 100)
	cfg.Vendors = orDefault(cfg.Vendors, 1)
	cfg.Payload = orDefault(cfg.Payload, 200)
	if err := cfg.Common.resolve(); err != nil {
		return nil, fmt.Errorf("bench broker: %w", err)
	}
	if cfg.Payload < probeHeader || cfg.Clients < 1 || cfg.Vendors < 1 {
		return nil, fmt.Errorf("bench broker: want at least one client and vendor and a "+
			"payload of %d bytes or more", probeHeader)
	}
	env, err := startBroker(ctx, cfg.Transport, cfg.Registerer, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("bench broker: %w", err)
	}
	defer env.close()
	run := &brokerRun{cfg: cfg}
	defer run.disconnect()
	rep, err := runSteps(ctx, &run.cfg.Common, BrokerNames, run.step, run.connect(env))
	if err != nil {
		return nil, fmt.Errorf("bench broker: %w", err)
	}
	rep.Extra = Info{"echo_dropped": run.dropped.Load(), "broker": env.b.Stats()}
	return rep, nil
}

// connect returns the set-up function that connects every client once.
func (r *brokerRun) connect(env *brokerEnv) func(ctx context.Context) (Info, error) {
	return func(ctx context.Context) (Info, error) {
		started := time.Now()
		if err := r.connectAll(ctx, env); err != nil {
			return Info{}, err
		}
		took := time.Since(started)
		return Info{
			"transport": r.cfg.Transport, "clients": r.cfg.Clients, "vendors": r.cfg.Vendors,
			"payload_bytes": r.cfg.Payload, "connect_s": took.Seconds(), "split": r.cfg.Split,
		}, nil
	}
}

func (r *brokerRun) connectAll(ctx context.Context, env *brokerEnv) error {
	r.meters = make([]string, r.cfg.Clients)
	r.echo = make([]chan []byte, r.cfg.Clients)
	r.clients = make([]*mqttc.Client, r.cfg.Clients)
	for i := range r.meters {
		r.meters[i] = benchDRN(i)
		r.echo[i] = make(chan []byte, 256)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	for i, drn := range r.meters {
		g.Go(func() error {
			o := env.meterOptions(drn)
			o.Subscriptions = []mqttc.Subscription{{Filter: wire.Topic(drn, wire.KindToken),
				QoS: 1, Handler: r.meterHandler(i)}}
			c, err := mqttc.Connect(gctx, o)
			if err != nil {
				return fmt.Errorf("connect meter %s: %w", drn, err)
			}
			r.clients[i] = c
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		r.disconnect()
		return err
	}
	for i := range r.cfg.Vendors {
		c, err := r.connectVendor(ctx, env, fmt.Sprintf("bench-vendor-%d", i+1), !r.cfg.Split)
		if err != nil {
			return err
		}
		r.vendors = append(r.vendors, c)
		if !r.cfg.Split {
			continue
		}
		c, err = r.connectVendor(ctx, env, fmt.Sprintf("bench-results-%d", i+1), true)
		if err != nil {
			return err
		}
		r.readers = append(r.readers, c)
	}
	return nil
}

// connectVendor connects a vendor account, reading echoes if read is set.
func (r *brokerRun) connectVendor(ctx context.Context, env *brokerEnv, id string,
	read bool) (*mqttc.Client, error) {
	o := env.vendorOptions(id)
	if read {
		o.Subscriptions = []mqttc.Subscription{{Filter: wire.SharedResultFilter, QoS: 1,
			Handler: r.vendorHandler}}
	}
	c, err := mqttc.Connect(ctx, o)
	if err != nil {
		r.disconnect()
		return nil, fmt.Errorf("connect vendor: %w", err)
	}
	return c, nil
}

func (r *brokerRun) disconnect() {
	for _, c := range append(append(r.clients, r.vendors...), r.readers...) {
		if c != nil {
			c.Disconnect(0)
		}
	}
}

// meterHandler hands each probe to the meter's echo goroutine; a full
// queue drops it, and the probe ends up lost.
func (r *brokerRun) meterHandler(i int) mqttc.Handler {
	return func(m mqttc.Message) {
		if len(m.Payload) < probeHeader {
			return
		}
		if rec := r.currentRec(); rec != nil {
			sent := int64(binary.BigEndian.Uint64(m.Payload[8:16]))
			rec.Observe(LatencyPublishToReceive, time.Since(time.Unix(0, sent)))
		}
		select {
		case r.echo[i] <- m.Payload:
		default:
			r.dropped.Add(1)
		}
	}
}

// vendorHandler settles the probe whose echo arrived.
func (r *brokerRun) vendorHandler(m mqttc.Message) {
	now := time.Now()
	if len(m.Payload) < probeHeader {
		return
	}
	if t := r.currentTracker(); t != nil {
		seq := binary.BigEndian.Uint64(m.Payload[:8])
		t.answer(strconv.FormatUint(seq, 10), now, true, "")
	}
}

func (r *brokerRun) currentRec() *load.Recorder {
	if t := r.currentTracker(); t != nil {
		return t.rec
	}
	return nil
}

func (r *brokerRun) currentTracker() *tracker {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.track
}

// step runs one schedule on the connected clients.
func (r *brokerRun) step(ctx context.Context, rec *load.Recorder) error {
	track := newTracker(rec, r.cfg.Timeout, LatencyRoundTrip, "")
	r.mu.Lock()
	r.track = track
	r.mu.Unlock()

	// A step that overloaded the broker may have cost connections; the
	// clients reconnect by themselves, and the next step waits for them.
	if err := waitConnected(ctx, append(append(r.clients, r.vendors...), r.readers...)); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var g errgroup.Group
	g.Go(func() error { track.run(ctx); return nil })
	for i := range r.meters {
		g.Go(func() error { r.echoLoop(ctx, i); return nil })
	}
	track.drive(ctx, cancel, r.cfg.Common, func(ctx context.Context, a load.Arrival) {
		r.send(ctx, track, a)
	})
	return g.Wait()
}

// send publishes one probe.
func (r *brokerRun) send(ctx context.Context, track *tracker, a load.Arrival) {
	rec := track.rec
	payload := make([]byte, r.cfg.Payload)
	binary.BigEndian.PutUint64(payload[:8], uint64(a.Seq))
	binary.BigEndian.PutUint64(payload[8:16], uint64(a.Intended.UnixNano()))
	key := strconv.FormatInt(a.Seq, 10)
	// Registered before the publish: the echo can beat the PUBACK.
	track.expect(key, a.Intended, a.Intended)
	drn := r.meters[a.Seq%int64(len(r.meters))]
	v := r.vendors[a.Seq%int64(len(r.vendors))]
	pctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	if err := v.Publish(pctx, wire.Topic(drn, wire.KindToken), 1, false, payload); err != nil {
		if track.withdraw(key) {
			kind := errorKind(err)
			r.warnOnce(kind, err)
			rec.Settle(load.Failed, kind)
		}
		return
	}
	rec.Issued()
}

// echoLoop publishes meter i's probes back on its result topic.
func (r *brokerRun) echoLoop(ctx context.Context, i int) {
	topic := wire.Topic(r.meters[i], wire.KindResult)
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-r.echo[i]:
			pctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
			// A failed echo is a probe that never returns: lost.
			_ = r.clients[i].Publish(pctx, topic, 1, false, p)
			cancel()
		}
	}
}

// brokerEnv is an embedded broker with the bench's accounts.
type brokerEnv struct {
	b         *broker.Broker
	transport string
	secret    []byte
	vendorPW  string
}

// Bench broker limits: a single vendor connection carries every token and
// result, so its queues are sized for bursts of thousands.
const (
	benchMaxInflight      = 65535
	benchMaxWritesPending = 8192
)

func startBroker(ctx context.Context, transport string, reg prometheus.Registerer,
	log *slog.Logger) (*brokerEnv, error) {
	env := &brokerEnv{transport: transport, secret: randomBytes(32),
		vendorPW: fmt.Sprintf("%x", randomBytes(16))}
	cfg := broker.Config{
		Listen:      "127.0.0.1:0",
		DisableTCP:  transport == TransportMemory,
		FleetSecret: env.secret,
		Accounts: []broker.Account{{Username: broker.DefaultVendorUsername,
			Password: env.vendorPW, Role: broker.RoleVendor}},
		MaxInflight:      benchMaxInflight,
		MaxWritesPending: benchMaxWritesPending,
		Logger:           log,
		Registerer:       reg,
	}
	b, err := broker.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := b.Start(ctx); err != nil {
		return nil, err
	}
	env.b = b
	return env, nil
}

func (e *brokerEnv) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = e.b.Shutdown(ctx)
}

// dialer returns the in-memory dialer, or nil over TCP.
func (e *brokerEnv) dialer() func(context.Context) (net.Conn, error) {
	if e.transport == TransportMemory {
		return e.b.Dial
	}
	return nil
}

func (e *brokerEnv) dial(o *mqttc.Options) {
	if e.transport == TransportMemory {
		o.Dialer = e.b.Dial
	} else {
		o.Broker = e.b.URL()
	}
}

func (e *brokerEnv) meterOptions(drn string) mqttc.Options {
	o := mqttc.Options{ClientID: drn, Username: drn,
		Password: broker.MeterPassword(e.secret, drn), CleanSession: true,
		MaxReconnectInterval: time.Second}
	e.dial(&o)
	return o
}

func (e *brokerEnv) vendorOptions(id string) mqttc.Options {
	o := mqttc.Options{ClientID: id, Username: broker.DefaultVendorUsername,
		Password: e.vendorPW, CleanSession: true, MaxReconnectInterval: time.Second}
	e.dial(&o)
	return o
}

// benchDRN returns the i-th DRN of the bench's own meters: 11 digits with
// a Luhn check digit.
func benchDRN(i int) string {
	body := fmt.Sprintf("07%08d", i)
	check, err := sts.LuhnCheckDigit(body)
	if err != nil {
		// The body is ten digits by construction.
		panic(err)
	}
	return body + string(check)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// waitConnected waits up to a minute for every client to be connected.
func waitConnected(ctx context.Context, clients []*mqttc.Client) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for _, c := range clients {
		for !c.IsConnected() {
			select {
			case <-ctx.Done():
				return fmt.Errorf("wait for clients to reconnect: %w", ctx.Err())
			case <-tick.C:
			}
		}
	}
	return nil
}
