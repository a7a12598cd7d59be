package scenarios

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/scenarios/threshold"
	"github.com/stsfleet/stsfleet/vending"
)

// TestRunSourceLatency checks that every latency function of the
// threshold grammar reads its own figure of the vendor's summary.
func TestRunSourceLatency(t *testing.T) {
	src := runSource{latency: map[string]vending.LatencySummary{
		vending.LatencyVendToCredit: {Count: 9, P50: 1, P90: 2, P99: 3, P999: 4, Max: 5},
		vending.LatencyVendToIssue:  {},
	}}
	tests := []struct {
		fn   threshold.Func
		want time.Duration
	}{
		{threshold.P50, time.Millisecond},
		{threshold.P90, 2 * time.Millisecond},
		{threshold.P99, 3 * time.Millisecond},
		{threshold.P999, 4 * time.Millisecond},
		{threshold.Max, 5 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.fn.String(), func(t *testing.T) {
			got, ok := src.Latency(vending.LatencyVendToCredit, tt.fn.Quantile())
			if !ok || got != tt.want {
				t.Errorf("%s = %v, %v; want %v, true", tt.fn, got, ok, tt.want)
			}
			if _, ok := src.Latency(vending.LatencyVendToIssue, tt.fn.Quantile()); ok {
				t.Errorf("%s of a latency without samples has a value", tt.fn)
			}
		})
	}
}

// TestScenarioP999Threshold runs a scenario whose threshold is on p999:
// it is evaluated from the vendor's summary, not reported as without data.
func TestScenarioP999Threshold(t *testing.T) {
	sc, err := Parse("p999.yaml", []byte(`
name: p999
description: the slowest thousandth of vends is measured
fleet: {meters: 2}
speed: 600
thresholds: ["p999(vend_to_credit) < 3600s", "p999(vend_to_credit) >= 1us"]
steps:
  - vend: {units: "1.0"}
`))
	if err != nil {
		t.Fatal(err)
	}
	rep := RunScenario(context.Background(), sc, StackConfig{})
	if len(rep.Thresholds) != 2 {
		t.Fatalf("%d thresholds reported, want 2: %+v", len(rep.Thresholds), rep)
	}
	for _, c := range rep.Thresholds {
		if !c.Pass || strings.Contains(c.Got, "no data") || c.Got == "" {
			t.Errorf("threshold %s: got %q, pass %v; want a value that holds", c.Name, c.Got,
				c.Pass)
		}
	}
}
