package stack

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/stsfleet/stsfleet/analytics"
	"github.com/stsfleet/stsfleet/bridge"
	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/fleet"
	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/natsx"
	"github.com/stsfleet/stsfleet/simclock"
	"github.com/stsfleet/stsfleet/vending"
)

// scaleMeters is the size of the scale-out test's fleet.
const scaleMeters = 40

// TestScaleOutMatchesOneOfEach runs the multi-machine layout in one
// process: a broker on loopback TCP, a vendor, a three-node NATS cluster
// holding the stream on every node, the bridge, two fleet shards (0/2 and
// 1/2 of one definition) and two analytics instances (0/2 and 1/2) on two
// nodes. After a short simulated span and the final readings, the two
// instances' merged totals equal the meters' own, summed over the shards,
// and everything a single instance over all partitions, reading the same
// stream through the third node, reports.
func TestScaleOutMatchesOneOfEach(t *testing.T) {
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	gen, err := vending.NewFleet(vending.FleetConfig{Meters: scaleMeters, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	secret := randomBytes(32)
	const vendorPassword, analyticsPassword = "scale vendor password", "scale analytics password"

	b, err := broker.New(broker.Config{Listen: "127.0.0.1:0", FleetSecret: secret,
		Accounts: []broker.Account{
			{Username: broker.DefaultVendorUsername, Password: vendorPassword,
				Role: broker.RoleVendor},
			{Username: broker.DefaultAnalyticsUsername, Password: analyticsPassword,
				Role: broker.RoleAnalytics},
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown(context.Background())

	cluster, err := natsx.StartLocalCluster("scale", 3, natsx.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Shutdown(context.Background())
	nc, err := natsx.Connect(natsx.ConnectConfig{URL: cluster.ClientURLs(), Name: "scale"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	replicated := natsx.StreamConfig{Replicas: 3}
	if _, err := natsx.EnsureStream(ctx, js, replicated); err != nil {
		t.Fatal(err)
	}

	// The parts that run until the end: bridge, analytics, vend events.
	runCtx, stopParts := context.WithCancel(context.Background())
	var parts errgroup.Group
	defer func() {
		stopParts()
		if err := parts.Wait(); err != nil {
			t.Errorf("a part failed: %v", err)
		}
	}()

	br, err := bridge.New(bridge.Config{MQTT: mqttc.Options{Broker: b.URL(),
		ClientID: "scale-bridge", Username: broker.DefaultAnalyticsUsername,
		Password: analyticsPassword}, NATS: nc, Stream: replicated})
	if err != nil {
		t.Fatal(err)
	}
	parts.Go(func() error { return br.Run(runCtx) })
	instances := make([]*analytics.Service, 3)
	for i, share := range []string{"0/2", "1/2", ""} {
		var ps analytics.PartitionSet
		if share != "" {
			if ps, err = analytics.ParseInstance(share, 0); err != nil {
				t.Fatal(err)
			}
		}
		svc, err := analytics.New(analytics.Config{URL: cluster.Servers[i].ClientURL(),
			Partitions: ps, Stream: replicated})
		if err != nil {
			t.Fatal(err)
		}
		instances[i] = svc
		parts.Go(func() error { return svc.Run(runCtx) })
	}
	halves, whole := instances[:2], instances[2]
	for _, ready := range []<-chan struct{}{br.Ready(), halves[0].Ready(), halves[1].Ready(),
		whole.Ready()} {
		select {
		case <-ready:
		case <-ctx.Done():
			t.Fatal("the bridge or analytics did not get ready")
		}
	}

	clock := simclock.New(time.Now(), 40_000)
	vendor := startScaleVendor(t, ctx, gen, clock, b.URL(), vendorPassword, &parts, runCtx,
		nc)
	shards := startShards(t, ctx, gen, clock, b.URL(), secret, vendor.api)
	defer func() {
		for _, f := range shards {
			f.Shutdown(context.Background())
		}
	}()

	// Twelve simulated hours, then the run's end as Stack.Run does it, on
	// both shards.
	end := time.NewTimer(time.Until(clock.WallAt(clock.Start.Add(12 * time.Hour))))
	select {
	case <-end.C:
	case <-ctx.Done():
		t.Fatal("the span did not end")
	}
	meters := fleet.Totals{}
	for _, f := range shards {
		f.StopBuying()
		if err := f.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	poll(t, ctx, "every token's result at the vendor", func() bool {
		return vendor.svc.Summary().TokensPending == 0
	})
	for _, f := range shards {
		if err := f.Final(ctx); err != nil {
			t.Fatal(err)
		}
		tot, err := f.Totals(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for u, r := range tot {
			sum := meters[u]
			sum.Credited += r.Credited
			sum.Consumed += r.Consumed
			sum.Remaining += r.Remaining
			sum.Cleared += r.Cleared
			meters[u] = sum
		}
	}
	vended := vendor.svc.Summary().TokensVended
	if vended == 0 {
		t.Fatal("no token vended: the run proves nothing")
	}

	caughtUp := func(s analytics.Summary) bool {
		return s.MetersFinal == scaleMeters && s.TokensVended == vended && s.TokensPending == 0
	}
	var merged, one analytics.Summary
	poll(t, ctx, "both analytics views caught up", func() bool {
		merged, one = analytics.Combine(halves...), whole.Summary()
		return caughtUp(merged) && caughtUp(one)
	})

	if diff := cmp.Diff(meters, totalsOf(merged)); diff != "" {
		t.Errorf("two instances' totals differ from the meters' (-meters +analytics):\n%s", diff)
	}
	if diff := cmp.Diff(meters, totalsOf(one)); diff != "" {
		t.Errorf("one instance's totals differ from the meters' (-meters +analytics):\n%s", diff)
	}
	// Periodic readings travel on core NATS, so the two views may see a
	// different number of them; every figure from JetStream (results,
	// vends, final readings) must agree.
	coreOnly := cmpopts.IgnoreFields(analytics.Summary{}, "Partitions", "TelemetryAggregated",
		"StaleReadings", "Anomalies", "LatencyMS", "TelemetryLagMS", "SlowConsumerEvents")
	coreOnlyUtility := cmpopts.IgnoreFields(analytics.UtilitySummary{}, "Anomalies")
	if diff := cmp.Diff(one, merged, coreOnly, coreOnlyUtility); diff != "" {
		t.Errorf("two instances differ from one (-one +two):\n%s", diff)
	}
	if n := merged.LatencyMS.Count; n != one.LatencyMS.Count || n == 0 {
		t.Errorf("vend-to-credit latencies: two instances %d, one %d", n, one.LatencyMS.Count)
	}
	t.Logf("%d meters, %d tokens, %d readings aggregated; %s", scaleMeters, vended,
		merged.TelemetryAggregated, time.Since(began).Round(time.Millisecond))
}

// scaleVendor is the scale-out test's vendor and its HTTP API.
type scaleVendor struct {
	svc *vending.Service
	api string
}

// startScaleVendor starts the vending service with a temporary ledger, its
// MQTT link to the broker at url and its vend events to NATS, and stops it
// at the end of the test.
func startScaleVendor(t *testing.T, ctx context.Context, gen *vending.Fleet,
	clock *simclock.Clock, url, password string, parts *errgroup.Group,
	runCtx context.Context, nc *nats.Conn) *scaleVendor {
	t.Helper()
	pub, err := natsx.NewVendPublisher(nc, 0)
	if err != nil {
		t.Fatal(err)
	}
	fwd := natsx.NewVendForwarder(pub, natsx.ForwarderConfig{})
	parts.Go(func() error { return fwd.Run(runCtx) })

	link := &vendorLink{}
	svc, err := vending.New(ctx, vending.Config{Definition: gen.Definition, Keys: gen.Keys,
		DBPath: filepath.Join(t.TempDir(), "ledger.db"), Publisher: link, Clock: clock,
		Events: vendSink{fwd}})
	if err != nil {
		t.Fatal(err)
	}
	// The link reads what it needs of a stack: the broker and account.
	s := &Stack{cfg: Config{VendorUser: broker.DefaultVendorUsername,
		VendorPassword: password}, log: slog.New(slog.DiscardHandler)}
	s.addrs.MQTT = url
	if err := link.connect(ctx, s, svc); err != nil {
		t.Fatal(err)
	}
	vctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(vctx) }()
	api := httptest.NewServer(svc.Handler())
	t.Cleanup(func() {
		api.Close()
		stop()
		if err := <-done; err != nil {
			t.Errorf("vendor: %v", err)
		}
		link.close()
		svc.Close()
	})
	return &scaleVendor{svc: svc, api: api.URL}
}

// startShards starts fleet shards 0/2 and 1/2 of gen over the broker at
// url, buying from the vendor at api.
func startShards(t *testing.T, ctx context.Context, gen *vending.Fleet,
	clock *simclock.Clock, url string, secret []byte, api string) []*fleet.Fleet {
	t.Helper()
	var shards []*fleet.Fleet
	n := 0
	for i := range 2 {
		f, err := fleet.New(fleet.Config{Definition: gen.Definition, Injection: gen.Injection,
			Shard: fleet.Shard{Index: i, Count: 2}, Clock: clock, Step: time.Hour,
			Broker: url, FleetSecret: secret, Seed: 11,
			Vendor: fleet.NewHTTPVendor(api, "", nil)})
		if err != nil {
			t.Fatal(err)
		}
		if f.Len() == 0 {
			t.Fatalf("shard %d/2 is empty", i)
		}
		n += f.Len()
		if err := f.Start(ctx); err != nil {
			t.Fatal(err)
		}
		shards = append(shards, f)
	}
	if n != scaleMeters {
		t.Fatalf("the shards hold %d meters, want %d", n, scaleMeters)
	}
	return shards
}

// poll waits until cond holds, failing the test when ctx ends first.
func poll(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}
