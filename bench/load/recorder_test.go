package load

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stsfleet/stsfleet/scenarios/threshold"
)

var testNames = Names{
	Kind: "vend", Unit: "tokens", Issued: "tokens_vended",
	States: [numStates]string{"tokens_accepted", "tokens_rejected", "tokens_failed",
		"tokens_timed_out", "tokens_lost"},
	Latencies: []string{"vend_to_credit", "vend_to_issue"},
}

// fakeClock is a wall clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// record plays a small run into a recorder: five requests a second for
// three seconds, each ending as the table says.
func record(t *testing.T, reg prometheus.Registerer) Result {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	p := Constant(5, 3*time.Second)
	var met *Metrics
	if reg != nil {
		var err error
		if met, err = NewMetrics(reg, testNames); err != nil {
			t.Fatal(err)
		}
	}
	r, err := NewRecorder(RecorderConfig{Names: testNames, Profile: p, Start: clk.t,
		Now: clk.now, Metrics: met})
	if err != nil {
		t.Fatal(err)
	}
	ends := []struct {
		state  State
		detail string
	}{
		{Accepted, ""}, {Accepted, ""}, {Rejected, "crc_error"}, {Failed, "http_503"},
		{Accepted, ""},
	}
	start := clk.t
	for k := range 15 {
		intended := start.Add(time.Duration(k) * 200 * time.Millisecond)
		clk.t = intended
		r.Fired(Arrival{Seq: int64(k), Intended: intended, Rate: 5})
		end := ends[k%len(ends)]
		if end.state != Failed {
			r.Issued()
			r.Observe("vend_to_issue", 2*time.Millisecond)
		}
		if k == 14 {
			// The last one never hears back.
			clk.advance(10 * time.Second)
			r.Settle(Lost, "")
			continue
		}
		clk.advance(10 * time.Millisecond)
		if end.state != Failed {
			r.Observe("vend_to_credit", time.Duration(10+k)*time.Millisecond)
		}
		r.Settle(end.state, end.detail)
	}
	return r.Result()
}

func TestRecorderAccountsForEveryRequest(t *testing.T) {
	res := record(t, nil)
	if !res.Conserved() {
		t.Errorf("not conserved: %+v", res.States)
	}
	want := map[string]int64{
		"requests": 15, "tokens_vended": 12, "tokens_accepted": 8, "tokens_rejected": 3,
		"tokens_failed": 3, "tokens_timed_out": 0, "tokens_lost": 1, "crc_error": 3,
		"http_503": 3,
	}
	got := map[string]int64{}
	for _, n := range res.CountNames() {
		got[n], _ = res.Count(n)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if n := len(res.Series); n != 13 {
		t.Fatalf("series of %d seconds, want 13 (3 of load, the lost one at 12.8s)", n)
	}
	for i, sent := range []int64{5, 5, 5} {
		if res.Series[i].Sent != sent {
			t.Errorf("second %d: sent %d, want %d", i, res.Series[i].Sent, sent)
		}
	}
	if p := res.Series[0].Latencies["vend_to_credit"]; p.Count != 4 {
		t.Errorf("second 0: %d vend_to_credit samples, want 4", p.Count)
	}
	// The last accepted settles at 2.21 s, within the 3 s schedule: 8 of
	// them over the schedule.
	if want := 8 / 3.0; res.AchievedRate < want-1e-9 || res.AchievedRate > want+1e-9 {
		t.Errorf("achieved rate %g, want %g", res.AchievedRate, want)
	}
}

func TestResultJSONNamesCounts(t *testing.T) {
	res := record(t, nil)
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]any
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		"tokens_vended": 12, "tokens_accepted": 8, "tokens_lost": 1, "tokens_timed_out": 0,
		"requests": 15,
	} {
		if got, ok := top[name].(float64); !ok || got != want {
			t.Errorf("%s = %v, want %g", name, top[name], want)
		}
	}
	if _, ok := top["achieved_rate"].(float64); !ok {
		t.Errorf("achieved_rate missing or not a number: %v", top["achieved_rate"])
	}
	if !strings.HasPrefix(string(b), `{"kind":"vend","achieved_rate":`) {
		t.Errorf("JSON starts %.40s, want kind then achieved_rate", b)
	}
}

