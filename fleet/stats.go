package fleet

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// stats are the fleet's counters, updated by every actor with atomics.
type stats struct {
	connectedNow    atomic.Int64
	connects        atomic.Uint64
	connectRetries  atomic.Uint64
	connectionsLost atomic.Uint64
	reconnects      atomic.Uint64
	restored        atomic.Uint64

	tokensReceived atomic.Uint64
	badTokens      atomic.Uint64
	unexpected     atomic.Uint64
	// outcomes counts results by outcome, for tokens over MQTT and at
	// the keypad.
	outcomes [2][32]atomic.Uint64

	telemetrySent   atomic.Uint64
	telemetryFailed atomic.Uint64

	purchasesAsked  atomic.Uint64
	purchasesDone   atomic.Uint64
	purchasesFailed atomic.Uint64
	purchasesBusy   atomic.Uint64
	// purchasesCancelled counts purchases dropped from the queue at the
	// end of a run.
	purchasesCancelled atomic.Uint64
	// inFlight counts purchases whose receipt came back and whose token
	// has not reached the meter.
	inFlight atomic.Int64
	overdue  atomic.Uint64

	saveErrors atomic.Uint64

	purchaseToToken prometheus.Histogram
}

func newStats() *stats {
	return &stats{
		purchaseToToken: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "fleet_purchase_to_token_seconds",
			Help: "Wall time from a customer's purchase request to its token " +
				"entering the meter.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
	}
}

func sourceIndex(source string) int {
	if source == sourceKeypad {
		return 1
	}
	return 0
}

func (s *stats) outcome(o sts.Outcome, source string) {
	if int(o) < len(s.outcomes[0]) {
		s.outcomes[sourceIndex(source)][o].Add(1)
	}
}

func (s *stats) purchaseFailed(err error) {
	var ve *VendError
	if errors.As(err, &ve) && ve.Temporary() {
		s.purchasesBusy.Add(1)
	}
	s.purchasesFailed.Add(1)
}

// Stats is a snapshot of a fleet's counters.
type Stats struct {
	// Meters is the number of meters the fleet runs; Connected how many
	// are connected now.
	Meters    int   `json:"meters"`
	Connected int64 `json:"connected"`
	// Connects counts successful connections made by Start and SetOnline;
	// Reconnects those paho made on its own after a lost connection.
	Connects        uint64 `json:"connects"`
	Reconnects      uint64 `json:"reconnects"`
	ConnectionsLost uint64 `json:"connections_lost"`
	// Restored counts meters restored from the state directory.
	Restored uint64 `json:"restored"`
	// TokensReceived counts token messages received over MQTT;
	// BadTokens those that did not decode.
	TokensReceived uint64 `json:"tokens_received"`
	BadTokens      uint64 `json:"bad_tokens"`
	// Outcomes counts token results by outcome name, MQTT and keypad
	// together.
	Outcomes map[string]uint64 `json:"outcomes"`
	// Accepted and Rejected sum Outcomes: accept and kct_pending, and
	// every other outcome.
	Accepted uint64 `json:"accepted"`
	Rejected uint64 `json:"rejected"`
	// TelemetrySent counts readings the broker took; TelemetryFailed
	// those that could not be published.
	TelemetrySent   uint64 `json:"telemetry_sent"`
	TelemetryFailed uint64 `json:"telemetry_failed"`
	// Purchases counts purchases asked for, PurchasesDone those that got
	// a receipt, PurchasesFailed those that did not.
	Purchases       uint64 `json:"purchases"`
	PurchasesDone   uint64 `json:"purchases_done"`
	PurchasesFailed uint64 `json:"purchases_failed"`
	// InFlight counts purchases with a receipt whose token has not
	// reached the meter; Overdue those given up after a while.
	InFlight int64  `json:"in_flight"`
	Overdue  uint64 `json:"overdue"`
	// Shard is the slice of the fleet these meters are.
	Shard Shard `json:"-"`
}

