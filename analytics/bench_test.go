package analytics

import (
	"fmt"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/protocol/wire"
)

// readingPayloads makes n readings spread over meters, each meter's in
// increasing sequence, as a fleet sends them.
func readingPayloads(meters, n int) []message {
	out := make([]message, n)
	for i := range out {
		drn := fmt.Sprintf("%011d", 20_000_000_000+i%meters)
		seq := uint64(i/meters + 1)
		t := wire.Telemetry{DRN: drn, Utility: "electricity", Unit: "kWh", Seq: seq,
			Credited: "500.0000", Consumed: fmt.Sprintf("%d.%04d", seq/10, seq%10*1000),
			Cleared: "0.0000", Relay: "closed", SimTime: t0, SentAt: t0}
		c, _ := ParseAmount(t.Consumed)
		t.Remaining = (500*amountOne - c).String()
		out[i] = message{wire.ChannelTelemetry, drn, mustJSON(t)}
	}
	return out
}

// BenchmarkAggregateReadings measures readings decoded, checked and
// applied per second by one aggregator, over 10 000 meters.
func BenchmarkAggregateReadings(b *testing.B) {
	msgs := readingPayloads(10_000, 200_000)
	a := newAggregator()
	now := t0.Add(time.Second)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		m := msgs[i%len(msgs)]
		if i == len(msgs) {
			// A second pass finds every reading stale: keep it fresh.
			a = newAggregator()
			i = 0
		}
		if err := a.handle(m.channel, m.drn, m.payload, now); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "readings/s")
}

// BenchmarkApplyReading measures the aggregation alone, the payload
// already decoded: the cost under the aggregator's lock.
func BenchmarkApplyReading(b *testing.B) {
	const meters = 10_000
	drns := make([]string, meters)
	for i := range drns {
		drns[i] = fmt.Sprintf("%011d", 30_000_000_000+i)
	}
	a := newAggregator()
	var tel wire.Telemetry
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		seq := uint64(i/meters + 1)
		r := reading{seq: seq, credited: 500 * amountOne, consumed: Amount(seq),
			remaining: 500*amountOne - Amount(seq)}
		a.applyReading(drns[i%meters], 0, r, tel, false, t0)
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "readings/s")
}
