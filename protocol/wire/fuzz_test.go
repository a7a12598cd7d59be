package wire_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stsfleet/stsfleet/protocol/wire"
)

// addSamples seeds a fuzz target with the valid samples of one kind and a
// few broken ones.
func addSamples(f *testing.F, k wire.Kind) {
	for _, s := range validSamples {
		if s.kind != k {
			continue
		}
		data, err := json.Marshal(s.v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
		f.Add(append(data, data...))
	}
	for _, s := range []string{``, `null`, `{}`, `[]`, `"x"`, `{"token":1}`, `{"seq":-1}`,
		`{"sim_time":"yesterday"}`, `{"a":{"a":{"a":[]}}}`} {
		f.Add([]byte(s))
	}
}

// roundTrip checks that a decoded value survives encoding and decoding
// again unchanged.
func roundTrip[T any](t *testing.T, v T, decode func([]byte) (T, error)) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal a decoded value: %v", err)
	}
	again, err := decode(data)
	if err != nil {
		t.Fatalf("decode %s, the encoding of a decoded value: %v", data, err)
	}
	if diff := cmp.Diff(v, again); diff != "" {
		t.Fatalf("round trip changed the value (-first +second):\n%s", diff)
	}
}

func FuzzDecodeToken(f *testing.F) {
	addSamples(f, wire.KindToken)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := wire.DecodeToken(data)
		if err != nil {
			return
		}
		if m.VendID == "" || len(m.Token) != 20 {
			t.Fatalf("accepted %+v", m)
		}
		roundTrip(t, m, wire.DecodeToken)
	})
}

func FuzzDecodeResult(f *testing.F) {
	addSamples(f, wire.KindResult)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := wire.DecodeResult(data)
		if err != nil {
			return
		}
		roundTrip(t, m, wire.DecodeResult)
	})
}

func FuzzDecodeTelemetry(f *testing.F) {
	addSamples(f, wire.KindTelemetry)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := wire.DecodeTelemetry(data)
		if err != nil {
			return
		}
		if m.DRN == "" {
			t.Fatalf("accepted a reading without a DRN: %+v", m)
		}
		roundTrip(t, m, wire.DecodeTelemetry)
	})
}

func FuzzParseTopic(f *testing.F) {
	for _, k := range wire.Kinds {
		f.Add(wire.Topic("04000000010", k))
		f.Add(wire.TopicFilter(k))
	}
	for _, s := range []string{"", wire.TopicRoot, wire.TopicRoot + "x", wire.TopicRoot + "/token",
		wire.TopicRoot + "a/b/token", wire.SharedResultFilter, "sts/v2/meters/1/token"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		drn, k, err := wire.ParseTopic(topic)
		if err != nil {
			return
		}
		if got := wire.Topic(drn, k); got != topic {
			t.Fatalf("ParseTopic(%q) = %q, %q, which makes the topic %q", topic, drn, k, got)
		}
	})
}