// Stats returns a snapshot of the fleet's counters.
func (f *Fleet) Stats() Stats {
	s := f.stats
	out := Stats{
		Meters: len(f.actors), Connected: s.connectedNow.Load(),
		Connects: s.connects.Load(), Reconnects: s.reconnects.Load(),
		ConnectionsLost: s.connectionsLost.Load(), Restored: s.restored.Load(),
		TokensReceived: s.tokensReceived.Load(), BadTokens: s.badTokens.Load(),
		Outcomes:      map[string]uint64{},
		TelemetrySent: s.telemetrySent.Load(), TelemetryFailed: s.telemetryFailed.Load(),
		Purchases: s.purchasesAsked.Load(), PurchasesDone: s.purchasesDone.Load(),
		PurchasesFailed: s.purchasesFailed.Load(),
		InFlight:        s.inFlight.Load(), Overdue: s.overdue.Load(),
		Shard: f.cfg.Shard,
	}
	for _, o := range sts.Outcomes() {
		n := s.outcomes[0][o].Load() + s.outcomes[1][o].Load()
		if n == 0 {
			continue
		}
		out.Outcomes[o.String()] = n
		if o.Accepted() {
			out.Accepted += n
		} else {
			out.Rejected += n
		}
	}
	return out
}

// register adds the fleet's collector to r.
func (s *stats) register(r prometheus.Registerer, f *Fleet) error {
	if err := r.Register(s.purchaseToToken); err != nil {
		return err
	}
	if err := r.Register(supplyCollector{f: f}); err != nil {
		return err
	}
	return r.Register(&collector{f: f})
}

// collector exposes the counters as fleet_* metrics at each scrape.
type collector struct{ f *Fleet }

var (
	descMeters = prometheus.NewDesc("fleet_meters",
		"Meters the fleet runs.", nil, nil)
	descConnected = prometheus.NewDesc("fleet_meters_connected",
		"Meters connected to the broker now.", nil, nil)
	descConnects = prometheus.NewDesc("fleet_connects_total",
		"MQTT connections made by meters, automatic reconnections included.", nil, nil)
	descLost = prometheus.NewDesc("fleet_connections_lost_total",
		"MQTT connections of meters lost without a disconnect.", nil, nil)
	descTokens = prometheus.NewDesc("fleet_tokens_received_total",
		"Token messages received over MQTT.", nil, nil)
	descOutcomes = prometheus.NewDesc("fleet_token_outcomes_total",
		"Tokens entered, by outcome and by source (mqtt or keypad).",
		[]string{"outcome", "source"}, nil)
	descTelemetry = prometheus.NewDesc("fleet_telemetry_sent_total",
		"Readings published.", nil, nil)
	descTelemetryFailed = prometheus.NewDesc("fleet_telemetry_failed_total",
		"Readings that could not be published.", nil, nil)
	descPurchases = prometheus.NewDesc("fleet_purchases_total",
		"Purchases by customers, by result (ok or error).", []string{"result"}, nil)
	descInFlight = prometheus.NewDesc("fleet_purchases_in_flight",
		"Purchases with a receipt whose token has not reached the meter.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMeters, descConnected, descConnects, descLost,
		descTokens, descOutcomes, descTelemetry, descTelemetryFailed, descPurchases,
		descInFlight} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.f.stats
	g := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	n := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	g(descMeters, float64(len(c.f.actors)))
	g(descConnected, float64(s.connectedNow.Load()))
	n(descConnects, s.connects.Load()+s.reconnects.Load())
	n(descLost, s.connectionsLost.Load())
	n(descTokens, s.tokensReceived.Load())
	for _, o := range sts.Outcomes() {
		n(descOutcomes, s.outcomes[0][o].Load(), o.String(), sourceMQTT)
		n(descOutcomes, s.outcomes[1][o].Load(), o.String(), sourceKeypad)
	}
	n(descTelemetry, s.telemetrySent.Load())
	n(descTelemetryFailed, s.telemetryFailed.Load())
	n(descPurchases, s.purchasesDone.Load(), "ok")
	n(descPurchases, s.purchasesFailed.Load(), "error")
	g(descInFlight, float64(s.inFlight.Load()))
}

// WaitIdle waits until no purchase is with the buyers or waiting for its
// token, or ctx ends: the fleet's part of draining a run.
func (f *Fleet) WaitIdle(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		s := f.stats
		asked, done, failed := s.purchasesAsked.Load(), s.purchasesDone.Load(),
			s.purchasesFailed.Load()+s.purchasesCancelled.Load()
		if asked == done+failed && s.inFlight.Load() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
