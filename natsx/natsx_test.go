package natsx

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stsfleet/stsfleet/protocol/wire"
)

// startServer starts a standalone server on a random loopback port with
// its store in the test's temporary directory.
func startServer(t *testing.T) *Server {
	t.Helper()
	s, err := Start(Config{Port: RandomPort, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return s
}

func connect(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := Connect(ConnectConfig{URL: url, Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

const testTimeout = 10 * time.Second

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStartDefaultsToLoopback(t *testing.T) {
	s := startServer(t)
	opts := s.NATS().ClientURL()
	if want := "nats://127.0.0.1:"; opts[:len(want)] != want {
		t.Errorf("ClientURL = %s, want loopback", opts)
	}
	if s.ClusterURL() != "" {
		t.Errorf("standalone ClusterURL = %q, want empty", s.ClusterURL())
	}
	if !s.NATS().JetStreamEnabled() {
		t.Error("JetStream is off")
	}
}

func TestShutdownIsIdempotent(t *testing.T) {
	s, err := Start(Config{Port: RandomPort})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if s.NATS().Running() {
		t.Error("server still running after Shutdown")
	}
}

func TestStartRejectsBadCluster(t *testing.T) {
	for name, c := range map[string]*ClusterConfig{
		"no name":   {Port: RandomPort},
		"no port":   {Name: "c"},
		"bad route": {Name: "c", Port: RandomPort, Routes: []string{"::nonsense"}},
	} {
		t.Run(name, func(t *testing.T) {
			if s, err := Start(Config{Port: RandomPort, Cluster: c}); err == nil {
				s.Shutdown(context.Background())
				t.Fatal("Start accepted the cluster config")
			}
		})
	}
}

func TestEnsureStream(t *testing.T) {
	s := startServer(t)
	_, js := connect(t, s.ClientURL())
	ctx := testContext(t)

	st, err := EnsureStream(ctx, js, StreamConfig{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	got := st.CachedInfo().Config
	if diff := cmp.Diff(StreamSubjects(), got.Subjects); diff != "" {
		t.Errorf("subjects (-want +got):\n%s", diff)
	}
	if got.Storage != jetstream.FileStorage || got.MaxBytes != 1<<20 ||
		got.MaxAge != DefaultMaxAge {
		t.Errorf("stream config = %+v", got)
	}

	// A second call keeps the first one's limits.
	st, err = EnsureStream(ctx, js, StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if mb := st.CachedInfo().Config.MaxBytes; mb != 1<<20 {
		t.Errorf("MaxBytes after second ensure = %d, want kept", mb)
	}

	// A stream that lacks a subject of the contract gets it.
	cfg := st.CachedInfo().Config
	cfg.Subjects = cfg.Subjects[:1]
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	st, err = EnsureStream(ctx, js, StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(StreamSubjects(), st.CachedInfo().Config.Subjects); diff != "" {
		t.Errorf("subjects after repair (-want +got):\n%s", diff)
	}
}

func TestTelemetryIsNotStored(t *testing.T) {
	for _, s := range StreamSubjects() {
		if s == wire.ChannelFilter(wire.ChannelTelemetry) {
			t.Errorf("stream captures %s", s)
		}
	}
}

// publish publishes n messages for meter drn on channel c.
func publish(t *testing.T, ctx context.Context, js jetstream.JetStream, c wire.Channel,
	drn string, n int) {
	t.Helper()
	subj, err := wire.Subject(c, drn, wire.DefaultPartitions)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := js.Publish(ctx, subj, fmt.Appendf(nil, `{"i":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEnsureConsumerKeepsPosition(t *testing.T) {
	s := startServer(t)
	_, js := connect(t, s.ClientURL())
	ctx := testContext(t)
	if _, err := EnsureStream(ctx, js, StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	drn := "01234567890"
	p := wire.Partition(drn, wire.DefaultPartitions)
	publish(t, ctx, js, wire.ChannelResult, drn, 5)
	publish(t, ctx, js, wire.ChannelResult, "98765432101", 3)

	cfg := ConsumerConfig{Name: "analytics-test",
		Filters: []string{wire.PartitionFilter(wire.ChannelResult, p)}}
	cons, err := EnsureConsumer(ctx, js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(3)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range batch.Messages() {
		if err := m.Ack(); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 3 {
		t.Fatalf("fetched %d messages, want 3", n)
	}

	// Ensuring again, even asking for the start, resumes after the acks.
	cfg.StartSeq = 1
	cons, err = EnsureConsumer(ctx, js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumPending != 2 || info.AckFloor.Stream == 0 {
		t.Errorf("after re-ensure: pending %d, ack floor %d; want 2 and past 0",
			info.NumPending, info.AckFloor.Stream)
	}

	if err := DeleteConsumer(ctx, js, "", cfg.Name); err != nil {
		t.Fatal(err)
	}
	if err := DeleteConsumer(ctx, js, "", cfg.Name); err != nil {
		t.Fatalf("deleting a missing consumer: %v", err)
	}
}

func TestEnsureConsumerChecksConfig(t *testing.T) {
	s := startServer(t)
	_, js := connect(t, s.ClientURL())
	for name, cfg := range map[string]ConsumerConfig{
		"no name":    {Filters: []string{"sts.v1.result.0.*"}},
		"dotted":     {Name: "a.b", Filters: []string{"sts.v1.result.0.*"}},
		"no filters": {Name: "a"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := EnsureConsumer(testContext(t), js, cfg); err == nil {
				t.Error("EnsureConsumer accepted the config")
			}
		})
	}
}

func TestEnsureStreamGivesUpWithoutJetStream(t *testing.T) {
	// No server listens: the client keeps reconnecting and requests
	// fail transiently until the context ends.
	nc, err := Connect(ConnectConfig{URL: "nats://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err = EnsureStream(ctx, js, StreamConfig{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("EnsureStream error = %v, want the context's deadline", err)
	}
}

const vendJSON = `{"vend_id":"v-%d","meter":"%s","utility":"electricity",` +
	`"units":"10.5","unit":"kWh","amount":"300.00","currency":"KES",` +
	`"token_amount":"262.50","other_charges":"37.50","tid":100,` +
	`"issued_at":"2026-03-01T10:00:00Z","sim_time":"2026-03-01T10:00:00Z"}`

func TestVendPublisher(t *testing.T) {
	s := startServer(t)
	nc, js := connect(t, s.ClientURL())
	ctx := testContext(t)
	st, err := EnsureStream(ctx, js, StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := NewVendPublisher(nc, 0)
	if err != nil {
		t.Fatal(err)
	}
	drn := "01234567890"
	for i := range 3 {
		payload := fmt.Appendf(nil, vendJSON, i, drn)
		// Publishing twice is a retry: stored once.
		for range 2 {
			if err := pub.PublishVend(ctx, drn, payload); err != nil {
				t.Fatal(err)
			}
		}
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 3 {
		t.Errorf("stream holds %d messages, want 3", info.State.Msgs)
	}
	subj, _ := wire.Subject(wire.ChannelVend, drn, wire.DefaultPartitions)
	msg, err := st.GetLastMsgForSubject(ctx, subj)
	if err != nil {
		t.Fatalf("no vend event on %s: %v", subj, err)
	}
	if _, err := wire.DecodeVend(msg.Data); err != nil {
		t.Errorf("stored vend event: %v", err)
	}

	t.Run("invalid", func(t *testing.T) {
		for name, tc := range map[string]struct{ drn, payload string }{
			"bad json":      {drn, `{"vend_id":`},
			"other meter":   {drn, fmt.Sprintf(vendJSON, 9, "98765432101")},
			"missing field": {drn, `{"vend_id":"x","meter":"01234567890"}`},
		} {
			t.Run(name, func(t *testing.T) {
				err := pub.PublishVend(ctx, tc.drn, []byte(tc.payload))
				if !errors.Is(err, ErrInvalidVend) {
					t.Errorf("PublishVend error = %v, want ErrInvalidVend", err)
				}
			})
		}
	})
	if _, err := NewVendPublisher(nc, wire.MaxPartitions+1); err == nil {
		t.Error("NewVendPublisher accepted too many partitions")
	}
}

func TestSlowConsumerIsReported(t *testing.T) {
	s := startServer(t)
	var slow atomic.Int64
	nc, err := Connect(ConnectConfig{URL: s.ClientURL(),
		OnSlowConsumer: func(*nats.Subscription) { slow.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	release := make(chan struct{})
	sub, err := nc.Subscribe("slow.test", func(*nats.Msg) { <-release })
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.SetPendingLimits(4, -1); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if err := nc.Publish("slow.test", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a slow consumer report", func() bool { return slow.Load() > 0 })
	close(release)
	dropped, err := sub.Dropped()
	if err != nil || dropped == 0 {
		t.Errorf("Dropped = %d, %v; want the messages the handler missed", dropped, err)
	}
}

func TestMsgIDDependsOnSubjectAndPayload(t *testing.T) {
	a := MsgID("s.1", []byte("x"))
	for name, b := range map[string]string{
		"subject":  MsgID("s.2", []byte("x")),
		"payload":  MsgID("s.1", []byte("y")),
		"boundary": MsgID("s.1x", nil),
	} {
		if a == b {
			t.Errorf("%s change keeps MsgID %s", name, a)
		}
	}
	if a != MsgID("s.1", []byte("x")) {
		t.Error("MsgID is not deterministic")
	}
}
