package bench

import (
	"context"
	"sync"
	"time"

	"github.com/stsfleet/stsfleet/bench/load"
)

// tracker matches answers to the requests waiting for them and settles
// each request exactly once: accepted or rejected when the answer comes in
// time, timed out when it comes late, lost when it never comes. Safe for
// concurrent use.
type tracker struct {
	rec     *load.Recorder
	timeout time.Duration
	now     func() time.Time
	// primary and second are the latencies an answer records: from the
	// intended time, and from the issue time when second is not empty.
	primary, second string

	mu      sync.Mutex
	pending map[string]*waiting
	// early holds answers that arrived before their request was
	// registered (the result overtook the HTTP response).
	early map[string]answer
	// issued holds issue times the system reported itself, before the
	// request registered; they replace the time the answer reached us.
	issued map[string]time.Time
	// issueLatency, when set, is recorded from the intended time to the
	// issue time at registration.
	issueLatency string
}

type waiting struct {
	intended, issued time.Time
	overdue          bool
}

type answer struct {
	at      time.Time
	outcome string
	ok      bool
}

func newTracker(rec *load.Recorder, timeout time.Duration, primary, second string) *tracker {
	return &tracker{rec: rec, timeout: timeout, now: time.Now, primary: primary, second: second,
		pending: map[string]*waiting{}, early: map[string]answer{},
		issued: map[string]time.Time{}}
}

// noteIssued records when the system itself issued the request of key,
// such as the vendor's ledger commit, which precedes its answer.
func (t *tracker) noteIssued(key string, at time.Time) {
	t.mu.Lock()
	t.issued[key] = at
	t.mu.Unlock()
}

// expect registers a request issued at issued that was intended at
// intended, and settles it at once if its answer is already in.
func (t *tracker) expect(key string, intended, issued time.Time) {
	t.mu.Lock()
	if at, ok := t.issued[key]; ok {
		delete(t.issued, key)
		issued = at
	}
	a, ok := t.early[key]
	if ok {
		delete(t.early, key)
	} else {
		t.pending[key] = &waiting{intended: intended, issued: issued}
	}
	t.mu.Unlock()
	if t.issueLatency != "" {
		t.rec.Observe(t.issueLatency, issued.Sub(intended))
	}
	if ok {
		t.settle(&waiting{intended: intended, issued: issued}, a)
	}
}

// answer settles the request of key; ok says whether it succeeded, outcome
// names the failure. An answer for an unknown key is kept for a while in
// case its request registers later; a second answer is ignored.
func (t *tracker) answer(key string, at time.Time, ok bool, outcome string) {
	t.mu.Lock()
	w, found := t.pending[key]
	if found {
		delete(t.pending, key)
	} else {
		t.early[key] = answer{at: at, outcome: outcome, ok: ok}
	}
	t.mu.Unlock()
	if found {
		t.settle(w, answer{at: at, outcome: outcome, ok: ok})
	}
}

func (t *tracker) settle(w *waiting, a answer) {
	d := a.at.Sub(w.intended)
	t.rec.Observe(t.primary, d)
	if t.second != "" {
		t.rec.Observe(t.second, a.at.Sub(w.issued))
	}
	switch {
	case w.overdue || d > t.timeout:
		t.rec.Settle(load.TimedOut, "")
	case a.ok:
		t.rec.Settle(load.Accepted, "")
	default:
		t.rec.Settle(load.Rejected, a.outcome)
	}
}

// sweep marks the requests past their timeout and forgets early answers
// nobody claimed within the timeout.
func (t *tracker) sweep(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, w := range t.pending {
		if !w.overdue && now.Sub(w.intended) > t.timeout {
			w.overdue = true
		}
	}
	for k, a := range t.early {
		if now.Sub(a.at) > t.timeout {
			delete(t.early, k)
		}
	}
	for k, at := range t.issued {
		if now.Sub(at) > t.timeout {
			delete(t.issued, k)
		}
	}
}

// run sweeps until ctx ends.
func (t *tracker) run(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			t.sweep(t.now())
		}
	}
}

// withdraw forgets a request that failed before it was issued, and
// reports whether it was still waiting (no answer settled it meanwhile).
func (t *tracker) withdraw(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.pending[key]
	delete(t.pending, key)
	return ok
}

// drain waits until every request has its answer, or until ctx ends, and
// settles the rest as lost.
func (t *tracker) drain(ctx context.Context, inFlight func() int64) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for inFlight() > 0 {
		select {
		case <-ctx.Done():
			t.loseAll()
			return
		case <-tick.C:
		}
	}
}

// lose settles the request of key as lost: the system gave up on it.
func (t *tracker) lose(key string) {
	if t.withdraw(key) {
		t.rec.Settle(load.Lost, "")
	}
}

func (t *tracker) loseAll() {
	t.mu.Lock()
	n := len(t.pending)
	clear(t.pending)
	t.mu.Unlock()
	for range n {
		t.rec.Settle(load.Lost, "")
	}
}

// drive fires the profile's arrivals, each through send in a goroutine of
// its own, settling as failed those that find c.MaxInFlight requests
// already out. Once the schedule ends it waits up to c.Drain for the last
// answers, cancels the run's context with cancel, waits for every send
// and counts what never answered as lost.
func (t *tracker) drive(ctx context.Context, cancel context.CancelFunc, c Common,
	send func(context.Context, load.Arrival)) {
	rec := t.rec
	var inflight sync.WaitGroup
	sched := load.Scheduler{Profile: rec.Profile()}
	sched.Run(ctx, rec.Start(), func(a load.Arrival) {
		rec.Fired(a)
		if rec.InFlight() > int64(c.MaxInFlight) {
			rec.Settle(load.Failed, FailInFlightLimit)
			return
		}
		inflight.Go(func() { send(ctx, a) })
	})
	drainCtx, stop := context.WithTimeout(ctx, c.Drain)
	t.drain(drainCtx, rec.InFlight)
	stop()
	cancel()
	inflight.Wait()
	t.loseAll()
}
