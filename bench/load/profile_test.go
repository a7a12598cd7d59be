package load

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseStages(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		start float64
		want  Profile
		total int64
	}{
		{
			name: "ramp up hold down", in: "30s:500,60s:5000,30s:0",
			want: Profile{Stages: []Stage{{30 * time.Second, 500}, {60 * time.Second, 5000},
				{30 * time.Second, 0}}},
			// 0→500 over 30 s, 500→5000 over 60 s, 5000→0 over 30 s.
			total: 7500 + 165000 + 75000,
		},
		{
			name: "start rate and spaces", in: " 10s:100 , 1m:100/s", start: 100,
			want:  Profile{Start: 100, Stages: []Stage{{10 * time.Second, 100}, {time.Minute, 100}}},
			total: 7000,
		},
		{
			name: "fractional rate", in: "4s:0.5", start: 0.5,
			want:  Profile{Start: 0.5, Stages: []Stage{{4 * time.Second, 0.5}}},
			total: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseStages(tc.in, tc.start)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseStages (-want +got):\n%s", diff)
			}
			if n := got.Total(); n != tc.total {
				t.Errorf("Total = %d, want %d", n, tc.total)
			}
		})
	}
}

func TestParseStagesErrors(t *testing.T) {
	for name, in := range map[string]string{
		"empty":             "",
		"no colon":          "30s",
		"bad duration":      "30x:5",
		"zero duration":     "0s:5",
		"negative duration": "-1s:5",
		"bad rate":          "30s:fast",
		"negative rate":     "30s:-1",
		"absurd rate":       "30s:1e12",
		"empty stage":       "30s:5,,10s:1",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseStages(in, 0); !errors.Is(err, ErrProfile) {
				t.Errorf("ParseStages(%q) error = %v, want ErrProfile", in, err)
			}
		})
	}
}

func TestProfileRateAt(t *testing.T) {
	p := Profile{Start: 100, Stages: []Stage{{10 * time.Second, 300}, {10 * time.Second, 300}}}
	for _, tc := range []struct {
		at   time.Duration
		want float64
	}{
		{-time.Second, 0}, {0, 100}, {5 * time.Second, 200}, {15 * time.Second, 300},
		{20 * time.Second, 0},
	} {
		if got := p.RateAt(tc.at); got != tc.want {
			t.Errorf("RateAt(%s) = %g, want %g", tc.at, got, tc.want)
		}
	}
	if got := p.Peak(); got != 300 {
		t.Errorf("Peak = %g, want 300", got)
	}
	if got := p.Duration(); got != 20*time.Second {
		t.Errorf("Duration = %s, want 20s", got)
	}
}

func TestArrivalsMatchExpected(t *testing.T) {
	// Counting the arrivals up to each offset agrees with the integral,
	// for ramps up and down and a hold.
	p, err := ParseStages("3s:700,2s:700,3s:40,1s:0", 13)
	if err != nil {
		t.Fatal(err)
	}
	arr := newArrivals(p)
	var offs []time.Duration
	for k := int64(0); ; k++ {
		off, ok := arr.offset(k)
		if !ok {
			break
		}
		offs = append(offs, off)
	}
	if int64(len(offs)) != p.Total() {
		t.Fatalf("%d arrivals, Total = %d", len(offs), p.Total())
	}
	for _, at := range []time.Duration{time.Second, 2500 * time.Millisecond, 4 * time.Second,
		6 * time.Second, 8*time.Second + 999*time.Millisecond} {
		var n int64
		for _, o := range offs {
			if o < at {
				n++
			}
		}
		if want := p.Expected(at); n < want-1 || n > want {
			t.Errorf("arrivals before %s = %d, want %d", at, n, want)
		}
	}
}

func FuzzParseStages(f *testing.F) {
	for _, s := range []string{"30s:500,60s:5000,30s:0", "1m:100/s", "0s:1", "1s:-1", ":", "1h:1e7",
		"10ms:3,10ms:0.5"} {
		f.Add(s, 0.0)
	}
	f.Fuzz(func(t *testing.T, s string, start float64) {
		p, err := ParseStages(s, start)
		if err != nil {
			return
		}
		// A profile that parses is runnable: its arrivals are in order and
		// as many as Total says, for short profiles.
		if p.Duration() > time.Minute || p.Peak() > 10000 {
			return
		}
		arr := newArrivals(p)
		var n int64
		last := time.Duration(-1)
		for ; ; n++ {
			off, ok := arr.offset(n)
			if !ok {
				break
			}
			if off < last || off > p.Duration() {
				t.Fatalf("%q: arrival %d at %s after %s, profile of %s", s, n, off, last,
					p.Duration())
			}
			last = off
		}
		if n != p.Total() {
			t.Fatalf("%q: %d arrivals, Total %d", s, n, p.Total())
		}
	})
}
