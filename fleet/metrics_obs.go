package fleet

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stsfleet/stsfleet/meter"
	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/vending"
)

// supply is what each actor publishes of its meter for the fleet's
// metrics: whether the relay is open and how many lock-outs its keypad
// went through. The actor writes it; the collector reads it at a scrape.
type supply struct {
	// relayOpen is set while the meter's relay is open (supply cut).
	relayOpen atomic.Bool
	lockouts  atomic.Uint64
}

// noteSupply updates the actor's supply figures after the meter moved on
// or took a token; r is the token's result, nil after a step.
func (a *actor) noteSupply(r *meter.Result) {
	a.supply.relayOpen.Store(!a.m.Supplying())
	if r == nil || r.Outcome.Accepted() || r.Outcome == sts.KeypadLocked {
		return
	}
	// A rejection that leaves the keypad locked is the one that locked it:
	// while locked, the meter answers keypad_locked without looking.
	if a.m.Snapshot().KeypadLocked {
		a.supply.lockouts.Add(1)
	}
}

var (
	descRelaysOpen = prometheus.NewDesc("fleet_relays_open",
		"Meters whose relay is open (supply cut), by utility.", []string{"utility"}, nil)
	descLockouts = prometheus.NewDesc("fleet_keypad_lockouts_total",
		"Keypad lock-outs: rejections that locked a meter's keypad.", nil, nil)
)

// supplyCollector exposes the actors' [supply] as fleet_* metrics, summed
// over the meters at each scrape. Every utility is reported, at zero when
// the fleet has none of its meters.
type supplyCollector struct{ f *Fleet }

// Describe implements prometheus.Collector.
func (c supplyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRelaysOpen
	ch <- descLockouts
}

// Collect implements prometheus.Collector.
func (c supplyCollector) Collect(ch chan<- prometheus.Metric) {
	open := make(map[vending.Utility]int, len(vending.Utilities))
	var lockouts uint64
	for _, a := range c.f.actors {
		if a.supply.relayOpen.Load() {
			open[a.def.Utility]++
		}
		lockouts += a.supply.lockouts.Load()
	}
	for _, u := range vending.Utilities {
		ch <- prometheus.MustNewConstMetric(descRelaysOpen, prometheus.GaugeValue,
			float64(open[u]), string(u))
	}
	ch <- prometheus.MustNewConstMetric(descLockouts, prometheus.CounterValue,
		float64(lockouts))
}
