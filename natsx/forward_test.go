package natsx

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/protocol/wire"
)

func vendEvent(i int) wire.VendEvent {
	at := time.Date(2026, 3, 1, 10, 0, i, 0, time.UTC)
	return wire.VendEvent{VendID: fmt.Sprint("v-", i), Meter: "01234567890",
		Utility: "gas", Units: "2", Unit: "m3", Amount: "50", Currency: "KES",
		TokenAmount: "50", OtherCharges: "0", TID: uint32(i), IssuedAt: at, SimTime: at}
}

func TestVendForwarder(t *testing.T) {
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
	fwd := NewVendForwarder(pub, ForwarderConfig{Queue: 8, Attempts: 2})

	// Before Run, the queue fills: the ninth event is dropped, not waited
	// for.
	for i := range 9 {
		ok := fwd.Offer(vendEvent(i))
		if want := i < 8; ok != want {
			t.Fatalf("Offer #%d = %v, want %v", i, ok, want)
		}
	}
	bad := vendEvent(99)
	bad.Utility = "steam"

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- fwd.Run(runCtx) }()
	eventually(t, "eight events published", func() bool { return fwd.Stats().Published == 8 })
	if !fwd.Offer(bad) {
		t.Fatal("queue still full")
	}
	eventually(t, "the invalid event counted", func() bool { return fwd.Stats().Failed == 1 })
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	want := ForwarderStats{Published: 8, Dropped: 1, Failed: 1}
	if got := fwd.Stats(); got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 8 {
		t.Errorf("stream holds %d vend events, want 8", info.State.Msgs)
	}
}

// TestVendForwarderWaitsForNATS offers an event before any NATS server
// runs: the forwarder keeps trying, and publishes it once a server and the
// stream are there.
func TestVendForwarderWaitsForNATS(t *testing.T) {
	ports, err := freePorts(DefaultHost, 1)
	if err != nil {
		t.Fatal(err)
	}
	nc, _ := connect(t, fmt.Sprintf("nats://%s:%d", DefaultHost, ports[0]))
	pub, err := NewVendPublisher(nc, 0)
	if err != nil {
		t.Fatal(err)
	}
	fwd := NewVendForwarder(pub, ForwarderConfig{Attempts: 100, RetryWait: 10 * time.Millisecond})
	fwd.Offer(vendEvent(1))
	ctx := testContext(t)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- fwd.Run(runCtx) }()
	eventually(t, "a failed attempt", func() bool { return fwd.Stats().Queued == 0 })

	s, err := Start(Config{Port: ports[0], StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	_, js := connect(t, s.ClientURL())
	if _, err := EnsureStream(ctx, js, StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the event published", func() bool { return fwd.Stats().Published == 1 })
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, want := fwd.Stats(), (ForwarderStats{Published: 1}); got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
}
