package analytics

import (
	"testing"

	"github.com/stsfleet/stsfleet/protocol/wire"
)

// FuzzHandle feeds arbitrary payloads on every channel to an aggregator
// that already holds a meter: nothing panics, and whatever is accepted
// keeps every utility's books balanced.
func FuzzHandle(f *testing.F) {
	msgs, _ := generate(1, 2, 6, t0)
	for _, m := range msgs {
		for i, c := range wire.Channels {
			if c == m.channel {
				f.Add(uint8(i), m.payload)
			}
		}
	}
	f.Add(uint8(0), []byte(`{"vend_id":"x","outcome":"accept"}`))
	f.Add(uint8(1), []byte(`{"drn":"10000000000","seq":99}`))
	f.Fuzz(func(t *testing.T, ch uint8, payload []byte) {
		a := newAggregator()
		feed(t, a, msgs[:1])
		drn := msgs[0].drn
		c := wire.Channels[int(ch)%len(wire.Channels)]
		_ = a.handle(c, drn, payload, t0)

		s := a.summary("", 0)
		for u, b := range s.ByUtility {
			if b.Credited != b.Consumed+b.Remaining+b.Cleared {
				t.Fatalf("%s: credited %s != consumed %s + remaining %s + cleared %s",
					u, b.Credited, b.Consumed, b.Remaining, b.Cleared)
			}
			if b.Meters < 0 || b.Vends < 0 || b.Sold < 0 {
				t.Fatalf("%s: negative totals %+v", u, b)
			}
		}
		if s.TokensPending < 0 || s.Meters > 2 {
			t.Fatalf("pending %d, meters %d", s.TokensPending, s.Meters)
		}
	})
}