func TestResultIsThresholdSource(t *testing.T) {
	res := record(t, nil)
	names := threshold.DefaultNames()
	names.Counts = append(names.Counts, "requests", "tokens_failed", "http_503")
	for _, tc := range []struct {
		expr string
		pass bool
	}{
		{"count(tokens_lost) == 0", false},
		{"count(tokens_lost) <= 1", true},
		{"count(crc_error) == 3", true},
		{"count(http_503) > 3", false},
		{"ratio(tokens_rejected) < 0.2", false},
		{"ratio(tokens_rejected) <= 25%", true},
		{"p99(vend_to_credit) < 20ms", false},
		{"max(vend_to_credit) < 30ms", true},
		{"p50(vend_to_issue) < 3ms", true},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			th, err := names.Parse(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			r := th.Eval(&res)
			if r.Err != nil || r.Pass != tc.pass {
				t.Errorf("%s: pass %v (got %s, err %v), want %v", tc.expr, r.Pass, r.Got, r.Err,
					tc.pass)
			}
		})
	}
	th, err := names.Parse("p99(issue_to_credit) < 1s")
	if err != nil {
		t.Fatal(err)
	}
	if r := th.Eval(&res); r.Pass || r.Err == nil {
		t.Errorf("a latency the run did not measure passed: %+v", r)
	}
}

func TestRecorderMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	record(t, reg)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	want := `
# HELP bench_requests_total Arrivals the open-model scheduler fired.
# TYPE bench_requests_total counter
bench_requests_total{bench="vend"} 15
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"bench_requests_total"); err != nil {
		t.Error(err)
	}
}

func TestSeriesAndProgressTargetTheirOwnSecond(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	start := clk.t
	// 4/s for 2.5 s: the third second is half schedule, the fourth drain.
	r, err := NewRecorder(RecorderConfig{Names: testNames,
		Profile: Constant(4, 2500*time.Millisecond), Start: start, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	for k := range 10 {
		clk.t = start.Add(time.Duration(k) * 250 * time.Millisecond)
		r.Fired(Arrival{Seq: int64(k), Intended: clk.t, Rate: 4})
		if k < 9 {
			r.Settle(Accepted, "")
		}
	}
	clk.t = start.Add(3200 * time.Millisecond)
	r.Settle(Accepted, "")

	type target struct {
		Target float64
		Drain  bool
	}
	var got []target
	for _, p := range r.Result().Series {
		got = append(got, target{p.Target, p.Drain})
	}
	want := []target{{4, false}, {4, false}, {4, false}, {0, true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("series targets (-want +got):\n%s", diff)
	}

	// The progress line's target is that of the second its counts are of.
	for _, tc := range []struct {
		at       time.Duration
		want     float64
		draining bool
	}{{1500 * time.Millisecond, 4, false}, {3500 * time.Millisecond, 4, false},
		{4500 * time.Millisecond, 0, true}} {
		clk.t = start.Add(tc.at)
		if p := r.Progress(); p.Target != tc.want || p.Draining != tc.draining {
			t.Errorf("progress at %s: target %g, draining %v; want %g, %v", tc.at, p.Target,
				p.Draining, tc.want, tc.draining)
		}
	}
}

// A schedule cut short (an interrupted bench) is rated over the time it
// ran, not over the schedule it did not finish.
func TestAchievedRateOfAScheduleCutShort(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	rec, err := NewRecorder(RecorderConfig{Names: testNames, Profile: Constant(100, 30*time.Second),
		Start: clk.now(), Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	for k := range 200 {
		at := clk.now()
		rec.Fired(Arrival{Seq: int64(k), Intended: at, Rate: 100})
		rec.Issued()
		rec.Settle(Accepted, "")
		clk.advance(10 * time.Millisecond)
	}
	res := rec.Result()
	if res.AchievedRate < 99.9 || res.AchievedRate > 100.1 {
		t.Errorf("achieved %g/s after 2 s of a 30 s schedule at 100/s, want 100", res.AchievedRate)
	}
}
