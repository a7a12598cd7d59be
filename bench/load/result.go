package load

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
)

// histogramBars is the number of bars of each distribution in a Result.
const histogramBars = 40

// Result is the account of one run. Its JSON form names the counts with
// the run's vocabulary, such as "tokens_accepted", at the top level.
type Result struct {
	// Names is the run's vocabulary.
	Names Names `json:"-"`
	// Kind is the bench, such as "vend".
	Kind string `json:"kind"`
	// StartedAt is the wall time of time zero.
	StartedAt time.Time `json:"started_at"`
	// Profile is the schedule that was run.
	Profile Profile `json:"profile"`
	// TargetRate is the profile's peak rate, per second.
	TargetRate float64 `json:"target_rate"`
	// LoadSeconds is the length of the schedule, ElapsedSeconds that of
	// the run with its drain.
	LoadSeconds    float64 `json:"load_s"`
	ElapsedSeconds float64 `json:"elapsed_s"`
	// AchievedRate is the accepted requests per second over the schedule,
	// or up to the last acceptance when that came later.
	AchievedRate float64 `json:"achieved_rate"`
	// Requests counts the arrivals fired.
	Requests int64 `json:"requests"`
	// Issued and States are the counts, written under Names.
	Issued   int64            `json:"-"`
	States   [numStates]int64 `json:"-"`
	InFlight int64            `json:"in_flight"`
	// RejectedBy counts rejections by outcome, FailedBy failures by
	// error kind.
	RejectedBy map[string]int64 `json:"rejected_by_outcome"`
	FailedBy   map[string]int64 `json:"failed_by_error"`
	// Latencies summarise each latency, in milliseconds.
	Latencies map[string]Percentiles `json:"latency_ms"`
	// Histograms are the latency distributions.
	Histograms map[string][]Bucket `json:"histograms"`
	// SchedulerLag is how late the generator fired arrivals: a large
	// value means the generator, not the system, was saturated.
	SchedulerLag Percentiles `json:"scheduler_lag_ms"`
	// Series is the run second by second.
	Series []Point `json:"series"`
}

// Point is one second of a run.
type Point struct {
	// Second is the offset from time zero, in whole seconds.
	Second int `json:"t"`
	// Target is the target rate at the middle of the part of the second
	// the schedule covers; zero in a drain second.
	Target float64 `json:"target_rate"`
	// Drain marks a second after the schedule, when the run only waited
	// for the last answers: it has no target.
	Drain bool `json:"drain,omitempty"`
	// Sent counts the arrivals intended in this second; Issued and the
	// states count what happened in it.
	Sent     int64 `json:"sent"`
	Issued   int64 `json:"issued"`
	Accepted int64 `json:"accepted"`
	Rejected int64 `json:"rejected"`
	Failed   int64 `json:"failed"`
	TimedOut int64 `json:"timed_out"`
	Lost     int64 `json:"lost"`
	// InFlight is the number of requests in flight at the second's
	// last event.
	InFlight int64 `json:"in_flight"`
	// Latencies summarise the latencies observed in the second.
	Latencies map[string]Percentiles `json:"latency_ms"`
}

// Result returns the account of the run so far; call it once everything
// has settled.
func (r *Recorder) Result() Result {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for ; r.closed < len(r.ticks); r.closed++ {
		r.closeLocked(r.closed)
	}
	res := Result{
		Names: r.names, Kind: r.names.Kind, StartedAt: r.start, Profile: r.profile,
		TargetRate: r.profile.Peak(), LoadSeconds: r.profile.Duration().Seconds(),
		ElapsedSeconds: now.Sub(r.start).Seconds(), Requests: r.requests, Issued: r.issued,
		States: r.settled, InFlight: r.inFlight,
		RejectedBy: maps.Clone(r.details[Rejected]), FailedBy: maps.Clone(r.details[Failed]),
		Latencies: map[string]Percentiles{}, Histograms: map[string][]Bucket{},
		SchedulerLag: r.lag.Summary(),
	}
	// Over the schedule, or, when it was cut short before its last
	// arrival, over the time it ran.
	sched := r.profile.Duration()
	if r.requests < r.profile.Total() {
		sched = min(sched, now.Sub(r.start))
	}
	span := max(r.lastAccepted.Sub(r.start), sched).Seconds()
	if span > 0 {
		res.AchievedRate = float64(r.settled[Accepted]) / span
	}
	for i, n := range r.names.Latencies {
		res.Latencies[n] = r.hist[i].Summary()
		res.Histograms[n] = r.hist[i].Buckets(histogramBars)
	}
	res.Series = make([]Point, len(r.ticks))
	for i := range r.ticks {
		res.Series[i] = r.point(i)
	}
	return res
}

