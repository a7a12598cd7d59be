package load

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the live Prometheus metrics of the recorders of one bench,
// registered once and shared by the recorders of its steps. A nil *Metrics
// records nothing.
type Metrics struct {
	requests prometheus.Counter
	issued   prometheus.Counter
	settled  *prometheus.CounterVec
	target   prometheus.Gauge
	latency  *prometheus.HistogramVec
}

// NewMetrics registers the bench_* metrics of a bench with vocabulary n.
func NewMetrics(reg prometheus.Registerer, n Names) (*Metrics, error) {
	constLabels := prometheus.Labels{"bench": n.Kind}
	m := &Metrics{
		requests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bench_requests_total", ConstLabels: constLabels,
			Help: "Arrivals the open-model scheduler fired.",
		}),
		issued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bench_issued_total", ConstLabels: constLabels,
			Help: "Requests the system took on (" + n.Issued + ").",
		}),
		settled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bench_settled_total", ConstLabels: constLabels,
			Help: "Requests settled, by state and the outcome or error kind.",
		}, []string{"state", "reason"}),
		target: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bench_target_rate", ConstLabels: constLabels,
			Help: "Target arrival rate, per second.",
		}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bench_latency_seconds", ConstLabels: constLabels,
			Help:    "Per-request latency from the intended send time, by name.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"name"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.issued, m.settled, m.target,
		m.latency} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register bench metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) fired(rate float64) {
	if m == nil {
		return
	}
	m.requests.Inc()
	m.target.Set(rate)
}

func (m *Metrics) settle(s State, reason string) {
	if m == nil {
		return
	}
	m.settled.WithLabelValues(s.String(), reason).Inc()
}

func (m *Metrics) observe(name string, d time.Duration) {
	if m == nil {
		return
	}
	m.latency.WithLabelValues(name).Observe(d.Seconds())
}

func (m *Metrics) issue() {
	if m == nil {
		return
	}
	m.issued.Inc()
}
