package scenarios

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/vending"
)

// tokenKey identifies a token at a meter; VendID is empty for a token
// typed at the keypad.
type tokenKey struct{ drn, vendID, token string }

// vended is a token the vendor issued.
type vended struct {
	key     tokenKey
	units   string
	issued  time.Time
	simTime time.Time
}

// meterRun is what a run knows of one meter.
type meterRun struct {
	idx  int
	info MeterInfo
	// key and prevKey are the decoder keys now and before the last key
	// change; base and ken follow key changes too.
	key, prevKey []byte
	base         sts.BaseDate
	ken          uint8
	offline      bool
	vended       []vended
	// accepted are the credit tokens the meter accepted, in order.
	accepted []string
	// queued are tokens vended while the meter was away, not yet
	// answered.
	queued []tokenKey
}

// run is one scenario being carried out.
type run struct {
	sc     *Scenario
	sys    System
	log    *slog.Logger
	meters []*meterRun
	drns   []string
	byDRN  map[string]*meterRun
	down   bool
	// base is the vendor's summary when the run began.
	base *vending.Summary

	// mu guards the fields below, which the result handler writes.
	mu sync.Mutex
	// results are all results in arrival order: received over MQTT with
	// a vend ID, and keypad entries.
	results []Result
	seen    map[tokenKey]int
	// credits counts accepts of credit tokens per token.
	credits  map[tokenKey]int
	outcomes map[string]int64
	refusals map[string]int64
	falseAcc int64
}

// Run carries out sc on sys, step after step, and returns the report.
// Failures of the product are checks in the report, not errors; the
// report's Error is set when a step could not be carried out at all.
func Run(ctx context.Context, sc *Scenario, sys System, log *slog.Logger) *Report {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	began := time.Now()
	r := &run{sc: sc, sys: sys, log: log.With("scenario", sc.Name),
		byDRN: map[string]*meterRun{}, seen: map[tokenKey]int{}, credits: map[tokenKey]int{},
		outcomes: map[string]int64{}, refusals: map[string]int64{}}
	for i, mi := range sys.Meters() {
		m := &meterRun{idx: i, info: mi, key: mi.Key, base: mi.BaseDate, ken: mi.KEN}
		r.meters = append(r.meters, m)
		r.drns = append(r.drns, mi.DRN)
		r.byDRN[mi.DRN] = m
	}
	sys.SetResultHandler(r.observe)
	// A vendor shared with earlier runs has totals of its own: the run's
	// thresholds count from here.
	if base, err := sys.Summary(ctx); err == nil {
		r.base = base
	}
	rep := &Report{Scenario: sc.Name, File: sc.File, Description: sc.Description}
	for i := range sc.Steps {
		if ctx.Err() != nil {
			rep.Error = ctx.Err().Error()
			break
		}
		rep.Steps = append(rep.Steps, r.step(ctx, &sc.Steps[i]))
	}
	r.finish(ctx, rep)
	rep.wall = time.Since(began)
	rep.WallMS = float64(rep.wall.Microseconds()) / 1000
	rep.settle()
	return rep
}

// observe takes a result received over MQTT. Keypad results, which carry
// no vend ID, are taken from Type's answer instead.
func (r *run) observe(res Result) {
	if res.VendID == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recordLocked(res)
}

func (r *run) recordLocked(res Result) {
	r.results = append(r.results, res)
	k := tokenKey{res.DRN, res.VendID, res.Token}
	r.seen[k]++
	r.outcomes[res.Outcome.String()]++
	m := r.byDRN[res.DRN]
	if m == nil {
		return
	}
	if i := slices.Index(m.queued, k); i >= 0 {
		m.queued = slices.Delete(m.queued, i, i+1)
	}
	if res.Outcome == sts.Accept && res.Decoded && res.Class == sts.ClassCredit {
		ck := tokenKey{drn: res.DRN, token: res.Token}
		r.credits[ck]++
		if r.credits[ck] == 1 {
			m.accepted = append(m.accepted, res.Token)
		}
	}
}

// typed records a keypad entry's result.
func (r *run) typed(res Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recordLocked(res)
}

