package load

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// latencies draws n reproducible latencies, log-normal around median.
func latencies(seed uint64, n int, median time.Duration) []time.Duration {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(float64(median) * (0.2 + r.ExpFloat64()))
	}
	return out
}

func TestHistogramMerge(t *testing.T) {
	a := latencies(1, 5000, 3*time.Millisecond)
	b := latencies(2, 2000, 40*time.Millisecond)
	c := latencies(3, 10, 2*time.Second)
	for _, tc := range []struct {
		name  string
		parts [][]time.Duration
	}{
		{"two shards", [][]time.Duration{a, b}},
		{"three shards with a tail", [][]time.Duration{a, b, c}},
		{"one empty shard", [][]time.Duration{a, nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			all := NewHistogram()
			merged := NewHistogram()
			for _, part := range tc.parts {
				shard := NewHistogram()
				for _, d := range part {
					shard.Record(d)
					all.Record(d)
				}
				merged.Merge(shard)
			}
			if diff := cmp.Diff(all.Summary(), merged.Summary()); diff != "" {
				t.Errorf("merged summary differs from one histogram (-all +merged):\n%s", diff)
			}
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
				w, _ := all.Quantile(q)
				g, _ := merged.Quantile(q)
				if w != g {
					t.Errorf("quantile %g: merged %s, one histogram %s", q, g, w)
				}
			}
		})
	}
}

func TestHistogramMergeKeepsCoarserPrecision(t *testing.T) {
	fine, coarse := NewHistogram(), newHistogram(tickFigures)
	for _, d := range latencies(4, 3000, 10*time.Millisecond) {
		coarse.Record(d)
	}
	fine.Merge(coarse)
	if got, want := fine.Count(), coarse.Count(); got != want {
		t.Fatalf("merged %d values, want %d", got, want)
	}
	for _, q := range []float64{0.5, 0.99, 1} {
		w, _ := coarse.Quantile(q)
		g, _ := fine.Quantile(q)
		// Two significant figures: within 1% of the coarse value.
		if diff := float64(g-w) / float64(w); diff < -0.01 || diff > 0.01 {
			t.Errorf("quantile %g: %s after merging, %s before", q, g, w)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	h := NewHistogram()
	if _, ok := h.Quantile(0.5); ok {
		t.Error("empty histogram has a median")
	}
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	// Out-of-range values are clamped, not dropped.
	h.Record(0)
	h.Record(3 * time.Hour)
	s := h.Summary()
	if s.Count != 1002 {
		t.Errorf("count = %d, want 1002", s.Count)
	}
	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{"p50", s.P50, 500}, {"p90", s.P90, 900}, {"p99", s.P99, 990}, {"max", s.Max, 3.6e6},
	} {
		// Three significant figures.
		if d := (tc.got - tc.want) / tc.want; d < -0.002 || d > 0.002 {
			t.Errorf("%s = %gms, want %gms", tc.name, tc.got, tc.want)
		}
	}
	bars := h.Buckets(10)
	var n int64
	for i, b := range bars {
		n += b.Count
		if i > 0 && b.FromMS < bars[i-1].FromMS {
			t.Errorf("bucket %d starts before bucket %d", i, i-1)
		}
	}
	if n != s.Count {
		t.Errorf("buckets hold %d values, want %d", n, s.Count)
	}
}
