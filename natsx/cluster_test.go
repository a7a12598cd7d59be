package natsx

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stsfleet/stsfleet/protocol/wire"
)

func TestLocalClusterReplicatesTheStream(t *testing.T) {
	c, err := StartLocalCluster("test", 3, Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	for i, s := range c.Servers {
		if s.ClusterURL() == "" {
			t.Errorf("node %d has no cluster URL", i)
		}
	}
	eventually(t, "a full mesh of routes", func() bool {
		for _, s := range c.Servers {
			if s.NATS().NumRoutes() < 2 {
				return false
			}
		}
		return true
	})

	ctx := testContext(t)
	// Publish through one node, read through another.
	_, js0 := connect(t, c.Servers[0].ClientURL())
	_, js2 := connect(t, c.Servers[2].ClientURL())
	st, err := EnsureStream(ctx, js0, StreamConfig{Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	if r := st.CachedInfo().Config.Replicas; r != 3 {
		t.Fatalf("replicas = %d, want 3", r)
	}
	publish(t, ctx, js0, wire.ChannelFinal, "01234567890", 4)

	cons, err := EnsureConsumer(ctx, js2, ConsumerConfig{Name: "reader",
		Filters: []string{wire.ChannelFilter(wire.ChannelFinal)}})
	if err != nil {
		t.Fatal(err)
	}
	// A consumer just created in a cluster that has just formed may answer
	// its first pulls empty while its leader settles: pull until all four
	// are in.
	n := 0
	for deadline := time.Now().Add(testTimeout); n < 4 && time.Now().Before(deadline); {
		batch, err := cons.Fetch(4-n, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for range batch.Messages() {
			n++
		}
	}
	if n != 4 {
		t.Errorf("read %d messages through another node, want 4", n)
	}
}
