package analytics

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stsfleet/stsfleet/natsx"
	"github.com/stsfleet/stsfleet/protocol/wire"
)

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return nil
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

// publisher publishes generated messages as the bridge and the vendor do.
type publisher struct {
	nc *nats.Conn
	js jetstream.JetStream
	// coreSent counts telemetry published on core NATS.
	coreSent int
}

func newPublisher(t *testing.T, url string, stream natsx.StreamConfig) *publisher {
	t.Helper()
	nc, err := natsx.Connect(natsx.ConnectConfig{URL: url, Name: "test-publisher"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := natsx.EnsureStream(ctx, js, stream); err != nil {
		t.Fatal(err)
	}
	return &publisher{nc: nc, js: js}
}

// send publishes msgs; with durableOnly, core telemetry is skipped, as
// it is lost while no instance listens.
func (p *publisher) send(t *testing.T, msgs []message, durableOnly bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, m := range msgs {
		subj, err := wire.Subject(m.channel, m.drn, wire.DefaultPartitions)
		if err != nil {
			t.Fatal(err)
		}
		if m.channel == wire.ChannelTelemetry {
			if durableOnly {
				continue
			}
			if err := p.nc.Publish(subj, m.payload); err != nil {
				t.Fatal(err)
			}
			p.coreSent++
			continue
		}
		if _, err := p.js.Publish(ctx, subj, m.payload,
			jetstream.WithMsgID(natsx.MsgID(subj, m.payload))); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.nc.FlushWithContext(ctx); err != nil {
		t.Fatal(err)
	}
}

// running is a Service under Run in the background.
type running struct {
	svc  *Service
	stop func() error
}

func start(t *testing.T, cfg Config) *running {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	cfg.CheckpointInterval = 50 * time.Millisecond
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	select {
	case <-svc.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("Run ended before ready: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("service not ready")
	}
	r := &running{svc: svc}
	stopped := false
	r.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return r
}

// caughtUp waits until every instance's durable consumer has nothing
// pending or unacknowledged and the instances together have handled the
// core telemetry sent.
func caughtUp(t *testing.T, js jetstream.JetStream, coreSent int, rs ...*running) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		done, core := true, 0
		for _, r := range rs {
			s := r.svc.Summary()
			core += int(s.TelemetryAggregated - s.FinalReadings + s.StaleReadings)
			info, err := js.Consumer(t.Context(), natsx.StreamName, r.svc.name)
			if err != nil {
				done = false
				continue
			}
			ci := info.CachedInfo()
			if ci.NumPending != 0 || ci.NumAckPending != 0 {
				done = false
			}
		}
		if done && core >= coreSent {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("instances did not catch up: core telemetry %d of %d", core, coreSent)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServiceAggregatesFromNATS(t *testing.T) {
	ns := startNATS(t)
	pub := newPublisher(t, ns.ClientURL(), natsx.StreamConfig{})
	r := start(t, Config{URL: ns.ClientURL()})
	msgs, exp := generate(11, 80, 30, t0)
	pub.send(t, msgs, false)
	caughtUp(t, pub.js, pub.coreSent, r)

	got := r.svc.Summary()
	checkTotals(t, got, exp)
	if got.InvalidMessages != 0 || got.SlowConsumerEvents != 0 {
		t.Errorf("invalid %d, slow consumer %d; want none", got.InvalidMessages,
			got.SlowConsumerEvents)
	}
	if got.TelemetryLagMS.Count == 0 {
		t.Error("no telemetry lag measured")
	}
}

func TestRestartMidStreamKeepsTotals(t *testing.T) {
	for _, tc := range []struct {
		name     string
		stateDir bool
	}{{"with checkpoints", true}, {"rebuilding from the stream", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ns := startNATS(t)
			pub := newPublisher(t, ns.ClientURL(), natsx.StreamConfig{})
			cfg := Config{URL: ns.ClientURL()}
			if tc.stateDir {
				cfg.StateDir = t.TempDir()
			}
			msgs, exp := generate(23, 60, 40, t0)
			half := len(msgs) / 2

			first := start(t, cfg)
			pub.send(t, msgs[:half], false)
			caughtUp(t, pub.js, pub.coreSent, first)
			if err := first.stop(); err != nil {
				t.Fatal(err)
			}
			before := first.svc.Summary()
			// A graceful stop leaves nothing delivered and unacknowledged,
			// which would wait out the ack wait before redelivery.
			cons, err := pub.js.Consumer(t.Context(), natsx.StreamName, first.svc.name)
			if err != nil {
				t.Fatal(err)
			}
			if n := cons.CachedInfo().NumAckPending; n != 0 {
				t.Errorf("after a graceful stop %d messages wait for acknowledgement", n)
			}

			// While no instance runs, the durable messages wait in the
			// stream; core telemetry is lost, as it would be.
			pub.send(t, msgs[half:], true)
			c, err := pub.js.Consumer(t.Context(), natsx.StreamName, first.svc.name)
			if err == nil {
				if n := c.CachedInfo().NumAckPending; n != 0 {
					t.Logf("with no instance running, %d messages were delivered", n)
				}
			}

			if tc.stateDir {
				// The last checkpoint holds exactly the first run's totals.
				st, err := loadState(statePath(cfg.StateDir, first.svc.name))
				if err != nil {
					t.Fatal(err)
				}
				saved, err := restore(st)
				if err != nil {
					t.Fatal(err)
				}
				got := saved.summary(before.Partitions, before.SlowConsumerEvents)
				if diff := cmp.Diff(before, got); diff != "" {
					t.Errorf("checkpoint (-first run +saved):\n%s", diff)
				}
			}

			second := start(t, cfg)
			caughtUp(t, pub.js, 0, second)
			got := second.svc.Summary()
			got.Anomalies = 0
			exp.anomaly = [numUtilities]int{}
			for u, b := range got.ByUtility {
				b.Anomalies = 0
				got.ByUtility[u] = b
			}
			checkTotals(t, got, exp)
		})
	}
}

func TestInstancesSumToOne(t *testing.T) {
	ns := startNATS(t)
	pub := newPublisher(t, ns.ClientURL(), natsx.StreamConfig{})
	msgs, exp := generate(31, 120, 20, t0)

	a, _ := ParseInstance("0/2", 0)
	b, _ := ParseInstance("1/2", 0)
	one := start(t, Config{URL: ns.ClientURL()})
	left := start(t, Config{URL: ns.ClientURL(), Partitions: a})
	right := start(t, Config{URL: ns.ClientURL(), Partitions: b})
	pub.send(t, msgs, false)
	caughtUp(t, pub.js, 2*pub.coreSent, one, left, right)

	whole := one.svc.Summary()
	checkTotals(t, whole, exp)
	ls, rs := left.svc.Summary(), right.svc.Summary()
	if ls.Meters == 0 || rs.Meters == 0 {
		t.Fatalf("meters split %d/%d: an instance saw none", ls.Meters, rs.Meters)
	}
	merged := Merge(ls, rs)
	checkTotals(t, merged, exp)
	combined := Combine(left.svc, right.svc)
	if combined.LatencyMS.Count != whole.LatencyMS.Count ||
		combined.LatencyMS.P50 != whole.LatencyMS.P50 {
		t.Errorf("combined latency %+v, one instance's %+v", combined.LatencyMS, whole.LatencyMS)
	}
	if merged.TelemetryAggregated != whole.TelemetryAggregated ||
		merged.StaleReadings != whole.StaleReadings {
		t.Errorf("readings: merged %d/%d stale, one instance %d/%d",
			merged.TelemetryAggregated, merged.StaleReadings,
			whole.TelemetryAggregated, whole.StaleReadings)
	}
}

func TestRunTwiceConcurrentlyFails(t *testing.T) {
	ns := startNATS(t)
	r := start(t, Config{URL: ns.ClientURL()})
	if err := r.svc.Run(t.Context()); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run error = %v, want ErrRunning", err)
	}
}

func TestSlowConsumerIsCounted(t *testing.T) {
	ns := startNATS(t)
	pub := newPublisher(t, ns.ClientURL(), natsx.StreamConfig{})
	r := start(t, Config{URL: ns.ClientURL(), TelemetryBuffer: 1})

	// Hold the aggregator so the telemetry goroutine stalls and the
	// client's buffer of one overflows.
	r.svc.agg.mu.Lock()
	msgs, _ := generate(3, 20, 10, t0)
	pub.send(t, msgs, false)
	deadline := time.Now().Add(20 * time.Second)
	for r.svc.slow.Load() == 0 {
		if time.Now().After(deadline) {
			r.svc.agg.mu.Unlock()
			t.Fatal("no slow-consumer event counted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.svc.agg.mu.Unlock()
	if got := r.svc.Summary().SlowConsumerEvents; got == 0 {
		t.Error("summary shows no slow-consumer events")
	}
}

func TestNewChecksConfig(t *testing.T) {
	if _, err := New(Config{Name: "bad.name"}); err == nil {
		t.Error("New accepted a dotted consumer name")
	}
	if _, err := New(Config{Partitions: PartitionSet{count: wire.MaxPartitions + 1}}); err == nil {
		t.Error("New accepted an impossible partition count")
	}
}