// stepState is what a step collects while it runs.
type stepState struct {
	// awaited maps tokens to the number of results that must have been
	// seen before the step's checks run.
	awaited  map[tokenKey]int
	sold     map[string]uint64
	refusals map[string]int64
	// queuedBefore are the tokens queued for the step's meters when it
	// began, for the delivered check.
	queuedBefore []tokenKey
	// falseAccepts and expectedFalse are a brute force's.
	falseAccepts  int64
	expectedFalse float64
	keyChanges    map[string]vending.KeyChangeResponse
}

// await makes the step wait for n more results for k than have been seen
// so far: call it before the action that causes them.
func (r *run) await(st *stepState, k tokenKey, n int) {
	r.mu.Lock()
	st.awaited[k] = r.seen[k] + n
	r.mu.Unlock()
}

// awaitFirst makes the step wait for the first result of a new token,
// which may have arrived already.
func (r *run) awaitFirst(st *stepState, k tokenKey) {
	st.awaited[k] = max(st.awaited[k], 1)
}

func (r *run) step(ctx context.Context, s *Step) StepReport {
	began := time.Now()
	rep := StepReport{Index: s.Index, Name: s.Name, Kind: s.Kind, Line: s.Line,
		Outcomes: map[string]int64{}}
	targets, err := s.Meters.Resolve(r.drns)
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	rep.Meters = len(targets)
	st := &stepState{awaited: map[tokenKey]int{}, sold: map[string]uint64{},
		refusals: map[string]int64{}, keyChanges: map[string]vending.KeyChangeResponse{}}
	r.mu.Lock()
	start := len(r.results)
	for _, i := range targets {
		st.queuedBefore = append(st.queuedBefore, r.meters[i].queued...)
	}
	r.mu.Unlock()
	aclBefore, aclOK := r.sys.ACLRefusals()

	r.log.Debug("step", "step", s.Index+1, "kind", s.Kind, "meters", len(targets))
	if err := r.do(ctx, s, targets, st); err != nil {
		rep.Error = err.Error()
	}
	r.settle(ctx, st)
	r.afterKeyChanges(ctx, st)

	r.mu.Lock()
	window := slices.Clone(r.results[start:])
	for rule, n := range st.refusals {
		r.refusals[rule] += n
	}
	r.falseAcc += st.falseAccepts
	r.mu.Unlock()
	for _, res := range window {
		rep.Outcomes[res.Outcome.String()]++
	}
	if len(st.refusals) > 0 {
		rep.Refusals = st.refusals
	}
	aclAfter, _ := r.sys.ACLRefusals()
	c := checker{r: r, s: s, st: st, targets: targets, window: window,
		acl: int64(aclAfter - aclBefore), aclOK: aclOK}
	rep.Checks = c.checks()
	rep.wall = time.Since(began)
	rep.WallMS = float64(rep.wall.Microseconds()) / 1000
	return rep
}

// settle waits for the results the step awaits, up to the scenario's
// timeout; missing ones show in the checks.
func (r *run) settle(ctx context.Context, st *stepState) {
	if len(st.awaited) == 0 {
		return
	}
	waitFor(ctx, r.sc.Timeout, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for k, n := range st.awaited {
			if r.seen[k] < n {
				return false
			}
		}
		return true
	})
}

// finish waits for the vendor to settle what can settle, then evaluates
// the thresholds over the run's totals.
func (r *run) finish(ctx context.Context, rep *Report) {
	queued := func() int64 {
		r.mu.Lock()
		defer r.mu.Unlock()
		n := 0
		for _, m := range r.meters {
			n += len(m.queued)
		}
		return int64(n)
	}
	var sum *vending.Summary
	waitFor(ctx, r.sc.Timeout, func() bool {
		s, err := r.sys.Summary(ctx)
		if err != nil {
			return false
		}
		sum = s
		return s.TokensPending <= queued()
	})
	if sum == nil {
		rep.Error = "the vendor's summary could not be read"
		return
	}
	src := r.source(sum)
	rep.Counts = src.counts
	for _, t := range r.sc.Thresholds {
		res := t.Eval(src)
		got := res.Got
		if res.Err != nil {
			got = res.Err.Error()
		}
		rep.Thresholds = append(rep.Thresholds, Check{Name: t.String(), Wanted: t.Wanted(),
			Got: got, Pass: res.Pass})
	}
}

// wallFor is the wall time simulated duration d takes.
func (r *run) wallFor(d time.Duration) time.Duration { return r.sys.Clock().WallDuration(d) }

// sleep waits for d of wall time or the end of ctx.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait: %w", ctx.Err())
	}
}
