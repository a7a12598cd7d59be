package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/stsfleet/stsfleet/bench/load"
	"github.com/stsfleet/stsfleet/scenarios/threshold"
)

// Report is the outcome of a bench: the run's result (for find-max, that
// of the highest rate that held, or of the first rate tried when none
// held: its counts, latencies and series alike), the thresholds evaluated
// on it, and what the run was made on.
type Report struct {
	load.Result
	// Interrupted is true when the bench's context ended before its
	// schedule (or, for find-max, its search) did: what ran is
	// reported, and Passed is false.
	Interrupted bool
	// Passed is true when every threshold held (and, for find-max, a
	// step held).
	Passed bool
	// Thresholds are the evaluated thresholds.
	Thresholds []ThresholdResult
	// Config describes the set-up; Machine the computer it ran on.
	Config  Info
	Machine Machine
	// MaxRate is the highest target rate that held, for find-max.
	MaxRate float64
	// Capped reports a find-max that stopped at its highest allowed rate
	// with every step held: the top rate may be higher than MaxRate.
	Capped bool
	// Steps are the find-max steps in the order run.
	Steps []Step
	// Extra holds what a bench adds, such as the vendor's own summary.
	Extra Info
	// Baseline, when set, is what the broker alone carried in the same
	// run, for the pipeline's top rate to be read against.
	Baseline *Baseline
}

// Baseline is the broker bench's top rate set beside the vend bench's:
// a token takes two QoS 1 legs, as one round trip of the broker bench
// does, so Share is the pipeline's top rate over the broker's.
type Baseline struct {
	// MaxRate is the broker's highest round trip rate that held.
	MaxRate float64 `json:"max_rate"`
	// Share is the vend bench's MaxRate over the broker's; zero when
	// either held no step.
	Share float64 `json:"share"`
	// Steps are the broker's find-max steps; Config its set-up.
	Steps  []Step `json:"steps"`
	Config Info   `json:"config"`
}

// ThresholdResult is one threshold evaluated on a result.
type ThresholdResult struct {
	Expr string `json:"expr"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Pass bool   `json:"pass"`
	// Err says why nothing could be compared; empty otherwise.
	Err string `json:"error,omitempty"`
}

// Step is one rate tried by find-max.
type Step struct {
	Target       float64 `json:"target_rate"`
	AchievedRate float64 `json:"achieved_rate"`
	Requests     int64   `json:"requests"`
	Accepted     int64   `json:"accepted"`
	Errors       int64   `json:"errors"`
	// P99 is the primary latency's 99th percentile, in milliseconds.
	P99  float64 `json:"p99_ms"`
	Held bool    `json:"held"`
	// Broke lists what failed at this step.
	Broke []string `json:"broke,omitempty"`
}

// Interruption says where an interrupted bench stopped: "after 6.8s" of
// its schedule, or "during the 2000/s step" of a find-max.
func (r *Report) Interruption() string {
	if n := len(r.Steps); n > 0 {
		return fmt.Sprintf("during the %.0f/s step", r.Steps[n-1].Target)
	}
	return fmt.Sprintf("after %.1fs", r.ElapsedSeconds)
}

// interrupted marks the report interrupted, and not passed, when ctx
// has ended.
func (r *Report) interrupted(ctx context.Context) {
	if ctx.Err() != nil {
		r.Interrupted, r.Passed = true, false
	}
}

// evaluate checks the thresholds against the result and sets Passed.
// A run that made requests and had none accepted never passes: it gets a
// failed threshold of its own, so that the table says why.
func (r *Report) evaluate(ths []threshold.Threshold) {
	r.Thresholds = evalThresholds(&r.Result, ths)
	if accepted := r.States[load.Accepted]; r.Requests > 0 && accepted == 0 {
		r.Thresholds = append(r.Thresholds, ThresholdResult{
			Expr: "count(" + r.Names.States[load.Accepted] + ") > 0", Want: "> 0", Got: "0",
			Err: "nothing was accepted"})
	}
	r.Passed = true
	for _, t := range r.Thresholds {
		r.Passed = r.Passed && t.Pass
	}
}

func evalThresholds(res *load.Result, ths []threshold.Threshold) []ThresholdResult {
	out := make([]ThresholdResult, 0, len(ths))
	src := source{res}
	for _, th := range ths {
		e := th.Eval(src)
		tr := ThresholdResult{Expr: th.String(), Want: th.Wanted(), Got: e.Got, Pass: e.Pass}
		if e.Err != nil {
			tr.Err = e.Err.Error()
		}
		out = append(out, tr)
	}
	return out
}

// MarshalJSON writes the result's fields, then passed, thresholds, the
// find-max figures, config and machine.
func (r Report) MarshalJSON() ([]byte, error) {
	f := r.Result.Fields()
	f = append(f[:2:2], append([]load.Field{{Key: "passed", Value: r.Passed},
		{Key: "interrupted", Value: r.Interrupted}}, f[2:]...)...)
	f = append(f, load.Field{Key: "thresholds", Value: r.Thresholds})
	if r.Steps != nil {
		f = append(f, load.Field{Key: "max_rate", Value: r.MaxRate},
			load.Field{Key: "max_rate_capped", Value: r.Capped},
			load.Field{Key: "steps", Value: r.Steps})
	}
	if r.Baseline != nil {
		f = append(f, load.Field{Key: "broker_baseline", Value: r.Baseline})
	}
	if r.Extra != nil {
		f = append(f, load.Field{Key: "extra", Value: r.Extra})
	}
	f = append(f, load.Field{Key: "config", Value: r.Config},
		load.Field{Key: "machine", Value: r.Machine})
	return load.MarshalFields(f)
}

// Machine is what a figure was measured on.
type Machine struct {
	CPUs       int    `json:"cpus"`
	CPUModel   string `json:"cpu_model"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	Go         string `json:"go"`
}

