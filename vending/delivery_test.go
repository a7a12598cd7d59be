package vending

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/vending/ledger"
)

var testDelivery = DeliveryConfig{InitialBackoff: 10 * time.Second, MaxBackoff: 40 * time.Second,
	MaxAttempts: 4}

func TestBackoff(t *testing.T) {
	d := testDelivery
	d.resolve()
	var got []time.Duration
	for a := 1; a <= 5; a++ {
		got = append(got, d.backoff(a))
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second,
		40 * time.Second, 40 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("backoff (-want +got):\n%s", diff)
	}
}

func TestRedeliveryUntilLost(t *testing.T) {
	e := newEnv(t, 3, nil, withDelivery(testDelivery))
	drn := e.meterOf(isUtility(Electricity)).DRN
	r := e.vend(drn, "20.00")
	ctx := context.Background()
	type step struct {
		advance  time.Duration
		attempts []int
	}
	// Attempt 1 at 0 s, then 2 at 10 s, 3 at 30 s, 4 at 70 s; lost at 110 s.
	steps := []step{
		{0, []int{1}},
		{9 * time.Second, nil},
		{time.Second, []int{2}},
		{19 * time.Second, nil},
		{time.Second, []int{3}},
		{40 * time.Second, []int{4}},
		{39 * time.Second, nil},
	}
	for i, s := range steps {
		e.wall.Advance(s.advance)
		if i > 0 {
			e.svc.Tick(ctx)
		}
		var got []int
		for _, p := range e.pub.take() {
			if p.Msg.VendID != r.VendID || p.Msg.Token != r.Token {
				t.Errorf("step %d: published %+v, not the vend's token", i, p.Msg)
			}
			got = append(got, p.Msg.Attempt)
		}
		if diff := cmp.Diff(s.attempts, got); diff != "" {
			t.Errorf("step %d (+%v): attempts (-want +got):\n%s", i, s.advance, diff)
		}
	}
	if s := e.svc.Summary(); s.TokensPending != 1 || s.TokensLost != 0 {
		t.Errorf("before the last wait ends: pending %d lost %d", s.TokensPending, s.TokensLost)
	}
	e.wall.Advance(time.Second)
	e.svc.Tick(ctx)
	if got := e.pub.take(); len(got) != 0 {
		t.Errorf("published %d after the last attempt", len(got))
	}
	s := e.svc.Summary()
	if s.TokensLost != 1 || s.TokensPending != 0 || s.Redeliveries != 3 || !s.Conserved() {
		t.Errorf("after giving up: %+v", s)
	}
	st, err := e.svc.VendStatus(ctx, r.VendID)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != "lost" || st.Attempts != 4 {
		t.Errorf("status %s after %d attempts, want lost after 4", st.State, st.Attempts)
	}

	// A result that still arrives settles the token.
	e.svc.handleResult(resultIn{drn: drn, payload: resultPayload(r.VendID, r.Token, sts.Accept),
		at: e.wall.Now()})
	s = e.svc.Summary()
	if s.TokensLost != 0 || s.TokensAccepted != 1 || !s.Conserved() {
		t.Errorf("after a late accept: %+v", s)
	}
}

func TestPublishFailureIsRetried(t *testing.T) {
	e := newEnv(t, 3, nil, withDelivery(testDelivery))
	drn := e.meterOf(isUtility(Electricity)).DRN
	e.pub.setFail(true)
	// The vend still succeeds: the token is in the ledger and the
	// customer has it.
	r := e.vend(drn, "20.00")
	e.pub.setFail(false)
	e.wall.Advance(testDelivery.InitialBackoff)
	e.svc.Tick(context.Background())
	got := e.pub.take()
	if len(got) != 1 || got[0].Msg.VendID != r.VendID || got[0].Msg.Attempt != 2 {
		t.Fatalf("after the broker came back: %+v", got)
	}
	if s := e.svc.Summary(); s.PublishErrors != 1 {
		t.Errorf("publish errors = %d, want 1", s.PublishErrors)
	}
}