func (r *Recorder) point(i int) Point {
	t := &r.ticks[i]
	target, scheduled := r.profile.secondTarget(i)
	p := Point{
		Second: i, Target: target, Drain: !scheduled, Sent: t.sent, Issued: t.issued,
		Accepted: t.settled[Accepted], Rejected: t.settled[Rejected], Failed: t.settled[Failed],
		TimedOut: t.settled[TimedOut], Lost: t.settled[Lost], InFlight: t.inFlight,
		Latencies: map[string]Percentiles{},
	}
	for j, n := range r.names.Latencies {
		if t.lat[j].Count > 0 {
			p.Latencies[n] = t.lat[j]
		}
	}
	return p
}

// Count returns a count by its name in the run's vocabulary: requests,
// the issued count, a state's count, or a rejection outcome or failure
// kind. It implements the count half of a threshold source.
func (r *Result) Count(name string) (int64, bool) {
	switch name {
	case "requests":
		return r.Requests, true
	case r.Names.Issued:
		return r.Issued, true
	}
	for s, n := range r.Names.States {
		if n == name {
			return r.States[s], true
		}
	}
	if n, ok := r.RejectedBy[name]; ok {
		return n, true
	}
	if n, ok := r.FailedBy[name]; ok {
		return n, true
	}
	return 0, false
}

// Latency returns quantile q of a latency (0.5, 0.9, 0.99, 0.999 or 1,
// the quantiles of the threshold functions) and false for any other
// quantile or a latency without samples.
func (r *Result) Latency(name string, q float64) (time.Duration, bool) {
	p, ok := r.Latencies[name]
	if !ok || p.Count == 0 {
		return 0, false
	}
	var v float64
	switch q {
	case 0.5:
		v = p.P50
	case 0.9:
		v = p.P90
	case 0.99:
		v = p.P99
	case 0.999:
		v = p.P999
	case 1:
		v = p.Max
	default:
		return 0, false
	}
	return time.Duration(v * float64(time.Millisecond)), true
}

// Conserved reports whether every request is accounted for: each arrival
// settled in exactly one state, and nothing left in flight.
func (r *Result) Conserved() bool {
	var sum int64
	for _, n := range r.States {
		sum += n
	}
	return r.InFlight == 0 && sum == r.Requests
}

// CountNames returns the names Count answers for, in report order.
func (r *Result) CountNames() []string {
	names := []string{"requests", r.Names.Issued}
	names = append(names, r.Names.States[:]...)
	names = append(names, slices.Sorted(maps.Keys(r.RejectedBy))...)
	return append(names, slices.Sorted(maps.Keys(r.FailedBy))...)
}

// Field is one member of a JSON object written in a fixed order.
type Field struct {
	Key   string
	Value any
}

// Fields returns the result's JSON members in order: kind, achieved_rate
// and the counts named in the run's vocabulary first.
func (r *Result) Fields() []Field {
	f := []Field{{"kind", r.Kind}, {"achieved_rate", r.AchievedRate}, {"requests", r.Requests},
		{r.Names.Issued, r.Issued}}
	for s, name := range r.Names.States {
		f = append(f, Field{name, r.States[s]})
	}
	return append(f,
		Field{"in_flight", r.InFlight},
		Field{"rejected_by_outcome", r.RejectedBy},
		Field{"failed_by_error", r.FailedBy},
		Field{"started_at", r.StartedAt},
		Field{"profile", r.Profile},
		Field{"target_rate", r.TargetRate},
		Field{"load_s", r.LoadSeconds},
		Field{"elapsed_s", r.ElapsedSeconds},
		Field{"latency_ms", r.Latencies},
		Field{"scheduler_lag_ms", r.SchedulerLag},
		Field{"histograms", r.Histograms},
		Field{"series", r.Series},
	)
}

// MarshalJSON writes [Result.Fields].
func (r Result) MarshalJSON() ([]byte, error) { return MarshalFields(r.Fields()) }

// MarshalFields writes fields as one JSON object, in their order.
func MarshalFields(fields []Field) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(f.Key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(f.Value)
		if err != nil {
			return nil, fmt.Errorf("marshal %s: %w", f.Key, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
