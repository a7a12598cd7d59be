package stack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stsfleet/stsfleet/fleet"
	"github.com/stsfleet/stsfleet/vending"
)

// goodRun is a vendor account and meter registers that agree: 12.5 kWh
// and 1.0 m3 of water credited, part of it consumed, some gas cleared.
func goodRun() (vending.Summary, fleet.Totals) {
	v := vending.Summary{
		TokensVended: 5, TokensAccepted: 4, TokensDelivered: 1,
		Sold:     map[vending.Utility]string{"electricity": "12.5", "water": "1.0", "gas": "0.4"},
		Credited: map[vending.Utility]string{"electricity": "12.5", "water": "1.0", "gas": "0.4"},
		Latency: map[string]vending.LatencySummary{
			vending.LatencyVendToCredit: {Count: 5, P50: 3, P90: 7, P99: 9, P999: 11, Max: 12}},
	}
	t := fleet.Totals{
		vending.Electricity: {Credited: 125_000, Consumed: 100_001, Remaining: 24_999},
		vending.Water:       {Credited: 10_000, Remaining: 10_000},
		vending.Gas:         {Credited: 4_000, Consumed: 1_000, Cleared: 3_000},
	}
	return v, t
}

func TestBuildConservation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*vending.Summary, fleet.Totals)
		// failure is a word the failure must contain; empty for a pass.
		failure string
		// shard runs the check as shard 1/2 of the fleet.
		shard bool
	}{
		{"agreeing accounts pass", func(*vending.Summary, fleet.Totals) {}, "", false},
		{"pending tokens are accounted for", func(v *vending.Summary, _ fleet.Totals) {
			v.TokensVended, v.TokensPending = 6, 1
		}, "", false},
		{"a token in no state", func(v *vending.Summary, _ fleet.Totals) {
			v.TokensVended = 6
		}, "tokens", false},
		{"a lost token", func(v *vending.Summary, _ fleet.Totals) {
			v.TokensVended, v.TokensLost = 6, 1
		}, "lost", false},
		{"meters hold more than the vendor saw", func(_ *vending.Summary, t fleet.Totals) {
			e := t[vending.Electricity]
			e.Remaining++
			e.Credited++
			t[vending.Electricity] = e
		}, "electricity", false},
		{"one shard holds part of what the vendor sold", func(_ *vending.Summary,
			t fleet.Totals) {
			delete(t, vending.Water)
		}, "", true},
		{"one shard still checks the token states", func(v *vending.Summary, _ fleet.Totals) {
			v.TokensVended, v.TokensLost = 6, 1
		}, "lost", true},
		{"the vendor saw water credited that no meter holds", func(v *vending.Summary,
			_ fleet.Totals) {
			v.Credited[vending.Water] = "1.1"
		}, "water", false},
		{"registers that do not balance", func(_ *vending.Summary, t fleet.Totals) {
			g := t[vending.Gas]
			g.Credited = 5_000
			t[vending.Gas] = g
		}, "balance", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, totals := goodRun()
			tc.change(&v, totals)
			st := fleet.Stats{TelemetrySent: 9}
			if tc.shard {
				st.Shard = fleet.Shard{Index: 1, Count: 2}
			}
			s := Build(3, v, totals, st, 0)
			if s.Passed != (tc.failure == "") {
				t.Fatalf("passed %v, failures %v", s.Passed, s.Failures())
			}
			if tc.failure != "" && !strings.Contains(strings.Join(s.Failures(), ";"),
				tc.failure) {
				t.Errorf("failures %v do not name %q", s.Failures(), tc.failure)
			}
		})
	}
}

func TestSummaryJSON(t *testing.T) {
	v, totals := goodRun()
	s := Build(3, v, totals, fleet.Stats{TelemetrySent: 9}, 0)
	var buf bytes.Buffer
	if err := s.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := []string{"meters", "tokens_vended", "tokens_accepted", "tokens_rejected",
		"tokens_pending", "tokens_lost", "energy_sold_kwh", "energy_consumed_kwh",
		"credit_remaining_kwh", "by_utility", "telemetry_sent", "telemetry_aggregated",
		"latency_ms", "passed"}
	if len(got) != len(want) {
		t.Errorf("summary has %d fields, want %d: %s", len(got), len(want), buf.String())
	}
	for _, k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("summary lacks %s", k)
		}
	}
	if s.TokensAccepted != 5 || s.EnergySoldKWh != "12.5" || s.EnergyConsumedKWh != "10.0001" ||
		s.CreditRemainingKWh != "2.4999" {
		t.Errorf("summary %+v", s)
	}
	var lat struct {
		LatencyMS map[string]float64 `json:"latency_ms"`
	}
	if err := json.Unmarshal(buf.Bytes(), &lat); err != nil {
		t.Fatal(err)
	}
	l := v.Latency[vending.LatencyVendToCredit]
	wantMS := map[string]float64{"p50": l.P50, "p90": l.P90, "p99": l.P99, "p999": l.P999}
	if diff := cmp.Diff(wantMS, lat.LatencyMS); diff != "" {
		t.Errorf("latency_ms (-want +got):\n%s", diff)
	}
	var table bytes.Buffer
	if err := s.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if line := fmt.Sprintf("p50 %.1f  p90 %.1f  p99 %.1f  p999 %.1f", l.P50, l.P90, l.P99,
		l.P999); !strings.Contains(table.String(), line) {
		t.Errorf("table lacks %q:\n%s", line, table.String())
	}
	if got := s.ByUtility["gas"]; got != (UtilitySummary{Unit: "m3", Sold: "0.4",
		Consumed: "0.1", Remaining: "0.0", Cleared: "0.3"}) {
		t.Errorf("gas %+v", got)
	}
}
