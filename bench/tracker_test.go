package bench

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stsfleet/stsfleet/bench/load"
)

func TestTrackerSettlesEachRequestOnce(t *testing.T) {
	t0 := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	now := t0
	rec, err := load.NewRecorder(load.RecorderConfig{Names: VendNames,
		Profile: load.Constant(5, time.Second), Start: t0, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tr := newTracker(rec, time.Second, "vend_to_credit", "issue_to_credit")
	tr.now = func() time.Time { return now }
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	for i := range 6 {
		rec.Fired(load.Arrival{Seq: int64(i), Intended: at(0)})
	}

	tr.expect("ok", at(0), at(5))
	tr.answer("ok", at(20), true, "accept")
	// A second answer for a settled request changes nothing.
	tr.answer("ok", at(30), true, "accept")

	tr.expect("rejected", at(0), at(5))
	tr.answer("rejected", at(25), false, "crc_error")

	// The result overtakes the registration.
	tr.answer("early", at(10), true, "accept")
	tr.expect("early", at(0), at(12))

	tr.expect("late", at(0), at(5))
	now = at(1500)
	tr.sweep(now)
	tr.answer("late", at(1600), true, "accept")

	tr.expect("gave-up", at(0), at(5))
	tr.lose("gave-up")

	tr.expect("never", at(0), at(5))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tr.drain(ctx, rec.InFlight)

	res := rec.Result()
	got := map[string]int64{}
	for _, n := range res.CountNames() {
		got[n], _ = res.Count(n)
	}
	want := map[string]int64{"requests": 6, "tokens_vended": 0, "tokens_accepted": 2,
		"tokens_rejected": 1, "tokens_failed": 0, "tokens_timed_out": 1, "tokens_lost": 2,
		"crc_error": 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if !res.Conserved() {
		t.Errorf("not conserved: %+v", res.States)
	}
	// The early answer came before its registration: issue_to_credit
	// clamps at the histogram's floor rather than going negative.
	if n := res.Latencies["vend_to_credit"].Count; n != 4 {
		t.Errorf("%d vend_to_credit samples, want 4 (accepted, rejected, early, late)", n)
	}
}
