package bench

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stsfleet/stsfleet/bench/load"
	"github.com/stsfleet/stsfleet/scenarios/threshold"
)

// fakeSystem is a step function for a system that takes capacity requests
// a second and fails the rest, answering each in latency; it plays a step
// on a fake clock, without the scheduler.
type fakeSystem struct {
	capacity float64
	latency  time.Duration
	clock    time.Time
}

func (f *fakeSystem) now() time.Time { return f.clock }

func (f *fakeSystem) step(_ context.Context, rec *load.Recorder) error {
	p := rec.Profile()
	rate := p.Peak()
	n := p.Total()
	start := f.clock
	for k := range n {
		at := start.Add(time.Duration(float64(k) / rate * float64(time.Second)))
		f.clock = at
		rec.Fired(load.Arrival{Seq: k, Intended: at, Rate: rate})
		f.clock = at.Add(f.latency)
		if float64(k) >= f.capacity*p.Duration().Seconds() {
			rec.Settle(load.Failed, FailTimeout)
			continue
		}
		rec.Issued()
		rec.Observe(threshold.VendToCredit, f.latency)
		rec.Settle(load.Accepted, "")
	}
	f.clock = f.clock.Add(time.Second)
	return nil
}

func TestFindMaxStepsUntilAThresholdBreaks(t *testing.T) {
	sys := &fakeSystem{capacity: 2600, latency: 5 * time.Millisecond,
		clock: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	names := ThresholdNames(VendNames)
	th, err := names.Parse("count(tokens_failed) == 0")
	if err != nil {
		t.Fatal(err)
	}
	c := Common{Profile: load.Constant(1000, time.Second), Thresholds: []threshold.Threshold{th},
		FindMax: &FindMax{Step: 500}, now: sys.now}
	if err := c.resolve(); err != nil {
		t.Fatal(err)
	}
	rep, err := runSteps(context.Background(), &c, VendNames, sys.step,
		func(context.Context) (Info, error) { return Info{}, nil })
	if err != nil {
		t.Fatal(err)
	}
	var tried []float64
	for _, s := range rep.Steps {
		tried = append(tried, s.Target)
	}
	// 1000, 1500, 2000 and 2500 hold, 3000 breaks; bisection tries 2750
	// (breaks) and 2625 (breaks).
	want := []float64{1000, 1500, 2000, 2500, 3000, 2750, 2625}
	if diff := cmp.Diff(want, tried); diff != "" {
		t.Errorf("rates tried (-want +got):\n%s", diff)
	}
	if rep.MaxRate != 2500 || !rep.Passed || rep.Capped {
		t.Errorf("max rate %g, passed %v; want 2500 and passed", rep.MaxRate, rep.Passed)
	}
	if rep.TargetRate != 2500 || rep.States[load.Accepted] != 2500 {
		t.Errorf("report holds the %g/s step with %d accepted, want the 2500/s one",
			rep.TargetRate, rep.States[load.Accepted])
	}
	// The series and latencies, which the CSV and HTML show, are the
	// same step's, not those of the 2625/s step that ran last.
	if n := rep.Latencies[threshold.VendToCredit].Count; n != 2500 {
		t.Errorf("report has %d vend_to_credit samples, want the 2500 of its step", n)
	}
	for _, p := range rep.Series {
		if !p.Drain && p.Target != 2500 {
			t.Errorf("series second %d targets %g/s, want 2500/s", p.Second, p.Target)
		}
	}
}

func TestFindMaxWithNothingHolding(t *testing.T) {
	sys := &fakeSystem{capacity: 10, latency: time.Millisecond, clock: time.Unix(1e9, 0)}
	c := Common{Profile: load.Constant(100, time.Second), FindMax: &FindMax{}, now: sys.now}
	if err := c.resolve(); err != nil {
		t.Fatal(err)
	}
	rep, err := runSteps(context.Background(), &c, VendNames, sys.step,
		func(context.Context) (Info, error) { return Info{}, nil })
	if err != nil {
		t.Fatal(err)
	}
	var tried []float64
	for _, s := range rep.Steps {
		tried = append(tried, s.Target)
	}
	// The first rate breaks; bisection looks below it twice.
	if diff := cmp.Diff([]float64{100, 50, 25}, tried); diff != "" {
		t.Errorf("rates tried (-want +got):\n%s", diff)
	}
	if rep.Passed || rep.MaxRate != 0 {
		t.Errorf("passed %v, max rate %g; want a failed run", rep.Passed, rep.MaxRate)
	}
	// With no rate that held, the report is of the rate asked for.
	if rep.TargetRate != 100 || rep.Requests != 100 || rep.Series[0].Target != 100 {
		t.Errorf("report holds the %g/s step (%d requests, series at %g/s), want the 100/s one",
			rep.TargetRate, rep.Requests, rep.Series[0].Target)
	}
}

func TestReportEvaluatesThresholds(t *testing.T) {
	sys := &fakeSystem{capacity: 1e6, latency: 30 * time.Millisecond, clock: time.Unix(1e9, 0)}
	names := ThresholdNames(VendNames)
	var ths []threshold.Threshold
	for _, s := range []string{"p99(vend_to_credit) < 50ms", "count(tokens_lost) == 0",
		"p50(vend_to_credit) < 20ms", "count(in_flight_limit) == 0"} {
		th, err := names.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		ths = append(ths, th)
	}
	c := Common{Profile: load.Constant(200, time.Second), Thresholds: ths, now: sys.now}
	if err := c.resolve(); err != nil {
		t.Fatal(err)
	}
	rep, err := runSteps(context.Background(), &c, VendNames, sys.step,
		func(context.Context) (Info, error) { return Info{"meters": 1}, nil })
	if err != nil {
		t.Fatal(err)
	}
	var got []bool
	for _, tr := range rep.Thresholds {
		got = append(got, tr.Pass)
	}
	// in_flight_limit never happened: it counts zero.
	if diff := cmp.Diff([]bool{true, true, false, true}, got); diff != "" {
		t.Errorf("threshold results (-want +got):\n%s\n%+v", diff, rep.Thresholds)
	}
	if rep.Passed {
		t.Error("report passed with failing thresholds")
	}
}

func TestFindMaxRefusesAMaxBelowTheStart(t *testing.T) {
	// No rate could be tried: there would be no step to report.
	c := Common{Profile: load.Constant(500, time.Second), FindMax: &FindMax{Max: 100}}
	if err := c.resolve(); err == nil {
		t.Errorf("find-max from 500/s up to 100/s was accepted")
	}
}

// interruptAt is a fakeSystem whose context is cancelled during the step
// of one rate, as Ctrl-C would.
type interruptAt struct {
	*fakeSystem
	rate   float64
	cancel context.CancelFunc
}

func (s *interruptAt) step(ctx context.Context, rec *load.Recorder) error {
	if rec.Profile().Peak() == s.rate {
		s.cancel()
	}
	return s.fakeSystem.step(ctx, rec)
}

func TestFindMaxInterruptedReportsWhatRan(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sys := &interruptAt{fakeSystem: &fakeSystem{capacity: 2600, latency: 5 * time.Millisecond,
		clock: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}, rate: 2000, cancel: cancel}
	c := Common{Profile: load.Constant(1000, time.Second), FindMax: &FindMax{Step: 500},
		now: sys.now}
	if err := c.resolve(); err != nil {
		t.Fatal(err)
	}
	rep, err := runSteps(ctx, &c, VendNames, sys.step,
		func(context.Context) (Info, error) { return Info{}, nil })
	if err != nil {
		t.Fatalf("an interrupted find-max failed instead of reporting: %v", err)
	}
	if !rep.Interrupted || rep.Passed {
		t.Errorf("interrupted %v, passed %v; want interrupted, not passed", rep.Interrupted,
			rep.Passed)
	}
	var tried []float64
	for _, s := range rep.Steps {
		tried = append(tried, s.Target)
	}
	if diff := cmp.Diff([]float64{1000, 1500, 2000}, tried); diff != "" {
		t.Errorf("rates tried (-want +got):\n%s", diff)
	}
	// The step cut short neither held nor counts as the top rate.
	if last := rep.Steps[len(rep.Steps)-1]; last.Held || rep.MaxRate != 1500 {
		t.Errorf("last step %+v, max rate %g; want the 2000/s step not held and 1500", last,
			rep.MaxRate)
	}
}

func TestFindMaxCappedSaysSo(t *testing.T) {
	sys := &fakeSystem{capacity: 1e6, latency: time.Millisecond,
		clock: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	c := Common{Profile: load.Constant(1000, time.Second),
		FindMax: &FindMax{Step: 500, Max: 2000}, now: sys.now}
	if err := c.resolve(); err != nil {
		t.Fatal(err)
	}
	rep, err := runSteps(context.Background(), &c, VendNames, sys.step,
		func(context.Context) (Info, error) { return Info{}, nil })
	if err != nil {
		t.Fatal(err)
	}
	if rep.MaxRate != 2000 || !rep.Capped {
		t.Errorf("max rate %g, capped %v; want 2000 and capped", rep.MaxRate, rep.Capped)
	}
}
