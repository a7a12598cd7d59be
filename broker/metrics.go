package broker

import (
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// counters are the broker's own counts; mochi keeps the rest in its
// server.Info.
type counters struct {
	authFailures      atomic.Uint64
	clientIDRefusals  atomic.Uint64
	willRefusals      atomic.Uint64
	publishRefusals   atomic.Uint64
	subscribeRefusals atomic.Uint64
	connects          atomic.Uint64
	acceptErrors      atomic.Uint64
}

// Stats is a snapshot of the broker's counters. Refusal counts let a test
// assert that the broker refused something MQTT 3.1.1 does not report back
// to the client (a refused publish is acknowledged and dropped).
type Stats struct {
	// AuthFailures counts connections refused for bad credentials: an
	// unknown username, a wrong password, or a username that is not a
	// valid DRN.
	AuthFailures uint64
	// ClientIDRefusals counts connections refused because the client
	// identifier does not fit the username.
	ClientIDRefusals uint64
	// WillRefusals counts connections refused because their last will
	// names a topic the client may not publish.
	WillRefusals uint64
	// PublishRefusals counts publishes dropped by the ACL.
	PublishRefusals uint64
	// SubscribeRefusals counts subscription filters refused by the ACL.
	SubscribeRefusals uint64
	// Connects counts sessions established (successful CONNECTs).
	Connects uint64

	// ClientsConnected is the number of clients connected now.
	ClientsConnected int64
	// Sessions is the number of sessions the broker holds: connected
	// clients and disconnected ones with a persistent session.
	Sessions int
	// Subscriptions is the number of subscriptions held.
	Subscriptions int64
	// MessagesReceived and MessagesSent count PUBLISH packets from and
	// to clients.
	MessagesReceived int64
	MessagesSent     int64
	// MessagesDropped counts messages dropped because a client's
	// outbound queue was full (see Config.MaxWritesPending).
	MessagesDropped int64
	// DroppedTo counts the same drops by the role of the client the
	// message was for: meters (the zero Role), RoleVendor and
	// RoleAnalytics, every role present.
	DroppedTo map[Role]uint64
	// InflightDropped counts QoS 1 and 2 messages dropped because a
	// client held Config.MaxInflight of them already.
	InflightDropped int64
	// Inflight is the number of QoS 1 and 2 messages held now, counted
	// over the sessions at each call (mochi's own running count drifts
	// when a session is taken over).
	Inflight int64
	// Retained is the number of retained messages.
	Retained int64
}

func (b *Broker) stats() Stats {
	info := b.server.Info.Clone()
	return Stats{
		AuthFailures:      b.counts.authFailures.Load(),
		ClientIDRefusals:  b.counts.clientIDRefusals.Load(),
		WillRefusals:      b.counts.willRefusals.Load(),
		PublishRefusals:   b.counts.publishRefusals.Load(),
		SubscribeRefusals: b.counts.subscribeRefusals.Load(),
		Connects:          b.counts.connects.Load(),
		ClientsConnected:  info.ClientsConnected,
		Sessions:          b.server.Clients.Len(),
		Subscriptions:     info.Subscriptions,
		MessagesReceived:  info.MessagesReceived,
		MessagesSent:      info.MessagesSent,
		MessagesDropped:   info.MessagesDropped,
		DroppedTo:         b.droppedTo(),
		InflightDropped:   info.InflightDropped,
		Inflight:          inflight(b.server),
		Retained:          info.Retained,
	}
}

func (b *Broker) droppedTo() map[Role]uint64 {
	m := make(map[Role]uint64, len(roles))
	for _, r := range roles {
		m[r] = b.traffic.droppedTo(r)
	}
	return m
}

// collector exposes the broker's counters and mochi's server.Info as
// Prometheus metrics, read at each scrape.
type collector struct {
	b *Broker

	refusals        *prometheus.Desc
	connects        *prometheus.Desc
	acceptErrors    *prometheus.Desc
	connected       *prometheus.Desc
	sessions        *prometheus.Desc
	subscriptions   *prometheus.Desc
	received        *prometheus.Desc
	sent            *prometheus.Desc
	dropped         *prometheus.Desc
	inflightDrops   *prometheus.Desc
	inflight        *prometheus.Desc
	retained        *prometheus.Desc
	bytesReceived   *prometheus.Desc
	bytesSent       *prometheus.Desc
	packetsReceived *prometheus.Desc
	packetsSent     *prometheus.Desc
}

// Refusal kinds, the values of the kind label of broker_refusals_total.
const (
	refusalAuth      = "auth"
	refusalClientID  = "client_id"
	refusalWill      = "will"
	refusalPublish   = "publish"
	refusalSubscribe = "subscribe"
)

func newCollector(b *Broker) *collector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("broker_"+name, help, labels, nil)
	}
	return &collector{
		b: b,
		refusals: desc("refusals_total",
			"Connections, publishes and subscription filters the broker refused, by kind.",
			"kind"),
		connects: desc("connections_accepted_total",
			"MQTT sessions established (successful CONNECTs)."),
		acceptErrors: desc("accept_errors_total",
			"Failed accepts on the TCP listener."),
		connected: desc("clients_connected",
			"Clients connected now."),
		sessions: desc("sessions",
			"Sessions held: connected clients and disconnected persistent sessions."),
		subscriptions: desc("subscriptions",
			"Subscriptions held."),
		received: desc("messages_received_total",
			"PUBLISH packets received from clients."),
		sent: desc("messages_sent_total",
			"PUBLISH packets sent to clients."),
		dropped: desc("messages_dropped_total",
			"Messages dropped because a client's outbound queue was full."),
		inflightDrops: desc("inflight_dropped_total",
			"QoS 1 and 2 messages dropped because a client held its maximum."),
		inflight: desc("messages_inflight",
			"QoS 1 and 2 messages held: queued for offline clients or unacknowledged."),
		retained: desc("messages_retained",
			"Retained messages held."),
		bytesReceived: desc("received_bytes_total",
			"Bytes received from clients."),
		bytesSent: desc("sent_bytes_total",
			"Bytes sent to clients."),
		packetsReceived: desc("packets_received_total",
			"MQTT packets received from clients."),
		packetsSent: desc("packets_sent_total",
			"MQTT packets sent to clients."),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.refusals, c.connects, c.acceptErrors, c.connected, c.sessions, c.subscriptions,
		c.received, c.sent, c.dropped, c.inflightDrops, c.inflight, c.retained,
		c.bytesReceived, c.bytesSent, c.packetsReceived, c.packetsSent,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	counts := &c.b.counts
	for _, r := range []struct {
		kind string
		n    *atomic.Uint64
	}{
		{refusalAuth, &counts.authFailures},
		{refusalClientID, &counts.clientIDRefusals},
		{refusalWill, &counts.willRefusals},
		{refusalPublish, &counts.publishRefusals},
		{refusalSubscribe, &counts.subscribeRefusals},
	} {
		ch <- counter(c.refusals, float64(r.n.Load()), r.kind)
	}
	ch <- counter(c.connects, float64(counts.connects.Load()))
	ch <- counter(c.acceptErrors, float64(counts.acceptErrors.Load()))
	c.collectInfo(ch, c.b.server)
}

