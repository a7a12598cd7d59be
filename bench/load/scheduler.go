package load

import (
	"context"
	"time"
)

// Arrival is one request the schedule asks for.
type Arrival struct {
	// Seq numbers the arrivals of a schedule from 0.
	Seq int64
	// Intended is when the request should be sent; latency is measured
	// from it, however late the request actually leaves.
	Intended time.Time
	// Rate is the target rate at Intended, arrivals per second.
	Rate float64
}

// Scheduler fires the arrivals of a profile at their intended times. The
// zero value of each field but Profile has a working meaning.
type Scheduler struct {
	// Profile is the rate over time.
	Profile Profile
	// Now returns the wall time; nil means time.Now.
	Now func() time.Time
	// Sleep waits for d or until ctx ends; nil uses a timer. Tests
	// inside testing/synctest need neither.
	Sleep func(ctx context.Context, d time.Duration)
}

// Run fires every arrival of the profile, starting at start, and returns
// how many it fired: all of them, unless ctx ended first. fire runs on
// Run's goroutine and must not block, because the next arrival waits for
// it: hand the request to another goroutine. An arrival whose time has
// passed (the previous fire took too long, or the process was descheduled)
// is fired at once, with its intended time unchanged.
func (s *Scheduler) Run(ctx context.Context, start time.Time, fire func(Arrival)) int64 {
	now, sleep := s.Now, s.Sleep
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = timerSleep()
	}
	arr := newArrivals(s.Profile)
	var k int64
	for ; ; k++ {
		off, ok := arr.offset(k)
		if !ok || ctx.Err() != nil {
			return k
		}
		at := start.Add(off)
		if wait := at.Sub(now()); wait > 0 {
			sleep(ctx, wait)
			if ctx.Err() != nil {
				return k
			}
		}
		fire(Arrival{Seq: k, Intended: at, Rate: s.Profile.RateAt(off)})
	}
}

// timerSleep returns a sleep that reuses one timer.
func timerSleep() func(ctx context.Context, d time.Duration) {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return func(ctx context.Context, d time.Duration) {
		t.Reset(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}
