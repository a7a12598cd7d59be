package analytics

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/protocol/wire"
)

// joulesPerKWh converts the electricity register unit to the SI base unit.
const joulesPerKWh = 3_600_000

// latencyBuckets are the upper bounds, in seconds, of the latency
// histograms.
var latencyBuckets = []float64{
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
}

// collector exposes an instance's totals at scrape time, read under the
// aggregator's lock so that one scrape is one consistent view. Every label
// set exists from the start, at zero.
type collector struct {
	agg   *aggregator
	extra func() (slow, checkpoints, checkpointFailures int64)
	owned int

	meters, supplyCut, anomalies, vends, revenue       *prometheus.Desc
	tokens, results, pending, readings, finals, stale  *prometheus.Desc
	duplicates, invalid, slow, checkpoints, cpFailures *prometheus.Desc
	partitions, latency, lag                           *prometheus.Desc
	// energy are electricity's figures in joules, volume water's and
	// gas's in cubic metres, each indexed by figure.
	energy, volume [numFigures]*prometheus.Desc
}

// The register figures, in the order of [collector.energy].
const (
	figSold = iota
	figCredited
	figConsumed
	figCleared
	figRemaining
	numFigures
)

var figureNames = [numFigures]string{"sold", "credited", "consumed", "cleared", "remaining"}

var figureHelp = [numFigures]string{
	"sold in vend events",
	"credited to meters, from each meter's latest cumulative reading",
	"consumed by meters, from each meter's latest cumulative reading",
	"cleared from meters by clear-credit tokens, from each meter's latest reading",
	"remaining as credit in meters, from each meter's latest reading",
}

func newCollector(agg *aggregator, owned int,
	extra func() (slow, checkpoints, checkpointFailures int64)) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("analytics_"+name, help, labels, nil)
	}
	c := &collector{
		agg: agg, extra: extra, owned: owned,
		meters: d("meters", "Meters whose latest reading is of the utility.", "utility"),
		supplyCut: d("meters_supply_cut",
			"Meters whose latest reading shows the supply cut for no credit.", "utility"),
		anomalies: d("anomalies_total",
			"Readings showing consumption while the relay was open.", "utility"),
		vends: d("vends_total", "Vend events, each token once.", "utility"),
		revenue: d("revenue_total",
			"Amount paid in vend events, in currency units; /v1/summary splits currencies.",
			"utility"),
		tokens: d("tokens_total", "Tokens by the meter's first result.", "outcome"),
		results: d("results_total",
			"Result messages, redeliveries and keypad entries included.", "outcome"),
		pending:  d("tokens_pending", "Vended tokens without a result yet."),
		readings: d("readings_aggregated_total", "Readings applied: newer than the meter's last."),
		finals:   d("readings_final_total", "Final readings applied."),
		stale: d("readings_stale_total",
			"Readings ignored as duplicates or older than the meter's last."),
		duplicates: d("messages_duplicate_total",
			"Vend events and results seen again and ignored."),
		invalid: d("messages_invalid_total",
			"Messages that broke the contract, skipped.", "channel"),
		slow: d("slow_consumer_events_total",
			"NATS slow-consumer events: telemetry dropped by the client."),
		checkpoints: d("checkpoints_total", "State checkpoints written."),
		cpFailures:  d("checkpoint_failures_total", "State checkpoints that failed to write."),
		partitions:  d("partitions_owned", "Partitions this instance owns."),
		latency: d("vend_to_credit_seconds",
			"From the vend event's issue time to the meter's accepting result."),
		lag: d("telemetry_lag_seconds", "From a reading's sent_at to its arrival at analytics."),
	}
	for f := range numFigures {
		kind := "_total"
		if f == figRemaining {
			kind = ""
		}
		c.energy[f] = d("energy_"+figureNames[f]+"_joules"+kind,
			"Electricity "+figureHelp[f]+".")
		c.volume[f] = d("volume_"+figureNames[f]+"_cubic_meters"+kind,
			"Water or gas "+figureHelp[f]+".", "utility")
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.meters, c.supplyCut, c.anomalies, c.vends, c.revenue,
		c.tokens, c.results, c.pending, c.readings, c.finals, c.stale, c.duplicates, c.invalid,
		c.slow, c.checkpoints, c.cpFailures, c.partitions, c.latency, c.lag} {
		ch <- d
	}
	for f := range numFigures {
		ch <- c.energy[f]
		ch <- c.volume[f]
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	slow, cps, cpFails := c.extra()
	counter(c.slow, float64(slow))
	counter(c.checkpoints, float64(cps))
	counter(c.cpFailures, float64(cpFails))
	gauge(c.partitions, float64(c.owned))

	a := c.agg
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, t := range a.totals {
		u := utilities[i]
		gauge(c.meters, float64(t.Meters), u)
		gauge(c.supplyCut, float64(t.SupplyCut), u)
		counter(c.anomalies, float64(t.Anomalies), u)
		counter(c.vends, float64(t.Vends), u)
		var paid Amount
		for _, byUtil := range a.revenue {
			paid += byUtil[i].Amount
		}
		counter(c.revenue, paid.Float64(), u)
		figs := [numFigures]Amount{t.Sold, t.Credited, t.Consumed, t.Cleared, t.Remaining}
		for f, v := range figs {
			kind := prometheus.CounterValue
			if f == figRemaining {
				kind = prometheus.GaugeValue
			}
			if i == 0 {
				ch <- prometheus.MustNewConstMetric(c.energy[f], kind, v.Float64()*joulesPerKWh)
			} else {
				ch <- prometheus.MustNewConstMetric(c.volume[f], kind, v.Float64(), u)
			}
		}
	}
	for _, o := range sts.Outcomes() {
		counter(c.tokens, float64(a.counts.Tokens[o]), o.String())
		counter(c.results, float64(a.counts.Results[o]), o.String())
	}
	gauge(c.pending, float64(a.counts.Pending))
	counter(c.readings, float64(a.counts.Readings))
	counter(c.finals, float64(a.counts.Finals))
	counter(c.stale, float64(a.counts.Stale))
	counter(c.duplicates, float64(a.counts.Duplicates))
	for _, ch := range wire.Channels {
		counter(c.invalid, float64(a.counts.Invalid[string(ch)]), string(ch))
	}
	ch <- histogram(c.latency, a.latency, a.counts.LatencySum)
	ch <- histogram(c.lag, a.lag, a.counts.LagSum)
}

// histogram renders an HDR histogram of microseconds as a Prometheus
// histogram in seconds over [latencyBuckets]. Bucket counts are exact to
// the HDR histogram's resolution; the sum is exact.
func histogram(d *prometheus.Desc, h *hdrhistogram.Histogram, sumUS int64) prometheus.Metric {
	buckets := make(map[float64]uint64, len(latencyBuckets))
	bars := h.Distribution()
	for _, b := range latencyBuckets {
		limit := int64(b * float64(time.Second/time.Microsecond))
		var n int64
		for _, bar := range bars {
			if bar.To <= limit {
				n += bar.Count
			}
		}
		buckets[b] = uint64(n)
	}
	sum := float64(sumUS) / float64(time.Second/time.Microsecond)
	return prometheus.MustNewConstHistogram(d, uint64(h.TotalCount()), sum, buckets)
}
