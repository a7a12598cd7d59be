package vending

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/simclock"
	"github.com/stsfleet/stsfleet/vending/ledger"
)

// discardPublisher takes every message, as a broker that is never slow.
type discardPublisher struct{}

func (discardPublisher) Publish(context.Context, string, byte, bool, []byte) error { return nil }

// BenchmarkVend measures full vends through the HTTP handler: decoding,
// pricing, TID allocation, token encryption, the ledger commit (group
// commit, fsynced) and the publication, with 64 requests in flight over a
// fleet of 2000 meters.
func BenchmarkVend(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts ledger.Options
	}{
		{"sync", ledger.Options{}},
		{"nosync", ledger.Options{NoSync: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f, err := NewFleet(FleetConfig{Meters: 2000, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			svc, err := New(context.Background(), Config{Definition: f.Definition, Keys: f.Keys,
				DBPath: filepath.Join(b.TempDir(), "ledger.db"), Ledger: bc.opts,
				Publisher: discardPublisher{}, Clock: simclock.Real()})
			if err != nil {
				b.Fatal(err)
			}
			defer svc.Close()
			h := svc.Handler()
			var next atomic.Int64
			meters := f.Definition.Meters
			b.SetParallelism(32)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					m := meters[next.Add(1)%int64(len(meters))]
					body := `{"meter":"` + m.DRN + `","amount":"100.00"}`
					req := httptest.NewRequest("POST", "/v1/vend", strings.NewReader(body))
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != http.StatusCreated {
						b.Errorf("vend: %d %s", w.Code, w.Body)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "vends/s")
		})
	}
}

// BenchmarkQuote measures the exact tariff arithmetic of a money vend on
// the default domestic tariff.
func BenchmarkQuote(b *testing.B) {
	p, err := DefaultTariffs()[0].compile()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := p.quoteMoney(uint64(i%2000), 10000); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeVendRequest measures the strict decoding of a vend body,
// as every POST /v1/vend does before anything else.
func BenchmarkDecodeVendRequest(b *testing.B) {
	body := []byte(`{"meter":"47000000019","amount":"100.00","currency":"KES"}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeVendRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckDuplicateKeys measures the duplicate key scan alone, on a
// vend body, the part of BenchmarkDecodeVendRequest it adds.
func BenchmarkCheckDuplicateKeys(b *testing.B) {
	body := []byte(`{"meter":"47000000019","amount":"100.00","currency":"KES"}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := checkDuplicateKeys(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeBatchRequest measures the strict decoding of a batch of
// 100 vends.
func BenchmarkDecodeBatchRequest(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"vends":[`)
	for i := range 100 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"meter":"47000000019","amount":"100.00","idempotency_key":"k-%d"}`, i)
	}
	sb.WriteString(`]}`)
	body := []byte(sb.String())
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeBatchRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleNewFleet() {
	f, err := NewFleet(FleetConfig{Meters: 3, Seed: 1})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(f.Definition.Meters), "meters,", len(f.Injection), "decoder keys,", f.Keys)
	// Output: 3 meters, 3 decoder keys, KeyStore(DKGA02, DKGA04)
}