// collectInfo bridges mochi's server.Info.
func (c *collector) collectInfo(ch chan<- prometheus.Metric, s *mqtt.Server) {
	info := s.Info.Clone()
	ch <- gauge(c.connected, float64(info.ClientsConnected))
	ch <- gauge(c.sessions, float64(s.Clients.Len()))
	ch <- gauge(c.subscriptions, float64(info.Subscriptions))
	ch <- counter(c.received, float64(info.MessagesReceived))
	ch <- counter(c.sent, float64(info.MessagesSent))
	ch <- counter(c.dropped, float64(info.MessagesDropped))
	ch <- counter(c.inflightDrops, float64(info.InflightDropped))
	ch <- gauge(c.inflight, float64(inflight(s)))
	ch <- gauge(c.retained, float64(info.Retained))
	ch <- counter(c.bytesReceived, float64(info.BytesReceived))
	ch <- counter(c.bytesSent, float64(info.BytesSent))
	ch <- counter(c.packetsReceived, float64(info.PacketsReceived))
	ch <- counter(c.packetsSent, float64(info.PacketsSent))
}

// inflight counts the QoS 1 and 2 messages the sessions hold.
func inflight(s *mqtt.Server) int64 {
	var n int64
	for _, cl := range s.Clients.GetAll() {
		n += int64(cl.State.Inflight.Len())
	}
	return n
}

func counter(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func gauge(d *prometheus.Desc, v float64) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
}
