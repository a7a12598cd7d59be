package fleet_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/stsfleet/stsfleet/fleet/stack"
	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/simclock"
	"github.com/stsfleet/stsfleet/vending"
)

// TestMetricsAfterVendsAndReplays vends ten tokens, types two of them
// again at the keypad, and checks the fleet's counters through the stack's
// /metrics gatherer: ten accepts over MQTT, two used_error at the keypad,
// no lock-out, and a relay gauge for every utility that agrees with the
// meters' own views.
func TestMetricsAfterVendsAndReplays(t *testing.T) {
	cfg := stack.Config{
		Meters: 5, Seed: 11, Clock: simclock.New(time.Now(), 60),
		DBPath: filepath.Join(t.TempDir(), "ledger.db"), Fleet: quietMeters(),
	}
	s := startStack(t, cfg)
	ctx := context.Background()

	var sold []*vending.VendResponse
	for i := range 10 {
		r := vend(t, s, s.Definition.Meters[i%5].DRN, "2.0")
		sold = append(sold, r)
	}
	for _, r := range sold {
		waitFor(t, "the token accepted", func() bool {
			return vendState(t, s, r.VendID).State == "accepted"
		})
	}
	for _, r := range sold[:2] {
		res, err := s.Fleet.Type(ctx, r.Meter, r.Token)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != sts.UsedError {
			t.Fatalf("replay of %s: %s, want used_error", r.VendID, res.Outcome)
		}
	}

	mfs, err := s.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}

	outcomes := family(t, mfs, "fleet_token_outcomes_total")
	for _, c := range []struct {
		outcome, source string
		want            float64
	}{
		{"accept", "mqtt", 10},
		{"used_error", "keypad", 2},
		{"accept", "keypad", 0},
		{"used_error", "mqtt", 0},
		{"crc_error", "keypad", 0},
	} {
		got, ok := value(outcomes, map[string]string{"outcome": c.outcome, "source": c.source})
		if !ok || got != c.want {
			t.Errorf("fleet_token_outcomes_total{outcome=%q,source=%q} = %v (present %v), want %v",
				c.outcome, c.source, got, ok, c.want)
		}
	}
	if got, _ := value(family(t, mfs, "fleet_keypad_lockouts_total"), nil); got != 0 {
		t.Errorf("fleet_keypad_lockouts_total = %v, want 0", got)
	}

	open := map[vending.Utility]float64{}
	for _, m := range s.Definition.Meters {
		if meterView(t, s, m.DRN).Relay == "open" {
			open[m.Utility]++
		}
	}
	relays := family(t, mfs, "fleet_relays_open")
	for _, u := range vending.Utilities {
		got, ok := value(relays, map[string]string{"utility": string(u)})
		if !ok || got != open[u] {
			t.Errorf("fleet_relays_open{utility=%q} = %v (present %v), want %v", u, got, ok,
				open[u])
		}
	}
}

func family(t *testing.T, mfs []*dto.MetricFamily, name string) *dto.MetricFamily {
	t.Helper()
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	t.Fatalf("no metric family %s", name)
	return nil
}

// value returns the value of the series of mf with exactly these labels.
func value(mf *dto.MetricFamily, labels map[string]string) (float64, bool) {
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}
