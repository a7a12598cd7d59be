package bench

import (
	"context"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/bench/load"
)

func TestRunVendEmbedded(t *testing.T) {
	for _, api := range []string{APIHTTP, APIDirect} {
		t.Run(api, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			rep, err := RunVend(ctx, VendConfig{
				Common: Common{Profile: load.Constant(100, time.Second)},
				Meters: 20, API: api,
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
