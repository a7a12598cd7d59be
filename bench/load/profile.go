package load

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrProfile reports a rate profile that cannot be run: a negative rate, a
// stage without duration, or text that does not parse.
var ErrProfile = errors.New("invalid rate profile")

// maxRate bounds a target, in arrivals per second: far above what one
// machine generates, low enough that arrival counts stay exact in float64.
const maxRate = 10_000_000

// Stage is one part of a [Profile]: over Duration the target rate moves
// linearly from the previous stage's Target (or the profile's Start) to
// this Target.
type Stage struct {
	// Duration is how long the stage lasts; more than zero.
	Duration time.Duration `json:"duration"`
	// Target is the rate at the end of the stage, arrivals per second.
	Target float64 `json:"target"`
}

// Profile is a target arrival rate over time. The zero value has no
// arrivals.
type Profile struct {
	// Start is the rate at time zero, arrivals per second.
	Start float64 `json:"start"`
	// Stages follow one another from time zero.
	Stages []Stage `json:"stages"`
}

// Constant returns a profile of rate arrivals per second for d.
func Constant(rate float64, d time.Duration) Profile {
	return Profile{Start: rate, Stages: []Stage{{Duration: d, Target: rate}}}
}

// ParseStages reads stages written as duration:target pairs separated by
// commas, such as "30s:500,60s:5000,30s:0": ramp from start to 500/s over
// 30 s, then to 5,000/s over 60 s, then down to nothing over 30 s. A stage
// that keeps the previous target holds the rate.
func ParseStages(s string, start float64) (Profile, error) {
	p := Profile{Start: start}
	if strings.TrimSpace(s) == "" {
		return p, fmt.Errorf("parse stages: %w: no stages", ErrProfile)
	}
	for i, part := range strings.Split(s, ",") {
		ds, ts, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return p, fmt.Errorf("parse stages: %w: stage %d %q: want duration:rate, such as "+
				"30s:500", ErrProfile, i+1, part)
		}
		d, err := time.ParseDuration(ds)
		if err != nil {
			return p, fmt.Errorf("parse stages: %w: stage %d duration %q", ErrProfile, i+1, ds)
		}
		t, err := strconv.ParseFloat(strings.TrimSuffix(ts, "/s"), 64)
		if err != nil {
			return p, fmt.Errorf("parse stages: %w: stage %d rate %q", ErrProfile, i+1, ts)
		}
		p.Stages = append(p.Stages, Stage{Duration: d, Target: t})
	}
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("parse stages: %w", err)
	}
	return p, nil
}

// Validate reports a profile that cannot be run.
func (p Profile) Validate() error {
	if !validRate(p.Start) {
		return fmt.Errorf("%w: start rate %g: want 0 to %d per second", ErrProfile, p.Start,
			maxRate)
	}
	for i, st := range p.Stages {
		switch {
		case st.Duration <= 0:
			return fmt.Errorf("%w: stage %d: duration %s, want more than zero", ErrProfile,
				i+1, st.Duration)
		case !validRate(st.Target):
			return fmt.Errorf("%w: stage %d: rate %g, want 0 to %d per second", ErrProfile,
				i+1, st.Target, maxRate)
		}
	}
	return nil
}

func validRate(r float64) bool { return r >= 0 && r <= maxRate && !math.IsNaN(r) }

// String writes the profile as stages, "30s:500,60s:5000", or as a
// constant rate, "2000/s for 1m0s".
func (p Profile) String() string {
	if len(p.Stages) == 1 && p.Stages[0].Target == p.Start {
		return fmt.Sprintf("%g/s for %s", p.Start, p.Stages[0].Duration)
	}
	parts := make([]string, len(p.Stages))
	for i, st := range p.Stages {
		parts[i] = fmt.Sprintf("%s:%g", st.Duration, st.Target)
	}
	return strings.Join(parts, ",")
}

// Duration returns the length of the profile.
func (p Profile) Duration() time.Duration {
	var d time.Duration
	for _, st := range p.Stages {
		d += st.Duration
	}
	return d
}

// Peak returns the highest target rate of the profile.
func (p Profile) Peak() float64 {
	peak := p.Start
	for _, st := range p.Stages {
		peak = max(peak, st.Target)
	}
	return peak
}

// RateAt returns the target rate at offset t from the start; zero outside
// the profile.
func (p Profile) RateAt(t time.Duration) float64 {
	from := p.Start
	for _, st := range p.Stages {
		if t < st.Duration {
			if t < 0 {
				return 0
			}
			return from + (st.Target-from)*float64(t)/float64(st.Duration)
		}
		t -= st.Duration
		from = st.Target
	}
	return 0
}

// secondTarget returns the target rate of whole second i of the run: the
// rate at the middle of the part of the second the profile covers. It
// reports false for a second after the profile, when a run only waits for
// its last answers.
func (p Profile) secondTarget(i int) (float64, bool) {
	from := time.Duration(i) * time.Second
	end := p.Duration()
	if i < 0 || from >= end {
		return 0, false
	}
	to := min(from+time.Second, end)
	return p.RateAt(from + (to-from)/2), true
}

// Expected returns the number of arrivals the profile makes up to offset t:
// the integral of the rate, rounded to the nearest whole arrival.
func (p Profile) Expected(t time.Duration) int64 {
	return int64(math.Floor(p.cumulative(t) + 0.5))
}

// Total returns the number of arrivals the whole profile makes.
func (p Profile) Total() int64 { return p.Expected(p.Duration()) }

// cumulative is the integral of the rate from zero to t, in arrivals.
func (p Profile) cumulative(t time.Duration) float64 {
	from, sum := p.Start, 0.0
	for _, st := range p.Stages {
		span := min(t, st.Duration)
		if span <= 0 {
			break
		}
		sec := span.Seconds()
		slope := (st.Target - from) / st.Duration.Seconds()
		sum += from*sec + slope*sec*sec/2
		t -= st.Duration
		from = st.Target
	}
	return sum
}

// arrivals walks a profile's intended send times in order. Arrival k is at
// the instant the integral of the rate reaches k + 1/2, so a constant rate
// r places its arrivals at the middle of each 1/r interval and every second
// holds r of them.
type arrivals struct {
	p Profile
	// stage is the index of the current stage; base its start offset,
	// from its starting rate and done the integral up to base.
	stage int
	base  time.Duration
	from  float64
	done  float64
}

func newArrivals(p Profile) *arrivals { return &arrivals{p: p, from: p.Start} }

// offset returns the intended offset of arrival k, which must not be
// smaller than that of the previous call, and false past the profile.
func (a *arrivals) offset(k int64) (time.Duration, bool) {
	want := float64(k) + 0.5
	for a.stage < len(a.p.Stages) {
		st := a.p.Stages[a.stage]
		sec := st.Duration.Seconds()
		slope := (st.Target - a.from) / sec
		in := a.from*sec + slope*sec*sec/2
		if need := want - a.done; need <= in {
			tau := solveRamp(a.from, slope, need)
			return a.base + time.Duration(math.Round(tau*float64(time.Second))), true
		}
		a.done += in
		a.base += st.Duration
		a.from = st.Target
		a.stage++
	}
	return 0, false
}

// solveRamp returns the time at which a rate starting at a and rising by b
// per second has made n arrivals: the root of a·t + b·t²/2 = n, written so
// that it stays exact when b is zero or negative.
func solveRamp(a, b, n float64) float64 {
	disc := math.Sqrt(max(a*a+2*b*n, 0))
	if den := a + disc; den > 0 {
		return 2 * n / den
	}
	return 0
}