// ThisMachine describes the computer the process runs on.
func ThisMachine() Machine {
	return Machine{CPUs: runtime.NumCPU(), CPUModel: cpuModel(),
		GOMAXPROCS: runtime.GOMAXPROCS(0), OS: runtime.GOOS, Arch: runtime.GOARCH,
		Go: runtime.Version()}
}

// String describes the machine on one line.
func (m Machine) String() string {
	return fmt.Sprintf("%d CPUs (%s), GOMAXPROCS %d, %s/%s, %s", m.CPUs, m.CPUModel,
		m.GOMAXPROCS, m.OS, m.Arch, m.Go)
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// source is a result as a threshold source. A failure kind or an outcome
// of the bench's vocabulary that the run never saw counts zero, rather
// than not being reported: the bench would have counted it. A ratio
// divides by [threshold.TokensVended], which is the bench's issued count
// (messages_sent for the broker bench).
type source struct{ *load.Result }

// Count implements threshold.Source.
func (s source) Count(name string) (int64, bool) {
	if n, ok := s.Result.Count(name); ok {
		return n, true
	}
	switch {
	case name == threshold.TokensVended:
		return s.Issued, true
	case slices.Contains(failKinds, name), slices.Contains(s.Names.Outcomes, name):
		return 0, true
	}
	return 0, false
}

// failKinds are the failure kinds a bench reports besides http_NNN.
var failKinds = []string{FailInFlightLimit, FailTimeout, FailCanceled, FailNetwork, FailDecode,
	FailOther}

// ThresholdNames returns the names thresholds may use for a bench with
// vocabulary n, and no other: requests, the issued count, the states'
// counts, the failure kinds, n's outcomes and n's latencies.
func ThresholdNames(n load.Names) threshold.Names {
	counts := []string{"requests", n.Issued}
	counts = append(counts, n.States[:]...)
	counts = append(counts, failKinds...)
	counts = append(counts, n.Outcomes...)
	return threshold.Names{Counts: counts, Latencies: slices.Clone(n.Latencies)}
}

// ParseThreshold parses a threshold for a bench with vocabulary n. A name
// the bench does not report, such as a vend latency for the broker bench,
// is refused here, before a run that could only end with no data for it.
func ParseThreshold(n load.Names, expr string) (threshold.Threshold, error) {
	own := ThresholdNames(n)
	th, err := own.Parse(expr)
	if err == nil {
		return th, nil
	}
	// A name some other part of the product reports gets the bench's own
	// names in its error.
	other := threshold.DefaultNames()
	other.Counts = append(other.Counts, own.Counts...)
	other.Latencies = append(other.Latencies, n.Latencies...)
	elsewhere, oerr := other.Parse(expr)
	if oerr != nil {
		return th, err
	}
	if elsewhere.Func.IsLatency() {
		return th, fmt.Errorf("threshold %q: bench %s does not measure %s: want %s", expr,
			n.Kind, elsewhere.Name, strings.Join(n.Latencies, ", "))
	}
	counts := append([]string{"requests", n.Issued}, n.States[:]...)
	more := "a failure kind such as " + FailTimeout
	if len(n.Outcomes) > 0 {
		more += " or an outcome such as " + n.Outcomes[len(n.Outcomes)/2]
	}
	return th, fmt.Errorf("threshold %q: bench %s does not count %s: want %s, or %s", expr,
		n.Kind, elsewhere.Name, strings.Join(counts, ", "), more)
}
