package vending

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stsfleet/stsfleet/protocol/sts"
)

// Results of a vend request, the values of the result label of
// vendor_vends_total besides the rule names of [Rules].
const (
	resultIssued   = "issued"
	resultReplayed = "replayed"
	resultInvalid  = "invalid"
	resultUnknown  = "unknown_meter"
	resultConflict = "conflict"
	resultError    = "error"
)

// Results of a meter result message, the result label of
// vendor_results_received_total.
const (
	resultFirst     = "first"
	resultDuplicate = "duplicate"
	resultUnmatched = "unmatched"
	resultMalformed = "malformed"
	resultForeign   = "foreign"
)

// metrics are the service's Prometheus collectors. Labels are bounded:
// result, class and outcome take a fixed set of values, and no metric has
// a meter label.
type metrics struct {
	vends         *prometheus.CounterVec
	tokensIssued  *prometheus.CounterVec
	firstResults  *prometheus.CounterVec
	results       *prometheus.CounterVec
	ledgerWrite   prometheus.Histogram
	ledgerBatch   prometheus.Histogram
	redeliveries  prometheus.Counter
	lost          prometheus.Counter
	publishErrors prometheus.Counter
	vendToCredit  prometheus.Histogram
	tidWarnings   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, pending func() float64) *metrics {
	m := &metrics{
		vends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vendor_vends_total",
			Help: "Vend, management and key change requests by result: issued, replayed " +
				"(idempotent repeat), a refusal rule, invalid, unknown_meter, conflict or error.",
		}, []string{"result"}),
		tokensIssued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vendor_tokens_issued_total",
			Help: "Tokens written to the ledger by token class.",
		}, []string{"class"}),
		firstResults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vendor_token_results_total",
			Help: "First results of tokens by the meter's outcome.",
		}, []string{"outcome"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vendor_results_received_total",
			Help: "Result messages received by what they were: first (settled a token), " +
				"duplicate, unmatched, malformed or foreign (another meter's vend).",
		}, []string{"result"}),
		ledgerWrite: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vendor_ledger_write_seconds",
			Help:    "Time from submitting a vend to the ledger to its commit.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		ledgerBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vendor_ledger_commit_requests",
			Help:    "Requests committed together in one ledger transaction (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		}),
		redeliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vendor_redeliveries_total",
			Help: "Tokens published again for want of a result, and resends on request.",
		}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vendor_tokens_lost_total",
			Help: "Tokens given up after the last delivery attempt went unanswered.",
		}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vendor_publish_errors_total",
			Help: "Token publications that failed; the token is retried with backoff.",
		}),
		vendToCredit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vendor_vend_to_credit_seconds",
			Help: "Time from receiving a vend request to receiving the meter's accept, " +
				"on the vendor's wall clock.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 17),
		}),
		tidWarnings: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vendor_tid_rollover_warnings_total",
			Help: "Tokens issued with a TID near the end of its base date.",
		}),
	}
	reg.MustRegister(m.vends, m.tokensIssued, m.firstResults, m.results, m.ledgerWrite,
		m.ledgerBatch, m.redeliveries, m.lost, m.publishErrors, m.vendToCredit, m.tidWarnings,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vendor_tokens_pending",
			Help: "Tokens issued that have no result yet and are not lost.",
		}, pending))
	// Initialise the known label values so that rates start at zero.
	for _, r := range []string{resultIssued, resultReplayed, resultInvalid, resultUnknown,
		resultConflict, resultError} {
		m.vends.WithLabelValues(r)
	}
	for _, r := range Rules {
		m.vends.WithLabelValues(string(r))
	}
	for _, c := range []sts.Class{sts.ClassCredit, sts.ClassManagement} {
		m.tokensIssued.WithLabelValues(c.String())
	}
	for _, o := range sts.Outcomes() {
		m.firstResults.WithLabelValues(o.String())
	}
	for _, r := range []string{resultFirst, resultDuplicate, resultUnmatched, resultMalformed,
		resultForeign} {
		m.results.WithLabelValues(r)
	}
	return m
}
