package bench

import (
	"context"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/bench/load"
)

func TestRunBrokerAccountsForEveryProbe(t *testing.T) {
	for _, transport := range []string{TransportMemory, TransportTCP} {
		t.Run(transport, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			rep, err := RunBroker(ctx, BrokerConfig{
				Common:  Common{Profile: load.Constant(200, time.Second), Transport: transport},
				Clients: 10,
			})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Conserved() {
				t.Errorf("not conserved: requests %d, states %v, in flight %d", rep.Requests,
					rep.States, rep.InFlight)
			}
			if rep.Requests != 200 || rep.States[load.Accepted] != 200 {
				t.Errorf("requests %d, received %d, want 200 each", rep.Requests,
					rep.States[load.Accepted])
			}
			for _, n := range BrokerNames.Latencies {
				if c := rep.Latencies[n].Count; c != 200 {
					t.Errorf("%s: %d samples, want 200", n, c)
				}
			}
		})
	}
}
