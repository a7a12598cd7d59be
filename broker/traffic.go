package broker

import (
	"bytes"
	"strings"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stsfleet/stsfleet/protocol/wire"
)

// Topic kinds of the traffic counters: the kinds of the contract, in the
// order of wire.Kinds, then kindOther for every topic outside it.
const kindOther = "other"

// numKinds is the number of topic kinds counted: the contract's and other.
var numKinds = len(wire.Kinds) + 1

// Disconnect causes, the values of the cause label of
// broker_disconnects_total.
const (
	// causeClean is a client that sent DISCONNECT.
	causeClean = "clean"
	// causeLost is every other end: the connection broke, the keep-alive
	// ran out, another connection took the session over, or the broker
	// shut down.
	causeLost = "lost"
)

// roles lists every role, in the order of their values, for the dropped
// counters.
var roles = []Role{roleMeter, RoleVendor, RoleAnalytics}

// traffic counts PUBLISH packets by topic kind and sessions ended by
// cause. Its arrays are indexed by kindIndex; dropped first by role.
type traffic struct {
	received []atomic.Uint64
	sent     []atomic.Uint64
	dropped  [][]atomic.Uint64
	clean    atomic.Uint64
	lost     atomic.Uint64
}

func newTraffic() *traffic {
	t := &traffic{
		received: make([]atomic.Uint64, numKinds),
		sent:     make([]atomic.Uint64, numKinds),
		dropped:  make([][]atomic.Uint64, len(roles)),
	}
	for i := range t.dropped {
		t.dropped[i] = make([]atomic.Uint64, numKinds)
	}
	return t
}

// droppedTo returns the messages dropped for clients of role r, all
// kinds together.
func (t *traffic) droppedTo(r Role) uint64 {
	var n uint64
	for i := range t.dropped[r] {
		n += t.dropped[r][i].Load()
	}
	return n
}

// kindIndex returns the index of the topic's kind: its last segment when
// it lies under wire.TopicRoot and names a kind of the contract, else the
// index of kindOther. It allocates nothing: it runs for every message.
func kindIndex(topic string) int {
	if strings.HasPrefix(topic, wire.TopicRoot) {
		last := topic[strings.LastIndexByte(topic, '/')+1:]
		for i, k := range wire.Kinds {
			if last == string(k) {
				return i
			}
		}
	}
	return len(wire.Kinds)
}

func kindName(i int) string {
	if i < len(wire.Kinds) {
		return string(wire.Kinds[i])
	}
	return kindOther
}

// trafficHook feeds [traffic] from mochi's events. Its methods run on
// mochi's client goroutines and only update atomic counters.
type trafficHook struct {
	mqtt.HookBase
	t *traffic
	// roleOf returns the role of an authenticated client.
	roleOf func(*mqtt.Client) Role
}

// ID implements mqtt.Hook.
func (h *trafficHook) ID() string { return "stsfleet-traffic" }

// Provides implements mqtt.Hook.
func (h *trafficHook) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnPublished,
		mqtt.OnPacketSent,
		mqtt.OnPublishDropped,
		mqtt.OnDisconnect,
	}, []byte{b})
}

// OnPublished implements mqtt.Hook: a publish the broker took and routed.
// One the ACL refused (counted as a refusal) is marked Ignore.
func (h *trafficHook) OnPublished(_ *mqtt.Client, pk packets.Packet) {
	if !pk.Ignore {
		h.t.received[kindIndex(pk.TopicName)].Add(1)
	}
}

// OnPacketSent implements mqtt.Hook: a PUBLISH written to a subscriber.
func (h *trafficHook) OnPacketSent(_ *mqtt.Client, pk packets.Packet, _ []byte) {
	if pk.FixedHeader.Type == packets.Publish {
		h.t.sent[kindIndex(pk.TopicName)].Add(1)
	}
}

// OnPublishDropped implements mqtt.Hook: a message for a subscriber whose
// outbound queue was full, counted by the subscriber's role.
func (h *trafficHook) OnPublishDropped(cl *mqtt.Client, pk packets.Packet) {
	h.t.dropped[h.roleOf(cl)][kindIndex(pk.TopicName)].Add(1)
}

// OnDisconnect implements mqtt.Hook. mochi passes a nil error when the
// client ended the session with DISCONNECT.
func (h *trafficHook) OnDisconnect(_ *mqtt.Client, err error, _ bool) {
	if err == nil {
		h.t.clean.Add(1)
	} else {
		h.t.lost.Add(1)
	}
}

// trafficCollector exposes [traffic] as broker_* metrics. Every kind and
// cause is reported from the start, at zero.
type trafficCollector struct {
	t                       *traffic
	received, sent, dropped *prometheus.Desc
	disconnects             *prometheus.Desc
}

func newTrafficCollector(t *traffic) *trafficCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("broker_"+name, help, labels, nil)
	}
	return &trafficCollector{
		t: t,
		received: desc("publishes_received_total",
			"PUBLISH packets taken from clients and routed, by topic kind "+
				"(token, result, telemetry, status or other); ACL refusals excluded.", "kind"),
		sent: desc("publishes_sent_total",
			"PUBLISH packets written to subscribers, by topic kind.", "kind"),
		dropped: desc("publishes_dropped_total",
			"Messages dropped because a subscriber's outbound queue was full, by topic kind "+
				"and by the subscriber's role (meter, vendor or analytics).", "kind", "role"),
		disconnects: desc("disconnects_total",
			"Sessions ended, by cause: clean (the client sent DISCONNECT) or lost "+
				"(connection broken, keep-alive expired, taken over or broker shut down).",
			"cause"),
	}
}

// Describe implements prometheus.Collector.
func (c *trafficCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.received
	ch <- c.sent
	ch <- c.dropped
	ch <- c.disconnects
}

// Collect implements prometheus.Collector.
func (c *trafficCollector) Collect(ch chan<- prometheus.Metric) {
	for i := range numKinds {
		kind := kindName(i)
		ch <- counter(c.received, float64(c.t.received[i].Load()), kind)
		ch <- counter(c.sent, float64(c.t.sent[i].Load()), kind)
		for _, r := range roles {
			ch <- counter(c.dropped, float64(c.t.dropped[r][i].Load()), kind, r.String())
		}
	}
	ch <- counter(c.disconnects, float64(c.t.clean.Load()), causeClean)
	ch <- counter(c.disconnects, float64(c.t.lost.Load()), causeLost)
}
