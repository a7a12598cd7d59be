package broker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/protocol/wire"
)

func TestNewRejectsBadConfig(t *testing.T) {
	good := func() broker.Config {
		return broker.Config{FleetSecret: fleetSecret, DisableTCP: true}
	}
	tests := []struct {
		name string
		edit func(*broker.Config)
		want string
	}{
		{"short fleet secret", func(c *broker.Config) { c.FleetSecret = []byte("short") },
			"fleet secret"},
		{"digit-only username", func(c *broker.Config) {
			c.Accounts = []broker.Account{
				{Username: "0123", Password: "p", Role: broker.RoleVendor}}
		}, "username"},
		{"empty password", func(c *broker.Config) {
			c.Accounts = []broker.Account{{Username: "vendor", Role: broker.RoleVendor}}
		}, "empty password"},
		{"no role", func(c *broker.Config) {
			c.Accounts = []broker.Account{{Username: "vendor", Password: "p"}}
		}, "role"},
		{"duplicate username", func(c *broker.Config) {
			a := broker.Account{Username: "vendor", Password: "p", Role: broker.RoleVendor}
			c.Accounts = []broker.Account{a, a}
		}, "twice"},
		{"certificate without key", func(c *broker.Config) { c.TLSCertFile = "cert.pem" },
			"tls"},
		{"inflight too large", func(c *broker.Config) { c.MaxInflight = 70000 }, "inflight"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good()
			tt.edit(&cfg)
			_, err := broker.New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error about %q", err, tt.want)
			}
		})
	}
	if _, err := broker.New(good()); err != nil {
		t.Fatalf("New with a good config: %v", err)
	}
}

func TestMeterPassword(t *testing.T) {
	a := broker.MeterPassword(fleetSecret, testDRN(1))
	if a != broker.MeterPassword(fleetSecret, testDRN(1)) {
		t.Fatal("MeterPassword is not deterministic")
	}
	if a == broker.MeterPassword(fleetSecret, testDRN(2)) {
		t.Error("two meters share a password")
	}
	if a == broker.MeterPassword([]byte("another fleet secret, 32 bytes"), testDRN(1)) {
		t.Error("two fleet secrets give one meter the same password")
	}
	// 32 bytes of MAC in unpadded base64url.
	if len(a) != 43 || strings.ContainsAny(a, "+/=") {
		t.Errorf("password %q: want 43 base64url characters", a)
	}
}

func TestMeterConnects(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			b := startBroker(t, nil)
			c := connect(t, meterOptions(b, tr, testDRN(1)))
			if !c.IsConnected() {
				t.Fatal("meter not connected")
			}
			if got := b.Stats().Connects; got != 1 {
				t.Errorf("Connects = %d, want 1", got)
			}
		})
	}
}

// refusals picks the refusal counters out of the stats.
type refusals struct{ Auth, ClientID, Will, Publish, Subscribe uint64 }

func refusalsOf(s broker.Stats) refusals {
	return refusals{s.AuthFailures, s.ClientIDRefusals, s.WillRefusals, s.PublishRefusals,
		s.SubscribeRefusals}
}

