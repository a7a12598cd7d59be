package bridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stsfleet/stsfleet/analytics"
	"github.com/stsfleet/stsfleet/bridge"
	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/natsx"
	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/protocol/wire"
)

// The test fleet's secrets; nothing real.
var fleetSecret = []byte("bridge test fleet secret, not real")

const analyticsPassword = "bridge test analytics password"

const patience = 20 * time.Second

func logger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return nil
}

func startBroker(t *testing.T) *broker.Broker {
	t.Helper()
	b, err := broker.New(broker.Config{
		Listen: "127.0.0.1:0", FleetSecret: fleetSecret,
		Accounts: []broker.Account{{Username: broker.DefaultAnalyticsUsername,
			Password: analyticsPassword, Role: broker.RoleAnalytics}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		b.Shutdown(ctx)
	})
	return b
}

func startNATS(t *testing.T) *natsx.Server {
	t.Helper()
	s, err := natsx.Start(natsx.Config{Port: natsx.RandomPort, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

func dial(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := natsx.Connect(natsx.ConnectConfig{URL: url, Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// startBridge runs a bridge until the test ends and returns it once it
// has subscribed.
func startBridge(t *testing.T, b *broker.Broker, nc *nats.Conn, edit func(*bridge.Config)) (
	*bridge.Bridge, func()) {
	t.Helper()
	cfg := bridge.Config{
		MQTT: mqttc.Options{Broker: b.URL(), Username: broker.DefaultAnalyticsUsername,
			Password: analyticsPassword},
		NATS: nc, Logger: logger(),
	}
	if edit != nil {
		edit(&cfg)
	}
	br, err := bridge.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- br.Run(ctx) }()
	select {
	case <-br.Ready():
	case err := <-done:
		t.Fatalf("bridge ended before ready: %v", err)
	case <-time.After(patience):
		t.Fatal("bridge not ready")
	}
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("bridge Run: %v", err)
		}
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
	})
	return br, func() { stopped = true; stop() }
}

// testDRN returns the i-th valid 11-digit DRN of the test fleet.
func testDRN(i int) string {
	body := fmt.Sprintf("05%08d", i)
	check, err := sts.LuhnCheckDigit(body)
	if err != nil {
		panic(err)
	}
	return body + string(check)
}

func meter(t *testing.T, b *broker.Broker, drn string) *mqttc.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	c, err := mqttc.Connect(ctx, mqttc.Options{Broker: b.URL(), ClientID: drn, Username: drn,
		Password: broker.MeterPassword(fleetSecret, drn), NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func publish(t *testing.T, c *mqttc.Client, drn string, k wire.Kind, qos byte, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	payload, ok := v.([]byte)
	if !ok {
		payload = mustJSON(v)
	}
	if err := c.Publish(ctx, wire.Topic(drn, k), qos, false, payload); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func reading(drn string, seq uint64, credited, consumed int, final bool) wire.Telemetry {
	now := time.Now()
	return wire.Telemetry{DRN: drn, Utility: "electricity", Unit: "kWh", Seq: seq,
		Credited: fmt.Sprintf("%d.0000", credited), Consumed: fmt.Sprintf("%d.0000", consumed),
		Cleared: "0", Remaining: fmt.Sprintf("%d.0000", credited-consumed), Relay: "closed",
		Final: final, SimTime: now, SentAt: now}
}

func result(vendID string) wire.ResultMessage {
	now := time.Now()
	return wire.ResultMessage{VendID: vendID, Token: "12345678901234567890", Outcome: "accept",
		Credited: "10", Unit: "kWh", SimTime: now, SentAt: now}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEndToEnd runs meters on a real broker, the bridge, NATS with
// JetStream and an analytics instance, and checks that the instance's
// totals are the meters' own.
func TestEndToEnd(t *testing.T) {
	b := startBroker(t)
	ns := startNATS(t)
	reg := prometheus.NewRegistry()
	br, _ := startBridge(t, b, dial(t, ns.ClientURL()), func(c *bridge.Config) {
		c.Registerer = reg
	})

	svc, err := analytics.New(analytics.Config{URL: ns.ClientURL(), Logger: logger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	<-svc.Ready()

	const meters = 12
	wantConsumed := 0
	for i := range meters {
		drn := testDRN(i)
		c := meter(t, b, drn)
		publish(t, c, drn, wire.KindResult, 1, result(fmt.Sprintf("v-%d", i)))
		for seq := uint64(1); seq <= 3; seq++ {
			publish(t, c, drn, wire.KindTelemetry, 0, reading(drn, seq, 10, int(seq), false))
		}
		publish(t, c, drn, wire.KindTelemetry, 1, reading(drn, 4, 10, 4+i%3, true))
		wantConsumed += 4 + i%3
	}

	eventually(t, "every final reading at analytics", func() bool {
		return svc.Summary().FinalReadings == meters
	})
	s := svc.Summary()
	e := s.ByUtility["electricity"]
	want, _ := analytics.ParseAmount(fmt.Sprint(wantConsumed))
	if e.Consumed != want || e.Credited != 10*meters*1_000_000 || s.Meters != meters {
		t.Errorf("analytics: consumed %s credited %s meters %d; want %s, %d, %d",
			e.Consumed, e.Credited, s.Meters, want, 10*meters, meters)
	}
	if got := s.ResultsByOutcome["accept"]; got != meters {
		t.Errorf("analytics saw %d accepted results, want %d", got, meters)
	}

	// Analytics may see a message a moment before the bridge has the
	// stream's acknowledgement and counts it.
	eventually(t, "the bridge to count what it forwarded", func() bool {
		st := br.Stats()
		return st.Forwarded[wire.ChannelResult] == meters &&
			st.Forwarded[wire.ChannelFinal] == meters
	})
	st := br.Stats()
	if st.Received[wire.KindTelemetry] != 4*meters {
		t.Errorf("received %v, want %d readings", st.Received, 4*meters)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %v", err, problems)
	}
}

func TestSubjectsAndPayloads(t *testing.T) {
	b := startBroker(t)
	ns := startNATS(t)
	nc := dial(t, ns.ClientURL())
	br, stop := startBridge(t, b, nc, nil)

	core := make(chan *nats.Msg, 16)
	sub, err := nc.ChanSubscribe(wire.ChannelFilter(wire.ChannelTelemetry), core)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	drn := testDRN(7)
	c := meter(t, b, drn)
	tel := mustJSON(reading(drn, 1, 5, 1, false))
	final := mustJSON(reading(drn, 2, 5, 2, true))
	res := mustJSON(result("v-7"))
	publish(t, c, drn, wire.KindTelemetry, 0, tel)
	publish(t, c, drn, wire.KindTelemetry, 1, final)
	publish(t, c, drn, wire.KindResult, 1, res)
	// Broken messages are counted, not forwarded.
	publish(t, c, drn, wire.KindResult, 1, []byte(`{"outcome":"maybe"}`))
	publish(t, c, drn, wire.KindTelemetry, 1, mustJSON(reading(testDRN(8), 3, 5, 3, true)))

	select {
	case m := <-core:
		want, _ := wire.Subject(wire.ChannelTelemetry, drn, wire.DefaultPartitions)
		if m.Subject != want || string(m.Data) != string(tel) {
			t.Errorf("core message %s %s, want %s with the reading as sent",
				m.Subject, m.Data, want)
		}
	case <-time.After(patience):
		t.Fatal("no telemetry on core NATS")
	}

	eventually(t, "both invalid messages counted", func() bool {
		st := br.Stats()
		return st.Invalid[wire.KindResult] == 1 && st.Invalid[wire.KindTelemetry] == 1
	})
	stop()
	js, _ := jetstream.New(nc)
	stream, err := js.Stream(context.Background(), natsx.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c    wire.Channel
		want []byte
	}{{wire.ChannelResult, res}, {wire.ChannelFinal, final}} {
		subj, _ := wire.Subject(tc.c, drn, wire.DefaultPartitions)
		m, err := stream.GetLastMsgForSubject(context.Background(), subj)
		if err != nil {
			t.Fatalf("nothing stored on %s: %v", subj, err)
		}
		if string(m.Data) != string(tc.want) {
			t.Errorf("%s holds %s, want %s", subj, m.Data, tc.want)
		}
	}
	info, err := stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Errorf("stream holds %d messages, want the result and the final reading", info.State.Msgs)
	}
}

// TestOverflowAndFailuresAreCounted stops NATS under a bridge with one
// small queue: the worker retries, the queue fills, and every message ends
// counted as forwarded, overflowed or failed.
func TestOverflowAndFailuresAreCounted(t *testing.T) {
	b := startBroker(t)
	ns := startNATS(t)
	nc := dial(t, ns.ClientURL())
	br, stop := startBridge(t, b, nc, func(c *bridge.Config) {
		c.Workers, c.QueueSize, c.PublishAttempts = 1, 1, 2
		c.RetryWait, c.DrainTimeout = 50*time.Millisecond, time.Second
	})
	if err := ns.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	drn := testDRN(3)
	c := meter(t, b, drn)
	const sent = 20
	for i := range sent {
		publish(t, c, drn, wire.KindResult, 1, result(fmt.Sprint("v-", i)))
	}
	eventually(t, "every result taken in", func() bool {
		return br.Stats().Received[wire.KindResult] == sent
	})
	stop()
	st := br.Stats()
	accounted := st.Forwarded[wire.ChannelResult] + st.Overflow[wire.KindResult] +
		st.Failed[wire.ChannelResult] + st.Leftover
	if accounted != sent || st.Overflow[wire.KindResult] == 0 ||
		st.Failed[wire.ChannelResult] == 0 {
		t.Errorf("stats %+v: want all %d accounted for, some overflowed, some failed", st, sent)
	}
}

func TestNewNeedsNATS(t *testing.T) {
	if _, err := bridge.New(bridge.Config{}); err == nil {
		t.Error("New accepted a config without a NATS connection")
	}
}

// TestSharedBridgesSplitTheMessages runs two bridges in one shared
// subscription group: together they forward every result once.
func TestSharedBridgesSplitTheMessages(t *testing.T) {
	b := startBroker(t)
	ns := startNATS(t)
	nc := dial(t, ns.ClientURL())
	var bridges []*bridge.Bridge
	var stops []func()
	for i := range 2 {
		br, stop := startBridge(t, b, nc, func(c *bridge.Config) {
			c.ShareGroup = "bridges"
			c.MQTT.ClientID = fmt.Sprint("stsfleet-bridge-", i)
		})
		bridges, stops = append(bridges, br), append(stops, stop)
	}
	drn := testDRN(11)
	c := meter(t, b, drn)
	const sent = 20
	for i := range sent {
		publish(t, c, drn, wire.KindResult, 1, result(fmt.Sprint("v-", i)))
	}
	forwarded := func() (n uint64) {
		for _, br := range bridges {
			n += br.Stats().Forwarded[wire.ChannelResult]
		}
		return n
	}
	eventually(t, "every result forwarded", func() bool { return forwarded() >= sent })
	// Stopped, the bridges take nothing more: had each subscribed to
	// everything, they would have taken every result twice.
	for _, stop := range stops {
		stop()
	}
	var received uint64
	for _, br := range bridges {
		received += br.Stats().Received[wire.KindResult]
	}
	if received != sent || forwarded() != sent {
		t.Errorf("bridges took %d and forwarded %d results, want %d", received, forwarded(), sent)
	}
	js, _ := jetstream.New(nc)
	st, err := js.Stream(context.Background(), natsx.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != sent {
		t.Errorf("stream holds %d results, want %d", info.State.Msgs, sent)
	}
	if _, err := bridge.New(bridge.Config{NATS: nc, ShareGroup: "a/b"}); err == nil {
		t.Error("New accepted a share group with a '/'")
	}
}

// TestReadingsLeaveRoomForFinals fills a worker's queue with QoS 0
// readings while the worker is stuck on NATS: the readings stop at three
// quarters of the queue, and the final reading that follows, at QoS 1,
// still finds room.
func TestReadingsLeaveRoomForFinals(t *testing.T) {
	b := startBroker(t)
	ns := startNATS(t)
	nc := dial(t, ns.ClientURL())
	br, stop := startBridge(t, b, nc, func(c *bridge.Config) {
		c.Workers, c.QueueSize, c.PublishAttempts = 1, 8, 1000
		c.RetryWait, c.DrainTimeout = 20*time.Millisecond, 100*time.Millisecond
	})
	// A closed connection fails every publish at once.
	nc.Close()
	drn := testDRN(4)
	c := meter(t, b, drn)
	// The worker takes the result and keeps trying to publish it.
	publish(t, c, drn, wire.KindResult, 1, result("v-stuck"))
	eventually(t, "the worker retrying", func() bool {
		return br.Stats().Retries[wire.ChannelResult] > 0
	})

	const readings = 20
	for i := range readings {
		publish(t, c, drn, wire.KindTelemetry, 0, reading(drn, uint64(i+1), 5, i, false))
	}
	publish(t, c, drn, wire.KindTelemetry, 1, reading(drn, readings+1, 5, readings, true))
	eventually(t, "every reading taken in", func() bool {
		return br.Stats().Received[wire.KindTelemetry] == readings+1
	})
	// Six of the eight slots take readings; the final one takes a seventh.
	if got := br.Stats().Overflow[wire.KindTelemetry]; got != readings-6 {
		t.Errorf("%d readings dropped, want %d: the final one among them?", got, readings-6)
	}
	stop()
}
