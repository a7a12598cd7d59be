package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// summaryJSON is the --summary document, decoded strictly so that a field
// added or renamed fails the test.
type summaryJSON struct {
	Meters              int64                     `json:"meters"`
	TokensVended        int64                     `json:"tokens_vended"`
	TokensAccepted      int64                     `json:"tokens_accepted"`
	TokensRejected      int64                     `json:"tokens_rejected"`
	TokensPending       int64                     `json:"tokens_pending"`
	TokensLost          int64                     `json:"tokens_lost"`
	EnergySoldKWh       string                    `json:"energy_sold_kwh"`
	EnergyConsumedKWh   string                    `json:"energy_consumed_kwh"`
	CreditRemainingKWh  string                    `json:"credit_remaining_kwh"`
	ByUtility           map[string]utilitySummary `json:"by_utility"`
	TelemetrySent       int64                     `json:"telemetry_sent"`
	TelemetryAggregated int64                     `json:"telemetry_aggregated"`
	LatencyMS           map[string]float64        `json:"latency_ms"`
	Passed              bool                      `json:"passed"`
}

type utilitySummary struct {
	Unit      string `json:"unit"`
	Sold      string `json:"sold"`
	Consumed  string `json:"consumed"`
	Remaining string `json:"remaining"`
	Cleared   string `json:"cleared"`
}

func TestAllInOneRun(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "summary.json")
	events := filepath.Join(dir, "events.ndjson")
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := run(ctx, []string{"--meters", "50", "--sim-days", "0.5", "--duration", "1.5s",
		"--step", "1h", "--quiet", "--summary", path, "--events", events,
		"--db", filepath.Join(dir, "ledger.db")}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, errOut.String())
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s summaryJSON
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("summary: %v\n%s", err, data)
	}
	if !s.Passed || s.Meters != 50 || s.TokensVended < 50 || s.TokensLost != 0 {
		t.Errorf("summary %+v: want 50 meters, each buying, nothing lost, passed", s)
	}
	// Analytics runs by default and has at least every meter's final reading.
	if s.TelemetryAggregated < 50 || s.TelemetryAggregated > s.TelemetrySent {
		t.Errorf("telemetry aggregated %d of %d sent", s.TelemetryAggregated, s.TelemetrySent)
	}
	if s.TokensVended != s.TokensAccepted+s.TokensRejected+s.TokensPending {
		t.Errorf("vended %d != accepted %d + rejected %d + pending %d", s.TokensVended,
			s.TokensAccepted, s.TokensRejected, s.TokensPending)
	}
	for _, u := range []string{"electricity", "water", "gas"} {
		if _, ok := s.ByUtility[u]; !ok {
			t.Errorf("by_utility has no %s", u)
		}
	}
	if e := s.ByUtility["electricity"]; e.Unit != "kWh" || e.Sold != s.EnergySoldKWh ||
		e.Consumed != s.EnergyConsumedKWh || e.Remaining != s.CreditRemainingKWh {
		t.Errorf("top-level energy %s/%s/%s differs from electricity's %+v",
			s.EnergySoldKWh, s.EnergyConsumedKWh, s.CreditRemainingKWh, e)
	}
	if _, ok := s.LatencyMS["p99"]; !ok || len(s.LatencyMS) != 3 {
		t.Errorf("latency_ms %v, want p50, p90 and p99", s.LatencyMS)
	}
	if !strings.Contains(out.String(), "conservation  passed") {
		t.Errorf("table does not report conservation:\n%s", out.String())
	}

	// One event line per token the meters entered.
	ev, err := os.ReadFile(events)
	if err != nil {
		t.Fatal(err)
	}
	if n := int64(bytes.Count(ev, []byte("\n"))); n != s.TokensAccepted+s.TokensRejected {
		t.Errorf("%d event lines, want %d", n, s.TokensAccepted+s.TokensRejected)
	}
}

func TestRunBadFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		flag string
	}{
		{"transport", []string{"--transport", "udp"}, "--transport"},
		{"three of span, duration and speed", []string{"--sim-days", "1", "--duration", "1s",
			"--sim-speed", "2"}, "at most two"},
		{"shard", []string{"--shard", "2/2"}, "--shard"},
		{"buy", []string{"--buy", "steam=100"}, "--buy"},
		{"buy below", []string{"--buy-below", "water=lots"}, "--buy-below"},
		{"fleet without keys", []string{"--fleet", "fleet.json"}, "--keys"},
		{"sim start", []string{"--sim-start", "yesterday"}, "--sim-start"},
		{"telemetry qos", []string{"--telemetry-qos", "2"}, "--telemetry-qos"},
		{"purchase model", []string{"--purchase-model", "/nonexistent.json"},
			"--purchase-model"},
		{"arguments", []string{"extra"}, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(context.Background(), tc.args, &out, &errOut); code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if !strings.Contains(errOut.String(), tc.flag) {
				t.Errorf("stderr %q does not name %s", errOut.String(), tc.flag)
			}
		})
	}
}
