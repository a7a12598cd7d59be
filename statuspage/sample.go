package statuspage

import (
	"math"
	"sort"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// joulesPerKWh converts analytics' electricity figures back to kWh.
const joulesPerKWh = 3.6e6

// utilities are the utilities in display order, with their units.
var utilities = []struct{ name, unit string }{
	{"electricity", "kWh"}, {"water", "m3"}, {"gas", "m3"},
}

// figures of one utility, in its unit; NaN where no part reports it.
type figures struct {
	sold, consumed, remaining float64
}

// sample is one reading of the gatherer. A figure no part in the process
// reports is NaN, so that the page can leave it out rather than show 0.
type sample struct {
	at time.Time

	meters, connected float64
	// vends counts credit tokens issued; accepted and rejected count
	// tokens by their first result.
	vends, accepted, rejected float64
	// results counts every token result by outcome, keypad entries and
	// redeliveries included.
	results map[string]float64
	// fraud counts rejected keypad entries by kind.
	fraud map[string]float64

	byUtility [3]figures
	noCredit  float64
	revenue   float64
	refusals  float64
	clients   float64
	// vendToCredit is the cumulative vend-to-credit histogram; nil when
	// absent.
	vendToCredit *dto.Histogram
}

// families indexes gathered metric families by name.
type families map[string]*dto.MetricFamily

func index(mfs []*dto.MetricFamily) families {
	f := make(families, len(mfs))
	for _, mf := range mfs {
		f[mf.GetName()] = mf
	}
	return f
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetUntyped() != nil:
		return m.GetUntyped().GetValue()
	}
	return math.NaN()
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}

// sum adds the series of the family that carry the wanted labels; NaN
// when the family is absent.
func (f families) sum(name string, want map[string]string) float64 {
	mf, ok := f[name]
	if !ok {
		return math.NaN()
	}
	total := 0.0
	for _, m := range mf.GetMetric() {
		if hasLabels(m, want) {
			total += metricValue(m)
		}
	}
	return total
}

// first returns the sum of the first of the families present.
func (f families) first(names ...string) float64 {
	for _, n := range names {
		if v := f.sum(n, nil); !math.IsNaN(v) {
			return v
		}
	}
	return math.NaN()
}

// byLabel adds the family's series by the value of one label; nil when the
// family is absent.
func (f families) byLabel(name, label string) map[string]float64 {
	mf, ok := f[name]
	if !ok {
		return nil
	}
	out := map[string]float64{}
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				out[l.GetValue()] += metricValue(m)
			}
		}
	}
	return out
}

func (f families) histogram(names ...string) *dto.Histogram {
	for _, n := range names {
		if mf, ok := f[n]; ok && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetHistogram()
		}
	}
	return nil
}

// read takes a sample from the gathered families. Analytics' figures come
// first where they exist; the vendor's and the fleet's stand in for them
// otherwise.
func read(mfs []*dto.MetricFamily, at time.Time) sample {
	f := index(mfs)
	s := sample{at: at}
	s.meters = f.first("fleet_meters", "analytics_meters")
	s.connected = f.first("fleet_meters_connected", "broker_clients_connected")
	s.vends = f.sum("analytics_vends_total", nil)
	if math.IsNaN(s.vends) {
		s.vends = f.sum("vendor_tokens_issued_total", map[string]string{"class": "credit"})
	}

	first := f.byLabel("analytics_tokens_total", "outcome")
	if first == nil {
		first = f.byLabel("vendor_token_results_total", "outcome")
	}
	s.accepted, s.rejected = split(first)
	s.results = f.byLabel("analytics_results_total", "outcome")
	if s.results == nil {
		s.results = f.byLabel("fleet_token_outcomes_total", "outcome")
	}
	s.fraud = f.byLabel("analytics_fraud_attempts_total", "kind")

	elec := &s.byUtility[0]
	elec.sold = f.sum("analytics_energy_sold_joules_total", nil) / joulesPerKWh
	elec.consumed = f.sum("analytics_energy_consumed_joules_total", nil) / joulesPerKWh
	elec.remaining = f.sum("analytics_energy_remaining_joules", nil) / joulesPerKWh
	for i, u := range utilities[1:] {
		l := map[string]string{"utility": u.name}
		s.byUtility[i+1] = figures{
			sold:      f.sum("analytics_volume_sold_cubic_meters_total", l),
			consumed:  f.sum("analytics_volume_consumed_cubic_meters_total", l),
			remaining: f.sum("analytics_volume_remaining_cubic_meters", l),
		}
	}
	s.noCredit = f.sum("analytics_meters_supply_cut", nil)
	s.revenue = f.sum("analytics_revenue_total", nil)
	s.refusals = f.sum("broker_refusals_total", nil)
	s.clients = f.sum("broker_clients_connected", nil)
	s.vendToCredit = f.histogram("vendor_vend_to_credit_seconds",
		"analytics_vend_to_credit_seconds")
	return s
}

// split adds outcome counts into accepted (accept, kct_pending) and
// rejected (every other outcome); NaN for both when counts is nil.
func split(counts map[string]float64) (accepted, rejected float64) {
	if counts == nil {
		return math.NaN(), math.NaN()
	}
	for o, n := range counts {
		if o == "accept" || o == "kct_pending" {
			accepted += n
		} else {
			rejected += n
		}
	}
	return accepted, rejected
}

// quantile estimates the q-quantile of a cumulative histogram by linear
// interpolation inside the bucket that holds it, as PromQL's
// histogram_quantile does; NaN for an empty or absent histogram.
func quantile(h *dto.Histogram, q float64) float64 {
	if h == nil || h.GetSampleCount() == 0 {
		return math.NaN()
	}
	buckets := append([]*dto.Bucket(nil), h.GetBucket()...)
	sort.Slice(buckets, func(i, j int) bool {
		return buckets[i].GetUpperBound() < buckets[j].GetUpperBound()
	})
	rank := q * float64(h.GetSampleCount())
	lower, below := 0.0, 0.0
	for _, b := range buckets {
		n := float64(b.GetCumulativeCount())
		if n >= rank {
			upper := b.GetUpperBound()
			if n == below {
				return upper
			}
			return lower + (upper-lower)*(rank-below)/(n-below)
		}
		lower, below = b.GetUpperBound(), n
	}
	// The quantile lies above the highest bound: report that bound.
	return lower
}
