package fleet

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/stsfleet/stsfleet/simclock"
	"github.com/stsfleet/stsfleet/vending"
)

func TestMetricsLint(t *testing.T) {
	gen, err := vending.NewFleet(vending.FleetConfig{Meters: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	f, err := New(Config{Definition: gen.Definition, Injection: gen.Injection,
		Clock: simclock.New(time.Now(), 1), Broker: "tcp://127.0.0.1:1",
		FleetSecret: []byte("0123456789abcdef"), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if f.Len() != 3 {
		t.Errorf("fleet of %d meters, want 3", f.Len())
	}
	problems, err := promlint.NewWithMetricFamilies(gather(t, reg)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric %s: %s", p.Metric, p.Text)
	}
}

func gather(t *testing.T, reg *prometheus.Registry) []*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) < 5 {
		t.Errorf("%d metric families, want the fleet's", len(mfs))
	}
	return mfs
}

func TestFinalPace(t *testing.T) {
	for _, tc := range []struct {
		meters int
		rate   float64
		want   time.Duration
	}{{10, 100, 0}, {finalBurst + 100, 100, time.Second}, {finalBurst + 500, 50, 10 * time.Second}} {
		gen, err := vending.NewFleet(vending.FleetConfig{Meters: tc.meters, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		f, err := New(Config{Definition: gen.Definition, Injection: gen.Injection,
			Clock: simclock.New(time.Now(), 1), Broker: "tcp://127.0.0.1:1",
			FleetSecret: []byte("0123456789abcdef"), ConnectRate: tc.rate})
		if err != nil {
			t.Fatal(err)
		}
		if got := f.FinalPace(); got != tc.want {
			t.Errorf("%d meters at %g/s: final pace %v, want %v", tc.meters, tc.rate, got,
				tc.want)
		}
	}
}
