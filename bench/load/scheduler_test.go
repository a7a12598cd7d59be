package load

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fired is what a test's fire function saw of one arrival.
type fired struct {
	arrival Arrival
	at      time.Time
}

// runSchedule runs p inside the caller's bubble with a system that takes
// respond to answer each request, and returns every arrival with the time
// it was fired, and the most requests in flight at once.
func runSchedule(t *testing.T, p Profile, respond time.Duration,
	stall func(Arrival) time.Duration) ([]fired, int) {
	t.Helper()
	var (
		mu          sync.Mutex
		inFlight    int
		maxInFlight int
		got         []fired
		wg          sync.WaitGroup
	)
	s := Scheduler{Profile: p}
	start := time.Now()
	n := s.Run(context.Background(), start, func(a Arrival) {
		got = append(got, fired{a, time.Now()})
		mu.Lock()
		inFlight++
		maxInFlight = max(maxInFlight, inFlight)
		mu.Unlock()
		wg.Go(func() {
			time.Sleep(respond)
			mu.Lock()
			inFlight--
			mu.Unlock()
		})
		if stall != nil {
			time.Sleep(stall(a))
		}
	})
	wg.Wait()
	if n != int64(len(got)) {
		t.Errorf("Run returned %d, fired %d", n, len(got))
	}
	return got, maxInFlight
}

// perSecond counts the arrivals intended in each second after start.
func perSecond(got []fired, start time.Time) []int64 {
	var out []int64
	for _, f := range got {
		i := int(f.arrival.Intended.Sub(start) / time.Second)
		for len(out) <= i {
			out = append(out, 0)
		}
		out[i]++
	}
	return out
}

func TestSchedulerKeepsRateWhenResponsesSlow(t *testing.T) {
	const rate, seconds = 50, 4
	p := Constant(rate, seconds*time.Second)
	for _, tc := range []struct {
		name    string
		respond time.Duration
		// wantInFlight is the most requests in flight when the rate
		// holds: rate times the response time, capped by the total.
		wantInFlight int
	}{
		{"fast", time.Millisecond, 1},
		{"slower than the interval", 90 * time.Millisecond, 5},
		{"slower than the run", time.Minute, rate * seconds},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				got, inFlight := runSchedule(t, p, tc.respond, nil)

				want := make([]int64, seconds)
				for i := range want {
					want[i] = rate
				}
				if diff := cmp.Diff(want, perSecond(got, start)); diff != "" {
					t.Errorf("arrivals per second (-want +got):\n%s", diff)
				}
				for i, f := range got {
					wantAt := start.Add(time.Duration(i)*time.Second/rate + time.Second/rate/2)
					if !f.at.Equal(f.arrival.Intended) || !f.arrival.Intended.Equal(wantAt) {
						t.Fatalf("arrival %d intended %s, fired %s, want both at %s", i,
							f.arrival.Intended.Sub(start), f.at.Sub(start), wantAt.Sub(start))
					}
				}
				if inFlight != tc.wantInFlight {
					t.Errorf("most in flight = %d, want %d", inFlight, tc.wantInFlight)
				}
			})
		})
	}
}

func TestSchedulerFiresLateArrivalsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate = 100
		p := Constant(rate, time.Second)
		start := time.Now()
		// The generator stalls for 300 ms on arrival 10 (at 105 ms): the 29
		// arrivals due before it ends (115 ms to 395 ms) leave at once when
		// it does, stamped with their own times; arrival 40 is due just then.
		got, _ := runSchedule(t, p, time.Millisecond, func(a Arrival) time.Duration {
			if a.Seq == 10 {
				return 300 * time.Millisecond
			}
			return 0
		})
		if len(got) != rate {
			t.Fatalf("fired %d arrivals, want %d", len(got), rate)
		}
		stallEnd := got[10].at.Add(300 * time.Millisecond)
		var late int
		for i, f := range got {
			wantAt := start.Add(time.Duration(i)*time.Second/rate + time.Second/rate/2)
			if !f.arrival.Intended.Equal(wantAt) {
				t.Fatalf("arrival %d intended at %s, want %s", i, f.arrival.Intended.Sub(start),
					wantAt.Sub(start))
			}
			if f.at.After(f.arrival.Intended) {
				late++
				if !f.at.Equal(stallEnd) {
					t.Errorf("late arrival %d fired at %s, want at the stall's end %s", i,
						f.at.Sub(start), stallEnd.Sub(start))
				}
			}
		}
		if late != 29 {
			t.Errorf("%d arrivals fired late, want 29", late)
		}
	})
}

func TestSchedulerRamp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, err := ParseStages("2s:100,2s:100,2s:0", 0)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		got, _ := runSchedule(t, p, time.Millisecond, nil)
		// The rate integrates to 25 and 75 over the ramp's two seconds,
		// 100 a second while it holds, then 75 and 25 down.
		want := []int64{25, 75, 100, 100, 75, 25}
		if diff := cmp.Diff(want, perSecond(got, start)); diff != "" {
			t.Errorf("arrivals per second (-want +got):\n%s", diff)
		}
		if n := int64(len(got)); n != p.Total() || n != 400 {
			t.Errorf("fired %d, Total = %d, want 400", n, p.Total())
		}
		for i := 1; i < len(got); i++ {
			if got[i].arrival.Intended.Before(got[i-1].arrival.Intended) {
				t.Fatalf("arrival %d intended before arrival %d", i, i-1)
			}
		}
	})
}

func TestSchedulerStopsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		s := Scheduler{Profile: Constant(10, time.Hour)}
		var n int64
		got := s.Run(ctx, time.Now(), func(Arrival) { n++ })
		if got != n || got != 15 {
			t.Errorf("Run fired %d (returned %d) before the context ended, want 15", n, got)
		}
	})
}
