package load

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// State is the end of one request. Every arrival settles in exactly one.
type State uint8

// The states, in the order reports list them.
const (
	// Accepted: the request did what it asked within the timeout (a
	// token credited, a message received back).
	Accepted State = iota
	// Rejected: the system answered within the timeout, with an outcome
	// other than success, such as a meter's crc_error.
	Rejected
	// Failed: the request never got going: refused, a transport error,
	// or the generator's in-flight limit. The detail is the error kind.
	Failed
	// TimedOut: the answer came, but later than the timeout.
	TimedOut
	// Lost: no answer at all by the end of the run's drain.
	Lost
	numStates
)

var stateNames = [numStates]string{"accepted", "rejected", "failed", "timed_out", "lost"}

// String returns the state's name, such as "timed_out".
func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Names is the vocabulary of one kind of bench: what its requests are
// called in counts and which latencies it measures.
type Names struct {
	// Kind names the bench, such as "vend" or "broker".
	Kind string
	// Unit is what is counted, such as "tokens" or "messages".
	Unit string
	// Issued names the count of requests the system took on (a token
	// vended, a message published), such as "tokens_vended".
	Issued string
	// States name the count of each State, such as "tokens_accepted".
	States [numStates]string
	// Latencies are the latency names; the first is the primary one the
	// progress line, the per-second series and the charts show.
	Latencies []string
	// Outcomes are the details a rejection may carry, such as the meter
	// outcomes of the vend bench; each is a count of its own. Empty when
	// the bench rejects nothing.
	Outcomes []string
}

// Validate reports a vocabulary a Recorder cannot use.
func (n Names) Validate() error {
	if n.Kind == "" || n.Unit == "" || n.Issued == "" || len(n.Latencies) == 0 {
		return errors.New("names: want a kind, a unit, an issued count and a latency")
	}
	for s, name := range n.States {
		if name == "" {
			return fmt.Errorf("names: no count name for state %s", State(s))
		}
	}
	return nil
}

// RecorderConfig configures a Recorder.
type RecorderConfig struct {
	// Names is the bench's vocabulary. Required.
	Names Names
	// Profile is the schedule being run, for the per-second target.
	Profile Profile
	// Start is time zero of the run: the scheduler's start.
	Start time.Time
	// Now returns the wall time; nil means time.Now.
	Now func() time.Time
	// Metrics, when set, receives the run's events as they happen.
	Metrics *Metrics
}

// Recorder accounts for one run. Safe for concurrent use.
type Recorder struct {
	names   Names
	profile Profile
	start   time.Time
	now     func() time.Time
	met     *Metrics

	mu       sync.Mutex
	requests int64
	issued   int64
	inFlight int64
	settled  [numStates]int64
	details  [numStates]map[string]int64
	hist     []*Histogram
	lag      *Histogram
	// lastAccepted is the wall time of the latest Accepted settlement.
	lastAccepted time.Time
	ticks        []tick
	// closed is the number of leading ticks whose percentiles are final.
	closed int
}

// tick is one second of the run's series.
type tick struct {
	sent, issued int64
	settled      [numStates]int64
	inFlight     int64
	touched      bool
	// hist are per latency until the tick closes; lat afterwards.
	hist []*Histogram
	lat  []Percentiles
}

// NewRecorder returns a recorder for a run starting at cfg.Start.
func NewRecorder(cfg RecorderConfig) (*Recorder, error) {
	if err := cfg.Names.Validate(); err != nil {
		return nil, fmt.Errorf("new recorder: %w", err)
	}
	r := &Recorder{names: cfg.Names, profile: cfg.Profile, start: cfg.Start, now: cfg.Now,
		lag: NewHistogram()}
	if r.now == nil {
		r.now = time.Now
	}
	for s := range r.details {
		r.details[s] = map[string]int64{}
	}
	for range cfg.Names.Latencies {
		r.hist = append(r.hist, NewHistogram())
	}
	r.met = cfg.Metrics
	return r, nil
}

// Start returns time zero of the run.
func (r *Recorder) Start() time.Time { return r.start }

// Profile returns the schedule the recorder was made for.
func (r *Recorder) Profile() Profile { return r.profile }

// Names returns the recorder's vocabulary.
func (r *Recorder) Names() Names { return r.names }

// Fired counts an arrival the scheduler fired now; it is in flight until
// settled. The scheduler's lateness is kept as the generator's lag.
func (r *Recorder) Fired(a Arrival) {
	now := r.now()
	r.lag.Record(now.Sub(a.Intended))
	r.mu.Lock()
	r.requests++
	r.inFlight++
	r.tickLocked(a.Intended).sent++
	r.touchLocked(now)
	r.mu.Unlock()
	r.met.fired(a.Rate)
}

