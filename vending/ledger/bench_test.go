package ledger

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkGroupCommit measures vend inserts (a vend, its token and the
// meter's state) submitted by 64 concurrent writers, for the durability
// and batching options.
func BenchmarkGroupCommit(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"sync/window=0", Options{}},
		{"sync/window=1ms", Options{Window: time.Millisecond}},
		{"nosync/window=0", Options{NoSync: true}},
		{"sync/one-per-commit", Options{MaxBatch: 1}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var commits, batched atomic.Int64
			opts := bc.opts
			opts.OnCommit = func(n int, _ time.Duration, _ error) {
				commits.Add(1)
				batched.Add(int64(n))
			}
			l, err := Open(context.Background(), filepath.Join(b.TempDir(), "l.db"), opts)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			const meters = 256
			for i := range meters {
				if err := l.Submit(context.Background(), AddMeter(fmt.Sprint(i), []byte(`{}`),
					t0)); err != nil {
					b.Fatal(err)
				}
			}
			commits.Store(0)
			batched.Store(0)
			var seq atomic.Int64
			const writers = 64
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			per := (b.N + writers - 1) / writers
			for range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range per {
						n := seq.Add(1)
						m := fmt.Sprint(n % meters)
						// IDs in time order, as the service makes them.
						v := testVend(fmt.Sprintf("v%012d", n), m, uint32(n))
						ms := MeterState{DRN: m, LastTID: n, Month: "2026-12", MonthUnits: 49,
							LastVend: v.ID}
						if err := l.Submit(context.Background(), InsertVend(v, ms)); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.ReportMetric(float64(per*writers)/elapsed.Seconds(), "writes/s")
			if c := commits.Load(); c > 0 {
				b.ReportMetric(float64(batched.Load())/float64(c), "writes/commit")
			}
		})
	}
}
