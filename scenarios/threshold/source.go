package threshold

import (
	"math"
	"slices"
	"time"
)

// Static is a [Source] over counts and latency samples held in memory. The
// zero value reports nothing. It is read-only once built and then safe for
// concurrent use.
type Static struct {
	// Counts are the counts by name.
	Counts map[string]int64
	// Latencies are the samples of each latency, in any order.
	Latencies map[string][]time.Duration
}

// Count implements [Source].
func (s Static) Count(name string) (int64, bool) {
	n, ok := s.Counts[name]
	return n, ok
}

// Latency implements [Source] with the nearest-rank quantile: the smallest
// sample at or above the given share of the samples.
func (s Static) Latency(name string, quantile float64) (time.Duration, bool) {
	return Quantile(s.Latencies[name], quantile)
}

// Quantile returns the nearest-rank quantile of samples (0 to 1; 1 is the
// largest) and false when there are none. samples is not modified.
func Quantile(samples []time.Duration, quantile float64) (time.Duration, bool) {
	if len(samples) == 0 {
		return 0, false
	}
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	rank := int(math.Ceil(quantile * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1], true
}
