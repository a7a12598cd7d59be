package broker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/protocol/wire"
)

// TestTrafficMetrics runs a known exchange through the broker and checks
// the counters by topic kind and the disconnects by cause: two tokens to a
// meter, three results and one reading back to the vendor, a publish the
// ACL refuses, one clean disconnect and one lost connection.
func TestTrafficMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := startBroker(t, func(c *broker.Config) { c.Registerer = reg })
	drn, other := testDRN(1), testDRN(2)

	tokens, results := newInbox(), newInbox()
	vo := vendorOptions(b, memory, "vendor-1")
	vo.Subscriptions = []mqttc.Subscription{{Filter: wire.TopicFilter(wire.KindResult), QoS: 1,
		Handler: results.handle}}
	vendor := connect(t, vo)

	mo := meterOptions(b, memory, drn)
	mo.Subscriptions = []mqttc.Subscription{{Filter: wire.Topic(drn, wire.KindToken), QoS: 1,
		Handler: tokens.handle}}
	cut := &conns{dial: b.Dial}
	mo.Dialer = cut.Dial
	m, err := mqttc.Connect(ctxT(t), mo)
	if err != nil {
		t.Fatalf("connect meter: %v", err)
	}

	for range 2 {
		if err := vendor.Publish(ctxT(t), wire.Topic(drn, wire.KindToken), 1, false,
			[]byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		tokens.next(t)
	}
	for range 3 {
		if err := m.Publish(ctxT(t), wire.Topic(drn, wire.KindResult), 1, false,
			[]byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		results.next(t)
	}
	if err := m.Publish(ctxT(t), wire.Topic(drn, wire.KindTelemetry), 1, false,
		[]byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	// Refused: a result as another meter. It is acknowledged, not routed.
	if err := m.Publish(ctxT(t), wire.Topic(other, wire.KindResult), 1, false,
		[]byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	cut.cut()

	spare := connect(t, meterOptions(b, memory, other))
	spare.Disconnect(100 * time.Millisecond)

	want := `
# HELP broker_disconnects_total Sessions ended, by cause: clean (the client sent DISCONNECT) or lost (connection broken, keep-alive expired, taken over or broker shut down).
# TYPE broker_disconnects_total counter
broker_disconnects_total{cause="clean"} 1
broker_disconnects_total{cause="lost"} 1
# HELP broker_publishes_received_total PUBLISH packets taken from clients and routed, by topic kind (token, result, telemetry, status or other); ACL refusals excluded.
# TYPE broker_publishes_received_total counter
broker_publishes_received_total{kind="other"} 0
broker_publishes_received_total{kind="result"} 3
broker_publishes_received_total{kind="status"} 0
broker_publishes_received_total{kind="telemetry"} 1
broker_publishes_received_total{kind="token"} 2
# HELP broker_publishes_sent_total PUBLISH packets written to subscribers, by topic kind.
# TYPE broker_publishes_sent_total counter
broker_publishes_sent_total{kind="other"} 0
broker_publishes_sent_total{kind="result"} 3
broker_publishes_sent_total{kind="status"} 0
broker_publishes_sent_total{kind="telemetry"} 0
broker_publishes_sent_total{kind="token"} 2
# HELP broker_refusals_total Connections, publishes and subscription filters the broker refused, by kind.
# TYPE broker_refusals_total counter
broker_refusals_total{kind="auth"} 0
broker_refusals_total{kind="client_id"} 0
broker_refusals_total{kind="publish"} 1
broker_refusals_total{kind="subscribe"} 0
broker_refusals_total{kind="will"} 0
`
	names := []string{"broker_disconnects_total", "broker_publishes_received_total",
		"broker_publishes_sent_total", "broker_refusals_total"}
	// The broker counts a message after writing it, and a session's end
	// after closing it: poll until the counters have caught up.
	deadline := time.Now().Add(patience)
	for {
		err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	m.Disconnect(0)
}