func TestFirstResultCounts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		results []sts.Outcome
		state   string
		sum     func(s Summary) [4]int64
		want    [4]int64
	}{
		{"accept", []sts.Outcome{sts.Accept}, "accepted", nil, [4]int64{1, 0, 0, 0}},
		{"accept then a copy's used_error", []sts.Outcome{sts.Accept, sts.UsedError},
			"accepted", nil, [4]int64{1, 0, 0, 1}},
		{"used_error first: delivered, not credit again", []sts.Outcome{sts.UsedError,
			sts.Accept}, "delivered", nil, [4]int64{0, 1, 0, 1}},
		{"crc_error", []sts.Outcome{sts.CRCError}, "rejected", nil, [4]int64{0, 0, 1, 0}},
		{"rejected then accept", []sts.Outcome{sts.OldError, sts.Accept}, "rejected", nil,
			[4]int64{0, 0, 1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 3, nil, withDelivery(testDelivery))
			drn := e.meterOf(isUtility(Electricity)).DRN
			r := e.vend(drn, "50.00")
			msg := e.pub.take()[0].Msg
			for _, o := range tc.results {
				e.wall.Advance(time.Second)
				e.result(drn, msg, o)
			}
			s := e.svc.Summary()
			got := [4]int64{s.TokensAccepted, s.TokensDelivered, s.TokensRejected,
				s.DuplicateResults}
			if got != tc.want || !s.Conserved() || s.TokensPending != 0 {
				t.Errorf("accepted, delivered, rejected, duplicates = %v, want %v (%+v)",
					got, tc.want, s)
			}
			credited := "0.0"
			if tc.state != "rejected" {
				credited = r.Units
			}
			if s.Credited[Electricity] != credited {
				t.Errorf("credited %s, want %s: a token credits once", s.Credited[Electricity],
					credited)
			}
			st, err := e.svc.VendStatus(context.Background(), r.VendID)
			if err != nil {
				t.Fatal(err)
			}
			if st.State != tc.state || st.Outcome != tc.results[0].String() || !st.Delivered {
				t.Errorf("status %s/%s delivered %v, want %s/%s", st.State, st.Outcome,
					st.Delivered, tc.state, tc.results[0])
			}
			// Settled: nothing is redelivered.
			e.wall.Advance(time.Hour)
			e.svc.Tick(context.Background())
			if n := len(e.pub.take()); n != 0 {
				t.Errorf("%d redeliveries of a settled token", n)
			}
		})
	}
}

func TestResultsThatMatchNothing(t *testing.T) {
	e := newEnv(t, 4, nil, withDelivery(testDelivery))
	ms := e.fleet.Definition.Meters
	r := e.vend(ms[0].DRN, "50.00")
	msg := e.pub.take()[0].Msg
	for _, in := range []resultIn{
		{drn: ms[0].DRN, payload: []byte(`{"outcome":"accept"`)},
		{drn: ms[0].DRN, payload: resultPayload("", r.Token, sts.Accept)},
		{drn: ms[0].DRN, payload: resultPayload("nope", r.Token, sts.Accept)},
		{drn: ms[0].DRN, payload: resultPayload(r.VendID, "12345678901234567890", sts.Accept)},
		// Another meter cannot settle this meter's vend.
		{drn: ms[1].DRN, payload: resultPayload(msg.VendID, msg.Token, sts.Accept)},
	} {
		e.svc.handleResult(in)
	}
	if s := e.svc.Summary(); s.TokensPending != 1 || s.TokensAccepted != 0 {
		t.Errorf("stray results settled the token: %+v", s)
	}
}

func TestRunHandlesQueuedResults(t *testing.T) {
	e := newEnv(t, 3, nil, withDelivery(DeliveryConfig{TickInterval: time.Hour}))
	drn := e.meterOf(isUtility(Electricity)).DRN
	r := e.vend(drn, "50.00")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(ctx) }()
	e.svc.HandleResult(drn, resultPayload(r.VendID, r.Token, sts.Accept))
	deadline := time.Now().Add(10 * time.Second)
	for e.svc.Summary().TokensAccepted != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the result was not handled within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	// Close commits the queued result write.
	e.restart()
	st, err := e.svc.VendStatus(context.Background(), r.VendID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Tokens[0].State != string(ledger.Accepted) {
		t.Errorf("ledger state after restart %s, want accepted", st.Tokens[0].State)
	}
}

func TestLatenciesOnTheVendorClock(t *testing.T) {
	e := newEnv(t, 3, nil, withDelivery(testDelivery))
	drn := e.meterOf(isUtility(Electricity)).DRN
	e.vend(drn, "50.00")
	msg := e.pub.take()[0].Msg
	e.wall.Advance(1500 * time.Millisecond)
	e.result(drn, msg, sts.Accept)
	l := e.svc.Summary().Latency
	got := [3]float64{l[LatencyVendToIssue].Max, l[LatencyIssueToCredit].P50,
		l[LatencyVendToCredit].P99}
	// The fake wall stands still during the vend, so issue is at 0 ms.
	// HDR histograms hold 3 significant figures.
	want := [3]float64{0.001, 1500, 1500}
	if !cmp.Equal(got, want, cmp.Comparer(func(a, b float64) bool {
		return a-b < 1.5 && b-a < 1.5
	})) {
		t.Errorf("latencies vend_to_issue max, issue_to_credit p50, vend_to_credit p99 = %v ms, "+
			"want %v", got, want)
	}
}

func TestTokensRecordedWithoutPublisherAreDeliveredLater(t *testing.T) {
	e := newEnv(t, 3, nil, withoutPublisher(), withDelivery(testDelivery))
	drn := e.meterOf(isUtility(Electricity)).DRN
	r := e.vend(drn, "30.00")
	if _, err := e.svc.Resend(context.Background(), drn); !errors.Is(err, ErrNoDelivery) {
		t.Errorf("resend without a publisher: %v", err)
	}
	e.cfg.Publisher = e.pub
	e.restart()
	e.svc.Tick(context.Background())
	got := e.pub.take()
	if len(got) != 1 || got[0].Msg.VendID != r.VendID || got[0].Msg.Attempt != 1 {
		t.Errorf("after restart with a publisher: %+v", got)
	}
}