// Issued counts a request the system took on, such as a token vended.
func (r *Recorder) Issued() {
	r.mu.Lock()
	r.issued++
	r.touchLocked(r.now()).issued++
	r.mu.Unlock()
	r.met.issue()
}

// Observe records one latency of the named kind, at the current second.
// Names the recorder does not know are ignored.
func (r *Recorder) Observe(name string, d time.Duration) {
	i := r.latencyIndex(name)
	if i < 0 {
		return
	}
	r.hist[i].Record(d)
	r.mu.Lock()
	t := r.touchLocked(r.now())
	if t.hist == nil {
		t.hist = make([]*Histogram, len(r.hist))
	}
	if t.hist[i] == nil {
		t.hist[i] = newHistogram(tickFigures)
	}
	h := t.hist[i]
	r.mu.Unlock()
	h.Record(d)
	r.met.observe(name, d)
}

func (r *Recorder) latencyIndex(name string) int {
	for i, n := range r.names.Latencies {
		if n == name {
			return i
		}
	}
	return -1
}

// Settle ends one request in state s; detail is the outcome of a
// rejection or the kind of a failure, and is ignored for other states.
func (r *Recorder) Settle(s State, detail string) {
	if s >= numStates {
		return
	}
	now := r.now()
	r.mu.Lock()
	r.settled[s]++
	r.inFlight--
	if s == Rejected || s == Failed {
		r.details[s][detail]++
	} else {
		detail = ""
	}
	if s == Accepted && now.After(r.lastAccepted) {
		r.lastAccepted = now
	}
	r.touchLocked(now).settled[s]++
	r.mu.Unlock()
	r.met.settle(s, detail)
}

// InFlight returns the number of requests fired and not yet settled.
func (r *Recorder) InFlight() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inFlight
}

// tickLocked returns the tick of wall time t, growing the series.
func (r *Recorder) tickLocked(t time.Time) *tick {
	i := max(int(t.Sub(r.start)/time.Second), 0)
	for len(r.ticks) <= i {
		r.ticks = append(r.ticks, tick{})
	}
	return &r.ticks[i]
}

// touchLocked returns the tick of now, after recording the in-flight count
// in it and closing the ticks that no event can reach any more.
func (r *Recorder) touchLocked(now time.Time) *tick {
	t := r.tickLocked(now)
	t.inFlight, t.touched = r.inFlight, true
	// Events are stamped by many goroutines, so a second stays open for
	// one more before its percentiles are final.
	for r.closed < len(r.ticks)-2 {
		r.closeLocked(r.closed)
		r.closed++
	}
	return t
}

func (r *Recorder) closeLocked(i int) {
	t := &r.ticks[i]
	if !t.touched && i > 0 {
		t.inFlight = r.ticks[i-1].inFlight
	}
	t.lat = make([]Percentiles, len(r.hist))
	for j, h := range t.hist {
		if h != nil {
			t.lat[j] = h.Summary()
		}
	}
	t.hist = nil
}

// Progress is a live view of a run, for a progress line.
type Progress struct {
	// Elapsed is the time since the start.
	Elapsed time.Duration
	// Target is the target rate of the last complete second, the one Sent
	// and Done count (before the first, the target rate now).
	Target float64
	// Draining is true once the last complete second is past the
	// schedule: the run only waits for the last answers.
	Draining bool
	// Sent and Done are the arrivals and Accepted settlements of the
	// last complete second.
	Sent, Done int64
	// InFlight is the number of requests not yet settled.
	InFlight int64
	// Requests counts the arrivals so far; Accepted and Errors the
	// requests settled accepted and otherwise.
	Requests, Accepted, Errors int64
	// P99 is the primary latency's 99th percentile in the last complete
	// second; zero without samples.
	P99 time.Duration
}

// Progress returns the live view.
func (r *Recorder) Progress() Progress {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	p := Progress{Elapsed: now.Sub(r.start), Target: r.profile.RateAt(now.Sub(r.start)),
		InFlight: r.inFlight, Requests: r.requests, Accepted: r.settled[Accepted]}
	for s := Rejected; s < numStates; s++ {
		p.Errors += r.settled[s]
	}
	last := int(p.Elapsed/time.Second) - 1
	if last >= 0 {
		var scheduled bool
		p.Target, scheduled = r.profile.secondTarget(last)
		p.Draining = !scheduled
	}
	if last < 0 || last >= len(r.ticks) {
		return p
	}
	t := &r.ticks[last]
	p.Sent, p.Done = t.sent, t.settled[Accepted]
	switch {
	case t.lat != nil:
		p.P99 = time.Duration(t.lat[0].P99 * float64(time.Millisecond))
	case t.hist != nil && t.hist[0] != nil:
		p.P99, _ = t.hist[0].Quantile(0.99)
	}
	return p
}
