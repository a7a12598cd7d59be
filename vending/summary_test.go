package vending

import (
	"math"
	"testing"
	"time"
)

// TestLatencyPercentiles records 1..2000 ms and checks every figure of the
// summary against the nearest-rank percentile of the same samples, within
// the histogram's three significant figures.
func TestLatencyPercentiles(t *testing.T) {
	const n = 2000
	l := newLatencies()
	for i := 1; i <= n; i++ {
		l.record(LatencyVendToCredit, time.Duration(i)*time.Millisecond)
	}
	s := l.summary()[LatencyVendToCredit]
	rank := func(q float64) float64 { return math.Ceil(q * n) }
	tests := []struct {
		name      string
		got, want float64
	}{
		{"p50", s.P50, rank(0.50)},
		{"p90", s.P90, rank(0.90)},
		{"p99", s.P99, rank(0.99)},
		{"p999", s.P999, rank(0.999)},
		{"max", s.Max, n},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if math.Abs(tt.got-tt.want) > tt.want/1000 {
				t.Errorf("%s = %g ms, want %g ms", tt.name, tt.got, tt.want)
			}
		})
	}
	if s.Count != n {
		t.Errorf("count %d, want %d", s.Count, n)
	}
}
