package bridge

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stsfleet/stsfleet/protocol/wire"
)

// byName counts events by a small fixed set of names.
type byName[K ~string] struct {
	mu sync.Mutex
	n  map[K]uint64
}

func (c *byName[K]) add(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[K]uint64{}
	}
	c.n[k]++
}

func (c *byName[K]) get(k K) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}

// stats are the bridge's counters.
type stats struct {
	received, invalid, overflow byName[wire.Kind]
	forwarded, retries, failed  byName[wire.Channel]
	leftover                    atomic.Uint64
}

// Stats is a snapshot of the bridge's counters.
type Stats struct {
	// Received counts MQTT messages taken in, by topic kind (result,
	// telemetry).
	Received map[wire.Kind]uint64
	// Invalid counts messages that broke the contract, dropped.
	Invalid map[wire.Kind]uint64
	// Overflow counts messages dropped because their worker's queue was
	// full.
	Overflow map[wire.Kind]uint64
	// Forwarded counts messages published on NATS, by channel (result,
	// telemetry, final).
	Forwarded map[wire.Channel]uint64
	// Retries counts JetStream publish attempts that failed and were
	// tried again.
	Retries map[wire.Channel]uint64
	// Failed counts messages that could not be published, dropped.
	Failed map[wire.Channel]uint64
	// Leftover counts messages still queued when the drain at shutdown
	// ended.
	Leftover uint64
}

var (
	kinds    = []wire.Kind{wire.KindResult, wire.KindTelemetry}
	channels = []wire.Channel{wire.ChannelResult, wire.ChannelTelemetry, wire.ChannelFinal}
)

// Stats returns the bridge's counters now.
func (b *Bridge) Stats() Stats {
	s := Stats{
		Received: map[wire.Kind]uint64{}, Invalid: map[wire.Kind]uint64{},
		Overflow: map[wire.Kind]uint64{}, Forwarded: map[wire.Channel]uint64{},
		Retries: map[wire.Channel]uint64{}, Failed: map[wire.Channel]uint64{},
		Leftover: b.stats.leftover.Load(),
	}
	for _, k := range kinds {
		s.Received[k] = b.stats.received.get(k)
		s.Invalid[k] = b.stats.invalid.get(k)
		s.Overflow[k] = b.stats.overflow.get(k)
	}
	// Messages on unexpected topics count as invalid under kind "".
	s.Invalid[""] = b.stats.invalid.get("")
	for _, c := range channels {
		s.Forwarded[c] = b.stats.forwarded.get(c)
		s.Retries[c] = b.stats.retries.get(c)
		s.Failed[c] = b.stats.failed.get(c)
	}
	return s
}

// collector exposes the counters as bridge_* metrics, every label set
// present from the start.
type collector struct {
	b                                            *Bridge
	received, invalid, overflow                  *prometheus.Desc
	forwarded, retries, failed, leftover, queued *prometheus.Desc
}

func newCollector(b *Bridge) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("bridge_"+name, help, labels, nil)
	}
	return &collector{
		b:         b,
		received:  d("messages_received_total", "MQTT messages taken in.", "kind"),
		invalid:   d("messages_invalid_total", "Messages breaking the contract, dropped.", "kind"),
		overflow:  d("queue_overflow_total", "Messages dropped for a full queue.", "kind"),
		forwarded: d("messages_forwarded_total", "Messages published on NATS.", "channel"),
		retries:   d("publish_retries_total", "JetStream publishes tried again.", "channel"),
		failed:    d("publish_failures_total", "Messages that could not be published.", "channel"),
		leftover:  d("shutdown_leftover_total", "Messages still queued when the drain ended."),
		queued:    d("queue_depth", "Messages waiting for a worker."),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.received, c.invalid, c.overflow, c.forwarded,
		c.retries, c.failed, c.leftover, c.queued} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.b.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, k := range kinds {
		counter(c.received, s.Received[k], string(k))
		counter(c.invalid, s.Invalid[k], string(k))
		counter(c.overflow, s.Overflow[k], string(k))
	}
	for _, n := range channels {
		counter(c.forwarded, s.Forwarded[n], string(n))
		counter(c.retries, s.Retries[n], string(n))
		counter(c.failed, s.Failed[n], string(n))
	}
	counter(c.leftover, s.Leftover)
	depth := 0
	for _, q := range c.b.queues {
		depth += len(q)
	}
	ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(depth))
}
