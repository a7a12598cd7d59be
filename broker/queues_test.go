package broker_test

import (
	"bytes"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/protocol/wire"
)

// burstMeters is how many meters publish a result at the same moment.
const burstMeters = 2000

// reader is an account's client that counts what it receives. Its handler
// waits at the gate first, as a vendor busy with its ledger would, so that
// the burst piles up at the broker.
type reader struct {
	got  atomic.Int64
	gate chan struct{}
}

func (r *reader) handle(mqttc.Message) {
	<-r.gate
	r.got.Add(1)
}

func newReader(t *testing.T, o mqttc.Options, filter string) *reader {
	r := &reader{gate: make(chan struct{})}
	o.Subscriptions = []mqttc.Subscription{{Filter: filter, QoS: 1, Handler: r.handle}}
	connect(t, o)
	return r
}

// burst connects burstMeters meters over raw in-memory MQTT (no client
// library: a goroutine per meter would be too many), has every one publish
// a result at QoS 1 at once, and returns once each has its PUBACK.
func burst(t *testing.T, b *broker.Broker) {
	t.Helper()
	ctx := ctxT(t)
	conns := make([]net.Conn, burstMeters)
	for i := range conns {
		drn := testDRN(5000 + i)
		c, err := b.Dial(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
		pk := connectPacket(drn, broker.MeterPassword(fleetSecret, drn))
		if _, err := c.Write(pk); err != nil {
			t.Fatal(err)
		}
		ack := make([]byte, 4)
		if _, err := io.ReadFull(c, ack); err != nil || ack[3] != 0 {
			t.Fatalf("meter %d: CONNACK % x, %v", i, ack, err)
		}
	}
	payload := bytes.Repeat([]byte("r"), 250)
	for i, c := range conns {
		pk := publishPacket(wire.Topic(testDRN(5000+i), wire.KindResult), 1, payload)
		if _, err := c.Write(pk); err != nil {
			t.Fatal(err)
		}
	}
	// The broker acknowledges a QoS 1 publish before routing it.
	for i, c := range conns {
		ack := make([]byte, 4)
		if _, err := io.ReadFull(c, ack); err != nil || ack[0] != 0x40 {
			t.Fatalf("meter %d: PUBACK % x, %v", i, ack, err)
		}
	}
}

// TestAccountsReceiveABurst has 2,000 meters publish a result at once
// while the vendor and analytics are busy: their deep outbound queues hold
// the burst, and both receive every result.
func TestAccountsReceiveABurst(t *testing.T) {
	b := startBroker(t, func(c *broker.Config) { c.DisableTCP = true })
	vendor := newReader(t, vendorOptions(b, memory, "vendor-1"), wire.SharedResultFilter)
	analytics := newReader(t, analyticsOptions(b, memory, "bridge-1"),
		wire.TopicFilter(wire.KindResult))

	burst(t, b)
	close(vendor.gate)
	close(analytics.gate)
	waitFor(t, "every result received or dropped", func() bool {
		s := b.Stats()
		return vendor.got.Load()+analytics.got.Load()+s.MessagesDropped+s.InflightDropped ==
			2*burstMeters
	})

	s := b.Stats()
	if v, a := vendor.got.Load(), analytics.got.Load(); v != burstMeters || a != burstMeters {
		t.Errorf("vendor received %d, analytics %d, want %d each", v, a, burstMeters)
	}
	if s.MessagesDropped != 0 || s.InflightDropped != 0 {
		t.Errorf("dropped %d (queue full) and %d (in flight), want none", s.MessagesDropped,
			s.InflightDropped)
	}
	for role, n := range s.DroppedTo {
		if n != 0 {
			t.Errorf("%d messages to %s dropped", n, role)
		}
	}
}

// TestDropsAreCountedByRole gives the vendor a queue of one slot: what the
// burst loses is counted, by the role it was for, in Stats and in
// broker_publishes_dropped_total, and every result is either received or
// counted.
func TestDropsAreCountedByRole(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := startBroker(t, func(c *broker.Config) {
		c.DisableTCP, c.AccountWritesPending, c.Registerer = true, 1, reg
	})
	vendor := newReader(t, vendorOptions(b, memory, "vendor-1"), wire.SharedResultFilter)
	burst(t, b)
	close(vendor.gate)

	lost := func() int64 {
		s := b.Stats()
		return s.MessagesDropped + s.InflightDropped
	}
	waitFor(t, "every result received or dropped", func() bool {
		return vendor.got.Load()+lost() == burstMeters
	})
	s := b.Stats()
	t.Logf("received %d, dropped %d (queue full), %d (in flight)", vendor.got.Load(),
		s.MessagesDropped, s.InflightDropped)
	if got := int64(s.DroppedTo[broker.RoleVendor]); got != s.MessagesDropped {
		t.Errorf("drops to the vendor %d, all drops %d", got, s.MessagesDropped)
	}
	if n := s.DroppedTo[broker.RoleAnalytics]; n != 0 {
		t.Errorf("%d drops to analytics, which has no client", n)
	}

	metric, err := testutil.GatherAndCount(reg, "broker_publishes_dropped_total")
	if err != nil || metric != 15 {
		t.Errorf("broker_publishes_dropped_total has %d series (%v), want 5 kinds x 3 roles",
			metric, err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byRole := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "broker_publishes_dropped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "role" {
					byRole[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	if byRole["vendor"] != float64(s.MessagesDropped) || byRole["meter"] != 0 {
		t.Errorf("broker_publishes_dropped_total by role %v, want vendor %d", byRole,
			s.MessagesDropped)
	}
}

// publishPacket is an MQTT 3.1.1 PUBLISH at QoS 1.
func publishPacket(topic string, id uint16, payload []byte) []byte {
	body := []byte{byte(len(topic) >> 8), byte(len(topic))}
	body = append(body, topic...)
	body = append(body, byte(id>>8), byte(id))
	body = append(body, payload...)
	return append(append([]byte{0x32}, varint(len(body))...), body...)
}

// varint encodes a fixed header's remaining length ([MQTT-1.5.5]).
func varint(n int) []byte {
	var out []byte
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		out = append(out, d)
		if n == 0 {
			return out
		}
	}
}

// TestConnectMustComeFirst: the broker reads the first packet itself now;
// one that is not a CONNECT, or a CONNECT too large, ends the connection
// without an answer, as mochi's own check did.
func TestConnectMustComeFirst(t *testing.T) {
	b := startBroker(t, func(c *broker.Config) { c.DisableTCP = true })
	huge := append([]byte{0x10}, varint(1<<20)...)
	for name, first := range map[string][]byte{
		"publish":    publishPacket(wire.Topic(testDRN(1), wire.KindResult), 1, []byte("x")),
		"too large":  huge,
		"bad length": {0x10, 0xff, 0xff, 0xff, 0xff},
		"malformed":  {0x10, 0x02, 0x00, 0x09},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := b.Dial(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(patience))
			if _, err := c.Write(first); err != nil {
				t.Fatal(err)
			}
			n, err := io.ReadAll(c)
			if len(n) != 0 || err != nil {
				t.Errorf("read % x, %v; want the connection closed, nothing sent", n, err)
			}
		})
	}
	// Meters and accounts still connect afterwards: no hold of the queue
	// sizer leaked.
	connect(t, meterOptions(b, memory, testDRN(2)))
	connect(t, vendorOptions(b, memory, "vendor-after"))
}
