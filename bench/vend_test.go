package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/bench/load"
	"github.com/stsfleet/stsfleet/vending"
	"github.com/stsfleet/stsfleet/vending/ledger"
)

func TestRunVendEmbedded(t *testing.T) {
	for _, tc := range []struct {
		api   string
		batch int
	}{{APIHTTP, 1}, {APIDirect, 1}, {APIHTTP, 8}, {APIDirect, 8}} {
		t.Run(fmt.Sprintf("%s/batch=%d", tc.api, tc.batch), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			rep, err := RunVend(ctx, VendConfig{
				Common: Common{Profile: load.Constant(100, time.Second)},
				Meters: 20, API: tc.api, Batch: tc.batch,
			})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Conserved() {
				t.Errorf("not conserved: requests %d, states %v, in flight %d", rep.Requests,
					rep.States, rep.InFlight)
			}
			if rep.Requests != 100 || rep.States[load.Accepted] != 100 {
				t.Errorf("requests %d, accepted %d (states %v, rejected %v, failed %v), "+
					"want 100 each", rep.Requests, rep.States[load.Accepted], rep.States,
					rep.RejectedBy, rep.FailedBy)
			}
		})
	}
}

func TestBatcher(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	b := &batcher{size: 4, wait: 200 * time.Millisecond, ctx: context.Background(),
		send: func(_ context.Context, as []load.Arrival) {
			mu.Lock()
			sizes = append(sizes, len(as))
			mu.Unlock()
		}}
	// Ten arrivals at once: two full batches, then two wait out the
	// window. Every add returns only once its batch was sent.
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() { b.add(load.Arrival{Seq: int64(i)}) })
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(sizes)
	if !slices.Equal(sizes, []int{2, 4, 4}) {
		t.Errorf("batch sizes %v, want [2 4 4]", sizes)
	}
}

func TestBrokerBaseline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := VendConfig{Common: Common{Profile: load.Constant(50, time.Second),
		FindMax: &FindMax{Start: 50, Step: 50, Max: 100, StepDuration: 500 * time.Millisecond,
			Refine: -1}},
		Meters: 20, SplitLink: true}
	rep, err := RunVend(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = BrokerBaseline(ctx, VendConfig{Common: cfg.Common, Meters: 20}, &Report{})
	if err == nil {
		t.Error("a baseline without the vend bench's steps was accepted")
	}
	if err := BrokerBaseline(ctx, cfg, rep); err != nil {
		t.Fatal(err)
	}
	b := rep.Baseline
	if b == nil || b.MaxRate < rep.MaxRate || len(b.Steps) < 2 {
		t.Fatalf("baseline %+v for a pipeline top rate of %v", b, rep.MaxRate)
	}
	if want := rep.MaxRate / b.MaxRate; b.Share != want || b.Config["clients"] != 20 {
		t.Errorf("share %v, want %v; config %v", b.Share, want, b.Config)
	}
	if b.Steps[0].Target != rep.MaxRate || b.Steps[1].Target-b.Steps[0].Target != 150 {
		t.Errorf("broker steps %+v: want them from %v, 150 apart", b.Steps, rep.MaxRate)
	}
}

func TestRunVendRecordsTheLedgerWindowInEffect(t *testing.T) {
	tests := []struct {
		name   string
		window time.Duration
		want   float64
	}{
		{"zero is the default", 0, vending.DefaultLedgerWindow.Seconds()},
		{"negative waits not", -time.Millisecond, 0},
		{"given", 3 * time.Millisecond, 0.003},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			rep, err := RunVend(ctx, VendConfig{
				Common: Common{Profile: load.Constant(10, 100*time.Millisecond)},
				Meters: 2, API: APIDirect, Ledger: ledger.Options{Window: tt.window},
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := rep.Config["ledger_window_s"]; got != tt.want {
				t.Errorf("ledger_window_s %v, want %v", got, tt.want)
			}
		})
	}
}