func TestConnectRefused(t *testing.T) {
	b := startBroker(t, nil)
	meter := testDRN(1)
	tests := []struct {
		name string
		edit func(*mqttc.Options)
		want refusals
	}{
		{"wrong meter password", func(o *mqttc.Options) { o.Password = "guess" },
			refusals{Auth: 1}},
		{"another meter's password", func(o *mqttc.Options) {
			o.Password = broker.MeterPassword(fleetSecret, testDRN(2))
		}, refusals{Auth: 1}},
		{"username not a DRN", func(o *mqttc.Options) { o.Username, o.ClientID = "meter", "meter" },
			refusals{Auth: 1}},
		{"DRN with a bad check digit", func(o *mqttc.Options) {
			bad := meter[:10] + string('0'+(meter[10]-'0'+1)%10)
			o.Username, o.ClientID = bad, bad
			o.Password = broker.MeterPassword(fleetSecret, bad)
		}, refusals{Auth: 1}},
		{"wrong vendor password", func(o *mqttc.Options) {
			*o = vendorOptions(b, memory, "vendor-x")
			o.Password = "guess"
		}, refusals{Auth: 1}},
		{"client id not the DRN", func(o *mqttc.Options) { o.ClientID = testDRN(2) },
			refusals{ClientID: 1}},
		{"vendor with a meter's client id", func(o *mqttc.Options) {
			*o = vendorOptions(b, memory, meter)
		}, refusals{ClientID: 1}},
		{"will as another meter", func(o *mqttc.Options) {
			o.Will.Topic = wire.Topic(testDRN(2), wire.KindStatus)
		}, refusals{Will: 1}},
		{"retained will on telemetry", func(o *mqttc.Options) {
			o.Will.Topic = wire.Topic(meter, wire.KindTelemetry)
		}, refusals{Will: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := meterOptions(b, memory, meter)
			tt.edit(&o)
			before := refusalsOf(b.Stats())

			c, err := mqttc.Connect(ctxT(t), o)
			if err == nil {
				c.Disconnect(0)
				t.Fatal("connected; want a refusal")
			}
			if !errors.Is(err, mqttc.ErrConnectRefused) {
				t.Fatalf("Connect: %v, want %v", err, mqttc.ErrConnectRefused)
			}
			after := refusalsOf(b.Stats())
			got := refusals{after.Auth - before.Auth, after.ClientID - before.ClientID,
				after.Will - before.Will, after.Publish - before.Publish,
				after.Subscribe - before.Subscribe}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("refusal counters moved (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSubscribeACL(t *testing.T) {
	b := startBroker(t, nil)
	meter := connect(t, meterOptions(b, memory, testDRN(1)))
	vendor := connect(t, vendorOptions(b, memory, "vendor-1"))
	analytics := connect(t, analyticsOptions(b, memory, "analytics-1"))
	tests := []struct {
		name   string
		client *mqttc.Client
		filter string
		refuse bool
	}{
		{"meter own token", meter, wire.Topic(testDRN(1), wire.KindToken), false},
		{"meter another meter's token", meter, wire.Topic(testDRN(2), wire.KindToken), true},
		{"meter every token", meter, wire.TopicFilter(wire.KindToken), true},
		{"meter own result", meter, wire.Topic(testDRN(1), wire.KindResult), true},
		{"vendor shared results", vendor, wire.SharedResultFilter, false},
		{"vendor status", vendor, wire.TopicFilter(wire.KindStatus), false},
		{"vendor telemetry", vendor, wire.TopicFilter(wire.KindTelemetry), true},
		{"vendor tokens", vendor, wire.TopicFilter(wire.KindToken), true},
		{"analytics telemetry", analytics, wire.TopicFilter(wire.KindTelemetry), false},
		{"analytics tokens", analytics, wire.TopicFilter(wire.KindToken), true},
		{"analytics $SYS", analytics, "$SYS/#", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := b.Stats().SubscribeRefusals
			err := tt.client.Subscribe(ctxT(t), tt.filter, 1, newInbox().handle)
			if got := errors.Is(err, mqttc.ErrSubscribeRefused); got != tt.refuse {
				t.Fatalf("Subscribe(%s): %v; refused %v, want %v", tt.filter, err, got, tt.refuse)
			}
			if !tt.refuse && err != nil {
				t.Fatalf("Subscribe(%s): %v", tt.filter, err)
			}
			want := before
			if tt.refuse {
				want++
			}
			if got := b.Stats().SubscribeRefusals; got != want {
				t.Errorf("SubscribeRefusals = %d, want %d", got, want)
			}
		})
	}
}

func TestPublishACL(t *testing.T) {
	b := startBroker(t, nil)
	meter := connect(t, meterOptions(b, memory, testDRN(1)))
	vendor := connect(t, vendorOptions(b, memory, "vendor-1"))
	analytics := connect(t, analyticsOptions(b, memory, "analytics-1"))
	tests := []struct {
		name     string
		client   *mqttc.Client
		topic    string
		qos      byte
		retained bool
		refuse   bool
	}{
		{"meter own result", meter, wire.Topic(testDRN(1), wire.KindResult), 1, false, false},
		{"meter result as another meter", meter, wire.Topic(testDRN(2), wire.KindResult), 1,
			false, true},
		{"meter telemetry as another meter at QoS 0", meter,
			wire.Topic(testDRN(2), wire.KindTelemetry), 0, false, true},
		{"meter token to itself", meter, wire.Topic(testDRN(1), wire.KindToken), 1, false, true},
		{"meter retained result", meter, wire.Topic(testDRN(1), wire.KindResult), 1, true, true},
		{"vendor token", vendor, wire.Topic(testDRN(2), wire.KindToken), 1, false, false},
		{"vendor result", vendor, wire.Topic(testDRN(2), wire.KindResult), 1, false, true},
		{"analytics token", analytics, wire.Topic(testDRN(2), wire.KindToken), 1, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := b.Stats().PublishRefusals
			err := tt.client.Publish(ctxT(t), tt.topic, tt.qos, tt.retained, []byte("{}"))
			if err != nil {
				t.Fatalf("Publish: %v (a refused publish is acknowledged, not an error)", err)
			}
			want := before
			if tt.refuse {
				want++
			}
			// At QoS 1 the PUBACK follows the decision; at QoS 0 nothing
			// does, so poll.
			waitFor(t, "the publish refusal count", func() bool {
				return b.Stats().PublishRefusals >= want
			})
			if got := b.Stats().PublishRefusals; got != want {
				t.Errorf("PublishRefusals = %d, want %d", got, want)
			}
			if !tt.client.IsConnected() {
				t.Error("the broker disconnected the client")
			}
		})
	}
}

// A refused publish reaches no subscriber: the meter's own result, sent
// after the forged one, is the first the vendor sees.
func TestRefusedPublishIsNotDelivered(t *testing.T) {
	b := startBroker(t, nil)
	meter := connect(t, meterOptions(b, memory, testDRN(1)))
	vendor := connect(t, vendorOptions(b, memory, "vendor-1"))
	results := newInbox()
	if err := vendor.Subscribe(ctxT(t), wire.TopicFilter(wire.KindResult), 1,
		results.handle); err != nil {
		t.Fatal(err)
	}

	forged := wire.Topic(testDRN(2), wire.KindResult)
	if err := meter.Publish(ctxT(t), forged, 1, false, []byte("forged")); err != nil {
		t.Fatal(err)
	}
	own := wire.Topic(testDRN(1), wire.KindResult)
	if err := meter.Publish(ctxT(t), own, 1, false, []byte("own")); err != nil {
		t.Fatal(err)
	}
	if m := results.next(t); m.Topic != own || string(m.Payload) != "own" {
		t.Errorf("vendor got %s %q first, want %s %q", m.Topic, m.Payload, own, "own")
	}
}

func TestTokenDelivery(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			b := startBroker(t, nil)
			drn := testDRN(7)
			tokens := newInbox()
			o := meterOptions(b, tr, drn)
			o.Subscriptions = []mqttc.Subscription{
				{Filter: wire.Topic(drn, wire.KindToken), QoS: 1, Handler: tokens.handle},
			}
			connect(t, o)
			vendor := connect(t, vendorOptions(b, tr, "vendor-1"))

			payload := []byte(`{"vend_id":"v1"}`)
			if err := vendor.Publish(ctxT(t), wire.Topic(drn, wire.KindToken), 1, false,
				payload); err != nil {
				t.Fatal(err)
			}
			m := tokens.next(t)
			want := mqttc.Message{Topic: wire.Topic(drn, wire.KindToken), Payload: payload, QoS: 1}
			if diff := cmp.Diff(want, m); diff != "" {
				t.Errorf("token message (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOfflineQueueing(t *testing.T) {
	b := startBroker(t, nil)
	drn := testDRN(3)
	tokens := newInbox()
	o := meterOptions(b, memory, drn)
	o.Subscriptions = []mqttc.Subscription{
		{Filter: wire.Topic(drn, wire.KindToken), QoS: 1, Handler: tokens.handle},
	}
	vendor := connect(t, vendorOptions(b, memory, "vendor-1"))

	first, err := mqttc.Connect(ctxT(t), o)
	if err != nil {
		t.Fatal(err)
	}
	if first.SessionPresent() {
		t.Error("a new meter found a session")
	}
	first.Disconnect(0)

	// The meter goes away and comes back, again and again, as meters do.
	for round := range 3 {
		waitFor(t, "the meter to be offline", func() bool {
			return b.Stats().ClientsConnected == 1
		})
		var want []string
		for i := range 3 {
			p := fmt.Sprintf("round %d token %d", round, i)
			want = append(want, p)
			if err := vendor.Publish(ctxT(t), wire.Topic(drn, wire.KindToken), 1, false,
				[]byte(p)); err != nil {
				t.Fatal(err)
			}
		}
		// The broker acknowledges a publish before it queues it for the
		// subscribers.
		waitFor(t, "3 tokens queued for the meter", func() bool {
			return b.Stats().Inflight == 3
		})

		c, err := mqttc.Connect(ctxT(t), o)
		if err != nil {
			t.Fatal(err)
		}
		if !c.SessionPresent() {
			t.Errorf("round %d: the meter's session was not kept", round)
		}
		// mochi re-sends queued messages sorted by their creation second,
		// not in the order they were sent as [MQTT-4.6.0-1] asks: compare
		// sets.
		var got []string
		for range want {
			got = append(got, string(tokens.next(t).Payload))
		}
		slices.Sort(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("round %d: tokens after reconnecting (-want +got):\n%s", round, diff)
		}
		// paho acknowledges after the handler returns; a disconnect before
		// the PUBACKs are out would leave the tokens queued for next time.
		waitFor(t, "the tokens to be acknowledged", func() bool {
			return b.Stats().Inflight == 0
		})
		c.Disconnect(0)
	}
}

func TestRetainedStatusAndWill(t *testing.T) {
	b := startBroker(t, nil)
	drn := testDRN(4)
	status := wire.Topic(drn, wire.KindStatus)
	dialer := &conns{dial: b.Dial}
	o := meterOptions(b, memory, drn)
	o.Dialer = dialer.Dial
	meter := connect(t, o)
	if err := meter.Publish(ctxT(t), status, 1, true, []byte(`{"state":"online"}`)); err != nil {
		t.Fatal(err)
	}

	// A later subscriber gets the retained state at once.
	vendor := connect(t, vendorOptions(b, memory, "vendor-1"))
	states := newInbox()
	if err := vendor.Subscribe(ctxT(t), wire.TopicFilter(wire.KindStatus), 1,
		states.handle); err != nil {
		t.Fatal(err)
	}
	if m := states.next(t); string(m.Payload) != `{"state":"online"}` || !m.Retained {
		t.Errorf("retained status %q (retained %v), want online, retained", m.Payload, m.Retained)
	}

	// The connection drops without a DISCONNECT: the broker publishes the
	// will and keeps it as the retained state.
	dialer.cut()
	for {
		// The live copy of the online message may follow the retained one:
		// the broker acknowledges a publish before delivering it.
		m := states.next(t)
		if string(m.Payload) == `{"state":"online"}` && !m.Retained {
			continue
		}
		if string(m.Payload) != string(wire.OfflineWill) || m.Topic != status {
			t.Errorf("after the drop: %s %q, want %s %q", m.Topic, m.Payload, status,
				wire.OfflineWill)
		}
		break
	}
	analytics := connect(t, analyticsOptions(b, memory, "analytics-1"))
	later := newInbox()
	if err := analytics.Subscribe(ctxT(t), status, 1, later.handle); err != nil {
		t.Fatal(err)
	}
	if m := later.next(t); string(m.Payload) != string(wire.OfflineWill) || !m.Retained {
		t.Errorf("retained status after the will %q, want %q", m.Payload, wire.OfflineWill)
	}
}

func TestSharedSubscriptionSplitsResults(t *testing.T) {
	b := startBroker(t, nil)
	meter := connect(t, meterOptions(b, memory, testDRN(5)))
	got := newInbox()
	for i := range 2 {
		v := connect(t, vendorOptions(b, memory, fmt.Sprintf("vendor-%d", i)))
		if err := v.Subscribe(ctxT(t), wire.SharedResultFilter, 1, got.handle); err != nil {
			t.Fatal(err)
		}
	}
	const n = 20
	for i := range n {
		if err := meter.Publish(ctxT(t), wire.Topic(testDRN(5), wire.KindResult), 1, false,
			fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for range n {
		seen[string(got.next(t).Payload)] = true
	}
	if len(seen) != n {
		t.Errorf("vendors saw %d distinct results, want %d", len(seen), n)
	}
	select {
	case m := <-got.c:
		t.Errorf("result %q delivered twice through the shared subscription", m.Payload)
	default:
	}
}

// A vendor that is away with a persistent session does not hold back its
// share of the results: they go to the vendor that is connected.
func TestSharedSubscriptionSkipsMembersAway(t *testing.T) {
	b := startBroker(t, nil)
	meter := connect(t, meterOptions(b, memory, testDRN(5)))
	got := newInbox()
	var vendors []*mqttc.Client
	for i := range 2 {
		v := connect(t, vendorOptions(b, memory, fmt.Sprintf("vendor-%d", i)))
		if err := v.Subscribe(ctxT(t), wire.SharedResultFilter, 1, got.handle); err != nil {
			t.Fatal(err)
		}
		vendors = append(vendors, v)
	}
	vendors[1].Disconnect(0)
	waitFor(t, "vendor-1 to be away", func() bool { return b.Stats().ClientsConnected == 2 })

	const n = 20
	for i := range n {
		if err := meter.Publish(ctxT(t), wire.Topic(testDRN(5), wire.KindResult), 1, false,
			fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		got.next(t)
	}
	// Once vendor-0 has acknowledged everything, nothing is left queued.
	waitFor(t, "no result held for the vendor that is away", func() bool {
		return b.Stats().Inflight == 0
	})
}

func TestShutdown(t *testing.T) {
	b := startBroker(t, nil)
	lost := make(chan error, 1)
	o := meterOptions(b, memory, testDRN(6))
	o.OnConnectionLost = func(err error) { lost <- err }
	connect(t, o)

	ctx := ctxT(t)
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	select {
	case <-lost:
	case <-time.After(patience):
		t.Fatal("the client never saw its connection end")
	}
	if _, err := b.Dial(ctx); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Dial after Shutdown: %v, want %v", err, broker.ErrClosed)
	}
	if err := b.Start(ctx); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Start after Shutdown: %v, want %v", err, broker.ErrClosed)
	}
}

func TestShutdownBeforeStart(t *testing.T) {
	b, err := broker.New(broker.Config{FleetSecret: fleetSecret, DisableTCP: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Dial(ctxT(t)); !errors.Is(err, broker.ErrNotStarted) {
		t.Errorf("Dial before Start: %v, want %v", err, broker.ErrNotStarted)
	}
	if err := b.Shutdown(ctxT(t)); err != nil {
		t.Fatalf("Shutdown before Start: %v", err)
	}
}

func TestRun(t *testing.T) {
	b, err := broker.New(broker.Config{FleetSecret: fleetSecret, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	waitFor(t, "the broker to listen", func() bool { return b.Addr() != "" })
	connect(t, meterOptions(b, transports[0], testDRN(8)))

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(patience):
		t.Fatal("Run did not return after its context ended")
	}
}

// Many meters connect over the in-memory transport, each gets a token.
func TestManyMetersInMemory(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 100
	}
	b := startBroker(t, func(c *broker.Config) { c.DisableTCP = true })
	vendor := connect(t, vendorOptions(b, memory, "vendor-1"))
	tokens := newInbox()
	tokens.c = make(chan mqttc.Message, n)

	ctx := ctxT(t)
	sem := make(chan struct{}, 32)
	errs := make(chan error, n)
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			drn := testDRN(1000 + i)
			o := meterOptions(b, memory, drn)
			o.Subscriptions = []mqttc.Subscription{
				{Filter: wire.Topic(drn, wire.KindToken), QoS: 1, Handler: tokens.handle},
			}
			c, err := mqttc.Connect(ctx, o)
			if err == nil {
				t.Cleanup(func() { c.Disconnect(0) })
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("meter connect: %v", err)
		}
	}
	if got := b.Stats().ClientsConnected; got != int64(n+1) {
		t.Fatalf("ClientsConnected = %d, want %d", got, n+1)
	}
	for i := range n {
		if err := vendor.Publish(ctx, wire.Topic(testDRN(1000+i), wire.KindToken), 1, false,
			[]byte("t")); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for range n {
		seen[tokens.next(t).Topic] = true
	}
	if len(seen) != n {
		t.Errorf("%d meters got their token, want %d", len(seen), n)
	}
}
