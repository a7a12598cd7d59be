package bench

import (
	"testing"

	"github.com/stsfleet/stsfleet/bench/load"
)

func TestNothingAcceptedNeverPasses(t *testing.T) {
	rep := &Report{Result: load.Result{Names: VendNames, Requests: 50}}
	rep.States[load.Failed] = 50
	rep.evaluate(nil)
	if rep.Passed {
		t.Error("a run with 50 requests and none accepted passed")
	}
	if n := len(rep.Thresholds); n != 1 || rep.Thresholds[0].Expr !=
		"count(tokens_accepted) > 0" {
		t.Errorf("thresholds %+v, want the one saying nothing was accepted", rep.Thresholds)
	}
	rep = &Report{Result: load.Result{Names: VendNames, Requests: 50}}
	rep.States[load.Accepted] = 1
	if rep.evaluate(nil); !rep.Passed || len(rep.Thresholds) != 0 {
		t.Errorf("a run with one accepted: passed %v, thresholds %+v", rep.Passed,
			rep.Thresholds)
	}
}
