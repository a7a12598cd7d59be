package statuspage

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var t0 = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

// fakeClock is a wall clock the test moves.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// parts is a registry holding the metrics of the product's parts under
// their real names, with handles to move them.
type parts struct {
	reg *prometheus.Registry

	vendorIssued  *prometheus.CounterVec
	vendorResults *prometheus.CounterVec
	vendToCredit  prometheus.Histogram
	fleetMeters   prometheus.Gauge
	fleetUp       prometheus.Gauge
	fleetOutcomes *prometheus.CounterVec
	refusals      *prometheus.CounterVec

	// Analytics' metrics; nil without analytics.
	vends, tokens, results, fraud *prometheus.CounterVec
	sold, consumed                prometheus.Counter
	remaining                     prometheus.Gauge
	volume                        *prometheus.GaugeVec
	supplyCut                     *prometheus.GaugeVec
}

func newParts(t *testing.T, withAnalytics bool) *parts {
	t.Helper()
	p := &parts{reg: prometheus.NewRegistry()}
	cv := func(name string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: name}, labels)
		p.reg.MustRegister(c)
		return c
	}
	g := func(name string) prometheus.Gauge {
		c := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: name})
		p.reg.MustRegister(c)
		return c
	}
	p.vendorIssued = cv("vendor_tokens_issued_total", "class")
	p.vendorResults = cv("vendor_token_results_total", "outcome")
	p.vendToCredit = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "vendor_vend_to_credit_seconds", Help: "latency",
		Buckets: []float64{0.01, 0.02, 0.05, 0.1}})
	p.reg.MustRegister(p.vendToCredit)
	p.fleetMeters, p.fleetUp = g("fleet_meters"), g("fleet_meters_connected")
	p.fleetOutcomes = cv("fleet_token_outcomes_total", "outcome", "source")
	p.refusals = cv("broker_refusals_total", "kind")
	if !withAnalytics {
		return p
	}
	p.vends = cv("analytics_vends_total", "utility")
	p.tokens = cv("analytics_tokens_total", "outcome")
	p.results = cv("analytics_results_total", "outcome")
	p.fraud = cv("analytics_fraud_attempts_total", "kind")
	for _, k := range []string{"replay", "invalid_token", "old_token"} {
		p.fraud.WithLabelValues(k)
	}
	p.sold = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "analytics_energy_sold_joules_total", Help: "sold"})
	p.consumed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "analytics_energy_consumed_joules_total", Help: "consumed"})
	p.reg.MustRegister(p.sold, p.consumed)
	p.remaining = g("analytics_energy_remaining_joules")
	p.volume = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "analytics_volume_remaining_cubic_meters", Help: "volume"}, []string{"utility"})
	p.supplyCut = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "analytics_meters_supply_cut", Help: "cut"}, []string{"utility"})
	p.reg.MustRegister(p.volume, p.supplyCut)
	return p
}

// step moves every part on as a fleet of 100 meters buying n tokens would,
// two of them replayed at the keypad.
func (p *parts) step(n int) {
	p.fleetMeters.Set(100)
	p.fleetUp.Set(98)
	p.vendorIssued.WithLabelValues("credit").Add(float64(n))
	p.vendorResults.WithLabelValues("accept").Add(float64(n))
	p.fleetOutcomes.WithLabelValues("accept", "mqtt").Add(float64(n))
	p.fleetOutcomes.WithLabelValues("used_error", "keypad").Add(2)
	p.refusals.WithLabelValues("publish").Add(1)
	for range n {
		p.vendToCredit.Observe(0.015)
	}
	if p.vends == nil {
		return
	}
	p.vends.WithLabelValues("electricity").Add(float64(n))
	p.tokens.WithLabelValues("accept").Add(float64(n))
	p.results.WithLabelValues("accept").Add(float64(n))
	p.results.WithLabelValues("used_error").Add(2)
	p.fraud.WithLabelValues("replay").Add(2)
	p.sold.Add(float64(n) * 5 * joulesPerKWh)
	p.consumed.Add(float64(n) * 3 * joulesPerKWh)
	p.remaining.Add(float64(n) * 2 * joulesPerKWh)
	p.volume.WithLabelValues("water").Set(12.5)
	p.supplyCut.WithLabelValues("electricity").Set(3)
}

// newTestPage returns a page over p whose samples the test takes, each a
// second after the last.
func newTestPage(t *testing.T, p *parts, title string) (*Page, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: t0}
	page, err := New(Config{Gatherer: p.reg, Title: title, History: 5, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	return page, clock
}

// fill takes samples while the parts sell n tokens between each.
func fill(page *Page, clock *fakeClock, p *parts, samples, n int) {
	for range samples {
		p.step(n)
		page.Sample()
		clock.t = clock.t.Add(time.Second)
	}
}
