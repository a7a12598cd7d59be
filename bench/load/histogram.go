package load

import (
	"math"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram ranges: values are microseconds from 1 µs to an hour. A run's
// histograms keep three significant figures; the per-second ones two,
// which is what a chart shows and a tenth of the memory.
const (
	histMin     = 1
	histMax     = int64(time.Hour / time.Microsecond)
	runFigures  = 3
	tickFigures = 2
)

// Histogram is a latency distribution: an HDR histogram of microseconds
// from 1 µs to an hour. Values outside are clamped, so every observation
// counts. Safe for concurrent use.
type Histogram struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

// NewHistogram returns an empty histogram that keeps three significant
// figures.
func NewHistogram() *Histogram { return newHistogram(runFigures) }

func newHistogram(figures int) *Histogram {
	return &Histogram{h: hdrhistogram.New(histMin, histMax, figures)}
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	us := min(max(int64(d/time.Microsecond), histMin), histMax)
	h.mu.Lock()
	// In range by construction, so RecordValue cannot fail.
	_ = h.h.RecordValue(us)
	h.mu.Unlock()
}

// Merge adds every value of other, as if each had been recorded here. The
// precision of the coarser of the two applies to the merged values.
func (h *Histogram) Merge(other *Histogram) {
	if other == nil || other == h {
		return
	}
	other.mu.Lock()
	src := other.h.Export()
	other.mu.Unlock()
	h.mu.Lock()
	// Same range on both sides, so nothing is dropped.
	h.h.Merge(hdrhistogram.Import(src))
	h.mu.Unlock()
}

// Count returns the number of values recorded.
func (h *Histogram) Count() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.h.TotalCount()
}

// Quantile returns the value at quantile q (0 to 1; 1 is the maximum) and
// false when the histogram is empty.
func (h *Histogram) Quantile(q float64) (time.Duration, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.h.TotalCount() == 0 {
		return 0, false
	}
	if q >= 1 {
		return micros(h.h.Max()), true
	}
	return micros(h.h.ValueAtQuantile(q * 100)), true
}

// Summary returns the usual percentiles.
func (h *Histogram) Summary() Percentiles {
	h.mu.Lock()
	defer h.mu.Unlock()
	return summarize(h.h)
}

func summarize(h *hdrhistogram.Histogram) Percentiles {
	n := h.TotalCount()
	if n == 0 {
		return Percentiles{}
	}
	v := h.ValueAtPercentiles([]float64{50, 90, 99, 99.9})
	return Percentiles{
		Count: n,
		Mean:  ms(h.Mean()),
		P50:   ms(float64(v[50])),
		P90:   ms(float64(v[90])),
		P99:   ms(float64(v[99])),
		P999:  ms(float64(v[99.9])),
		Max:   ms(float64(h.Max())),
	}
}

// Buckets returns the distribution in up to n bars of equal width on a
// logarithmic scale, from the smallest to the largest value recorded.
func (h *Histogram) Buckets(n int) []Bucket {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.h.TotalCount() == 0 || n < 1 {
		return nil
	}
	lo, hi := math.Log(float64(max(h.h.Min(), 1))), math.Log(float64(h.h.Max()+1))
	width := (hi - lo) / float64(n)
	out := make([]Bucket, n)
	for i := range out {
		out[i].FromMS = ms(math.Exp(lo + width*float64(i)))
		out[i].ToMS = ms(math.Exp(lo + width*float64(i+1)))
	}
	for _, bar := range h.h.Distribution() {
		if bar.Count == 0 {
			continue
		}
		i := int((math.Log(float64(max(bar.From, 1))) - lo) / width)
		out[min(max(i, 0), n-1)].Count += bar.Count
	}
	return out
}

// Bucket is one bar of a latency distribution: Count values from FromMS up
// to ToMS milliseconds.
type Bucket struct {
	FromMS float64 `json:"from_ms"`
	ToMS   float64 `json:"to_ms"`
	Count  int64   `json:"count"`
}

// Percentiles summarises a latency distribution, in milliseconds.
type Percentiles struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
}

func micros(us int64) time.Duration { return time.Duration(us) * time.Microsecond }

// ms converts microseconds to milliseconds, rounded to the microsecond.
func ms(us float64) float64 { return math.Round(us) / 1000 }
