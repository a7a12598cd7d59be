package receipts

import (
	"bytes"
	"context"
	"io"
	"os"
	"runtime"
	"testing"
	"time"
)

// BenchmarkImportFixture imports the fixture repeated to about 1 MB, from
// memory: parse and check throughput.
func BenchmarkImportFixture(b *testing.B) {
	data, err := os.ReadFile("testdata/sample.txt")
	if err != nil {
		b.Fatal(err)
	}
	data = bytes.Repeat(append(data, '\n', '\n'), (1<<20)/len(data))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		_, err := Import(context.Background(), bytes.NewReader(data), Config{},
			func(*Receipt) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
	}
	mb := float64(len(data)) * float64(b.N) / (1 << 20)
	b.ReportMetric(mb/time.Since(start).Seconds(), "MiB/s")
}

// BenchmarkImportLarge streams a generated 100 MB export with 50,000
// distinct tokens and reports throughput and the peak live heap, which
// must not follow the input size.
func BenchmarkImportLarge(b *testing.B) {
	const size, distinct = 100 << 20, 50_000
	b.SetBytes(size)
	var peak uint64
	var elapsed time.Duration
	for b.Loop() {
		runtime.GC()
		hp := heapPeak{every: 4096}
		start := time.Now()
		sum, err := Import(context.Background(), newReceiptStream(size, distinct), Config{},
			func(*Receipt) error {
				hp.sample()
				return nil
			})
		elapsed += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if sum.DistinctTokens == 0 {
			b.Fatal("nothing accepted")
		}
		peak = max(peak, hp.peak)
	}
	b.ReportMetric(float64(size)*float64(b.N)/(1<<20)/elapsed.Seconds(), "MiB/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// BenchmarkParse measures one classic receipt.
func BenchmarkParse(b *testing.B) {
	m := Message{Line: 1, Parts: 1, Lines: []string{"Mtr:" + okMeter + " Token:" + okToken +
		kplcTail}}
	b.ReportAllocs()
	for b.Loop() {
		if r := Parse(m); r.Status != StatusAccept {
			b.Fatal(r.Reason)
		}
	}
}

// BenchmarkGenerator measures the synthetic export alone, to tell its cost
// from the import's in BenchmarkImportLarge.
func BenchmarkGenerator(b *testing.B) {
	const size = 100 << 20
	b.SetBytes(size)
	for b.Loop() {
		if _, err := io.Copy(io.Discard, newReceiptStream(size, 50_000)); err != nil {
			b.Fatal(err)
		}
	}
}
