package broker_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/protocol/wire"
)

// The test fleet's secrets; nothing real.
var fleetSecret = []byte("test fleet secret, not a real one")

const (
	vendorPassword    = "vendor test password"
	analyticsPassword = "analytics test password"
)

// patience bounds every wait for the broker in these tests.
const patience = 10 * time.Second

// startBroker starts a broker on a free loopback port with the test
// accounts; edit may change the configuration first.
func startBroker(t testing.TB, edit func(*broker.Config)) *broker.Broker {
	t.Helper()
	cfg := broker.Config{
		Listen:      "127.0.0.1:0",
		FleetSecret: fleetSecret,
		Accounts: []broker.Account{
			{Username: broker.DefaultVendorUsername, Password: vendorPassword,
				Role: broker.RoleVendor},
			{Username: broker.DefaultAnalyticsUsername, Password: analyticsPassword,
				Role: broker.RoleAnalytics},
		},
	}
	if edit != nil {
		edit(&cfg)
	}
	b, err := broker.New(cfg)
	if err != nil {
		t.Fatalf("new broker: %v", err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("shut down broker: %v", err)
		}
	})
	return b
}

// transport is how a test client reaches the broker.
type transport struct {
	name string
	// apply points the options at the broker.
	apply func(b *broker.Broker, o *mqttc.Options)
}

var transports = []transport{
	{"tcp", func(b *broker.Broker, o *mqttc.Options) { o.Broker = b.URL() }},
	{"memory", func(b *broker.Broker, o *mqttc.Options) { o.Dialer = b.Dial }},
}

var memory = transports[1]

// testDRN returns the i-th valid 11-digit DRN of the test fleet.
func testDRN(i int) string {
	body := fmt.Sprintf("04%08d", i)
	check, err := sts.LuhnCheckDigit(body)
	if err != nil {
		panic(err)
	}
	return body + string(check)
}

// meterOptions are a meter's options as the fleet sets them: DRN as client
// id and username, derived password, persistent session, offline will.
func meterOptions(b *broker.Broker, tr transport, drn string) mqttc.Options {
	o := mqttc.Options{
		ClientID: drn,
		Username: drn,
		Password: broker.MeterPassword(fleetSecret, drn),
		Will: &mqttc.Will{Topic: wire.Topic(drn, wire.KindStatus), Payload: wire.OfflineWill,
			QoS: 1, Retained: true},
		NoReconnect: true,
	}
	tr.apply(b, &o)
	return o
}

func vendorOptions(b *broker.Broker, tr transport, clientID string) mqttc.Options {
	o := mqttc.Options{
		ClientID:    clientID,
		Username:    broker.DefaultVendorUsername,
		Password:    vendorPassword,
		NoReconnect: true,
	}
	tr.apply(b, &o)
	return o
}

func analyticsOptions(b *broker.Broker, tr transport, clientID string) mqttc.Options {
	o := vendorOptions(b, tr, clientID)
	o.Username, o.Password = broker.DefaultAnalyticsUsername, analyticsPassword
	return o
}

// connect connects and disconnects at the end of the test.
func connect(t testing.TB, o mqttc.Options) *mqttc.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	c, err := mqttc.Connect(ctx, o)
	if err != nil {
		t.Fatalf("connect %s: %v", o.ClientID, err)
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

// inbox collects messages from a handler without ever blocking it.
type inbox struct {
	c chan mqttc.Message
}

func newInbox() *inbox { return &inbox{c: make(chan mqttc.Message, 1024)} }

func (in *inbox) handle(m mqttc.Message) {
	select {
	case in.c <- m:
	default:
		panic("test inbox full")
	}
}

// next returns the next message, failing the test after patience.
func (in *inbox) next(t testing.TB) mqttc.Message {
	t.Helper()
	select {
	case m := <-in.c:
		return m
	case <-time.After(patience):
		t.Fatal("no message within the deadline")
		return mqttc.Message{}
	}
}

// waitFor polls cond until it holds, failing the test after patience.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// conns is a dialer that remembers its connections, so a test can cut
// one as a network failure would, without a DISCONNECT.
type conns struct {
	dial func(context.Context) (net.Conn, error)

	mu   sync.Mutex
	last net.Conn
}

func (c *conns) Dial(ctx context.Context) (net.Conn, error) {
	conn, err := c.dial(ctx)
	if err == nil {
		c.mu.Lock()
		c.last = conn
		c.mu.Unlock()
	}
	return conn, err
}

func (c *conns) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last.Close()
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	t.Cleanup(cancel)
	return ctx
}
