package mqttc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/protocol/wire"
)

var fleetSecret = []byte("test fleet secret, not a real one")

const (
	vendorPassword = "vendor test password"
	patience       = 10 * time.Second
)

func startBroker(t *testing.T) *broker.Broker {
	t.Helper()
	b, err := broker.New(broker.Config{
		DisableTCP:  true,
		FleetSecret: fleetSecret,
		Accounts: []broker.Account{{Username: "vendor", Password: vendorPassword,
			Role: broker.RoleVendor}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Shutdown(context.Background()) })
	return b
}

func testDRN(i int) string {
	body := fmt.Sprintf("04%08d", i)
	check, _ := sts.LuhnCheckDigit(body)
	return body + string(check)
}

func meterOptions(dial func(context.Context) (net.Conn, error), drn string) mqttc.Options {
	return mqttc.Options{
		Dialer:      dial,
		ClientID:    drn,
		Username:    drn,
		Password:    broker.MeterPassword(fleetSecret, drn),
		NoReconnect: true,
	}
}

func vendorOptions(dial func(context.Context) (net.Conn, error)) mqttc.Options {
	return mqttc.Options{Dialer: dial, ClientID: "vendor-1", Username: "vendor",
		Password: vendorPassword, NoReconnect: true}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	t.Cleanup(cancel)
	return ctx
}

func connect(t *testing.T, o mqttc.Options) *mqttc.Client {
	t.Helper()
	c, err := mqttc.Connect(ctxT(t), o)
	if err != nil {
		t.Fatalf("connect %s: %v", o.ClientID, err)
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

// inbox collects messages without blocking the handler.
type inbox chan mqttc.Message

func (in inbox) handle(m mqttc.Message) {
	select {
	case in <- m:
	default:
		panic("test inbox full")
	}
}

func (in inbox) next(t *testing.T) mqttc.Message {
	t.Helper()
	select {
	case m := <-in:
		return m
	case <-time.After(patience):
		t.Fatal("no message within the deadline")
		return mqttc.Message{}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestOptionsRejected(t *testing.T) {
	dial := func(context.Context) (net.Conn, error) { return nil, errors.New("unused") }
	tests := []struct {
		name string
		o    mqttc.Options
		want string
	}{
		{"no broker", mqttc.Options{ClientID: "x"}, "no broker"},
		{"persistent without id", mqttc.Options{Dialer: dial}, "client id"},
		{"bad scheme", mqttc.Options{Broker: "http://127.0.0.1:1", ClientID: "x"}, "scheme"},
		{"no host", mqttc.Options{Broker: "tcp://", ClientID: "x"}, "no host"},
		{"will without topic", mqttc.Options{Dialer: dial, ClientID: "x", Will: &mqttc.Will{}},
			"will"},
		{"subscription without handler", mqttc.Options{Dialer: dial, ClientID: "x",
			Subscriptions: []mqttc.Subscription{{Filter: "a"}}}, "handler"},
		{"short keep-alive", mqttc.Options{Dialer: dial, ClientID: "x",
			KeepAlive: time.Millisecond}, "keep-alive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mqttc.Connect(ctxT(t), tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Connect: %v, want an error about %q", err, tt.want)
			}
		})
	}
}

func TestConnectHonoursContext(t *testing.T) {
	// A dialer that never answers until its context ends.
	dial := func(ctx context.Context) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	o := meterOptions(dial, testDRN(1))
	o.ConnectRetry = true
	start := time.Now()
	_, err := mqttc.Connect(ctx, o)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect: %v, want the context's deadline", err)
	}
	if waited := time.Since(start); waited > patience/2 {
		t.Errorf("Connect returned %v after its context ended", waited)
	}
}

func TestConnectRefused(t *testing.T) {
	b := startBroker(t)
	o := meterOptions(b.Dial, testDRN(1))
	o.Password = "guess"
	_, err := mqttc.Connect(ctxT(t), o)
	if !errors.Is(err, mqttc.ErrConnectRefused) {
		t.Fatalf("Connect: %v, want %v", err, mqttc.ErrConnectRefused)
	}
	if got := b.Stats().AuthFailures; got != 1 {
		t.Errorf("broker counted %d auth failures, want 1 (no retry as MQTT 3.1)", got)
	}
}

func TestClosedClient(t *testing.T) {
	b := startBroker(t)
	c := connect(t, meterOptions(b.Dial, testDRN(1)))
	c.Disconnect(0)
	c.Disconnect(0)
	topic := wire.Topic(testDRN(1), wire.KindResult)
	if err := c.Publish(ctxT(t), topic, 1, false, nil); !errors.Is(err, mqttc.ErrClosed) {
		t.Errorf("Publish after Disconnect: %v, want %v", err, mqttc.ErrClosed)
	}
	err := c.Subscribe(ctxT(t), topic, 1, func(mqttc.Message) {})
	if !errors.Is(err, mqttc.ErrClosed) {
		t.Errorf("Subscribe after Disconnect: %v, want %v", err, mqttc.ErrClosed)
	}
}

func TestPublishHonoursContext(t *testing.T) {
	b := startBroker(t)
	c := connect(t, meterOptions(b.Dial, testDRN(1)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.Publish(ctx, wire.Topic(testDRN(1), wire.KindResult), 1, false, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Publish with an ended context: %v, want %v", err, context.Canceled)
	}
	if got := b.Stats().MessagesReceived; got != 0 {
		t.Errorf("broker received %d messages, want none", got)
	}
}

// Without Options.Subscriptions, the messages a persistent session queued
// arrive before any handler exists: DefaultHandler gets them, or they are
// counted as unhandled.
func TestQueuedMessagesNeedRoutesAtConnect(t *testing.T) {
	b := startBroker(t)
	vendor := connect(t, vendorOptions(b.Dial))
	drn := testDRN(2)
	token := wire.Topic(drn, wire.KindToken)
	o := meterOptions(b.Dial, drn)
	o.Subscriptions = []mqttc.Subscription{{Filter: token, QoS: 1,
		Handler: func(mqttc.Message) {}}}
	first := connect(t, o)
	first.Disconnect(0)
	waitFor(t, "the meter to go offline", func() bool { return b.Stats().ClientsConnected == 1 })

	// The broker acknowledges a publish before it queues it for the
	// subscribers: wait until it holds the message.
	publish := func(p string) {
		if err := vendor.Publish(ctxT(t), token, 1, false, []byte(p)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the token to be queued", func() bool { return b.Stats().Inflight == 1 })
	}
	publish("queued 1")
	o.Subscriptions = nil
	bare := connect(t, o)
	waitFor(t, "the queued token to be dropped", func() bool { return bare.Unhandled() == 1 })
	waitFor(t, "the dropped token to be acknowledged", func() bool {
		return b.Stats().Inflight == 0
	})
	bare.Disconnect(0)
	waitFor(t, "the meter to go offline", func() bool { return b.Stats().ClientsConnected == 1 })

	publish("queued 2")
	fallback := make(inbox, 4)
	o.DefaultHandler = fallback.handle
	connect(t, o)
	if m := fallback.next(t); string(m.Payload) != "queued 2" {
		t.Errorf("default handler got %q, want the queued token", m.Payload)
	}
}

// switchDialer dials whichever broker is current, standing in for one
// broker address whose process restarts; it can also cut the connection.
type switchDialer struct {
	mu   sync.Mutex
	b    *broker.Broker
	last *cuttable
}

func (d *switchDialer) Dial(ctx context.Context) (net.Conn, error) {
	d.mu.Lock()
	b := d.b
	d.mu.Unlock()
	conn, err := b.Dial(ctx)
	if err != nil {
		return nil, err
	}
	c := &cuttable{Conn: conn}
	d.mu.Lock()
	d.last = c
	d.mu.Unlock()
	return c, nil
}

// cuttable is a connection a test can break as the network would: reads
// then fail with io.EOF, which paho takes for a lost connection (it takes
// an error on a connection closed locally for its own doing).
type cuttable struct {
	net.Conn
	broken atomic.Bool
}

func (c *cuttable) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && c.broken.Load() {
		err = io.EOF
	}
	return n, err
}

func (c *cuttable) cut() {
	c.broken.Store(true)
	c.Conn.Close()
}

func (d *switchDialer) set(b *broker.Broker) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.b = b
}

func (d *switchDialer) cut() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.last.cut()
}

// reconnectingMeter connects a meter with automatic reconnection whose
// token subscription feeds tokens, and reports reconnections.
func reconnectingMeter(t *testing.T, d *switchDialer, drn string, tokens inbox,
	reconnected chan bool) *mqttc.Client {
	o := meterOptions(d.Dial, drn)
	o.NoReconnect = false
	o.MaxReconnectInterval = 100 * time.Millisecond
	o.Subscriptions = []mqttc.Subscription{{Filter: wire.Topic(drn, wire.KindToken), QoS: 1,
		Handler: tokens.handle}}
	o.OnReconnect = func(sessionPresent bool) { reconnected <- sessionPresent }
	return connect(t, o)
}

func TestResubscribeAfterBrokerRestart(t *testing.T) {
	d := &switchDialer{b: startBroker(t)}
	drn := testDRN(3)
	tokens, reconnected := make(inbox, 4), make(chan bool, 4)
	reconnectingMeter(t, d, drn, tokens, reconnected)

	// The broker restarts: its sessions are gone.
	old := d.b
	second := startBroker(t)
	d.set(second)
	old.Shutdown(ctxT(t))
	select {
	case present := <-reconnected:
		if present {
			t.Error("a restarted broker reported the session present")
		}
	case <-time.After(patience):
		t.Fatal("the meter did not reconnect")
	}

	vendor := connect(t, vendorOptions(second.Dial))
	if err := vendor.Publish(ctxT(t), wire.Topic(drn, wire.KindToken), 1, false,
		[]byte("after restart")); err != nil {
		t.Fatal(err)
	}
	if m := tokens.next(t); string(m.Payload) != "after restart" {
		t.Errorf("token %q, want the one sent after the restart", m.Payload)
	}
}

func TestReconnectKeepsSession(t *testing.T) {
	b := startBroker(t)
	d := &switchDialer{b: b}
	drn := testDRN(4)
	tokens, reconnected := make(inbox, 4), make(chan bool, 4)
	reconnectingMeter(t, d, drn, tokens, reconnected)

	d.cut()
	select {
	case present := <-reconnected:
		if !present {
			t.Error("the broker lost the persistent session")
		}
	case <-time.After(patience):
		t.Fatal("the meter did not reconnect")
	}
	vendor := connect(t, vendorOptions(b.Dial))
	if err := vendor.Publish(ctxT(t), wire.Topic(drn, wire.KindToken), 1, false,
		[]byte("after cut")); err != nil {
		t.Fatal(err)
	}
	if m := tokens.next(t); string(m.Payload) != "after cut" {
		t.Errorf("token %q, want the one sent after the reconnection", m.Payload)
	}
}
