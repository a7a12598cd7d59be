package analytics

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/natsx"
	"github.com/stsfleet/stsfleet/protocol/wire"
)

// TestScaleOut runs a three-node NATS cluster on loopback with the stream
// replicated on every node, two instances over disjoint partitions on two
// nodes, and one instance over all partitions on the third, through which
// the workload is published: the two instances' totals add up to the single instance's and to
// the workload's own.
func TestScaleOut(t *testing.T) {
	began := time.Now()
	c, err := natsx.StartLocalCluster("scale", 3, natsx.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Shutdown(context.Background()) })

	pubNode := c.Servers[2]
	pub := newPublisher(t, pubNode.ClientURL(), natsx.StreamConfig{Replicas: 3})
	st, err := pub.js.Stream(t.Context(), natsx.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	if r := st.CachedInfo().Config.Replicas; r != 3 {
		t.Fatalf("stream replicas = %d, want 3", r)
	}

	a, _ := ParseInstance("0/2", 0)
	b, _ := ParseInstance("1/2", 0)
	left := start(t, Config{URL: c.Servers[0].ClientURL(), Partitions: a})
	right := start(t, Config{URL: c.Servers[1].ClientURL(), Partitions: b})
	whole := start(t, Config{URL: pubNode.ClientURL()})

	// Core NATS interest crosses routes asynchronously: wait until the
	// publishing node knows, for every partition, its own subscriber (the
	// whole) and the route to the half that owns it, or telemetry sent now
	// would find no one.
	acc := pubNode.NATS().GlobalAccount()
	eventually(t, "telemetry interest on the publishing node", func() bool {
		for p := range wire.DefaultPartitions {
			if acc.Interest(wire.SubjectRoot+"telemetry."+strconv.Itoa(p)+".x") < 2 {
				return false
			}
		}
		return true
	})

	msgs, exp := generate(41, 150, 20, t0)
	pub.send(t, msgs, false)
	caughtUp(t, pub.js, 2*pub.coreSent, left, right, whole)

	one := whole.svc.Summary()
	checkTotals(t, one, exp)
	merged := Merge(left.svc.Summary(), right.svc.Summary())
	checkTotals(t, merged, exp)
	if merged.TelemetryAggregated != one.TelemetryAggregated {
		t.Errorf("readings aggregated: two instances %d, one %d",
			merged.TelemetryAggregated, one.TelemetryAggregated)
	}
	t.Logf("scale-out run took %s", time.Since(began).Round(time.Millisecond))
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
