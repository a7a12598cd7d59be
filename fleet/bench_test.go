package fleet_test

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/fleet"
	"github.com/stsfleet/stsfleet/fleet/stack"
	"github.com/stsfleet/stsfleet/simclock"
)

// BenchmarkMemoryPerMeter connects meters to the embedded broker in memory
// and reports what each costs, its MQTT client and the broker's side of
// its session included: heap and goroutine stacks, after a GC.
func BenchmarkMemoryPerMeter(b *testing.B) {
	const meters = 2000
	for range b.N {
		before := inUse()
		s, err := stack.Start(context.Background(), stack.Config{
			Meters: meters, Seed: 1, Clock: simclock.New(time.Now(), 1),
			DBPath: filepath.Join(b.TempDir(), "ledger.db"), FleetSecret: testSecret,
			Fleet: fleet.Config{Purchases: fleet.PurchasePolicy{Off: true},
				TelemetryInterval: -1},
		})
		if err != nil {
			b.Fatal(err)
		}
		after := inUse()
		b.ReportMetric(float64(after-before)/meters, "bytes/meter")
		b.ReportMetric(float64(runtime.NumGoroutine())/meters, "goroutines/meter")
		s.Shutdown(context.Background())
	}
}

func inUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}
