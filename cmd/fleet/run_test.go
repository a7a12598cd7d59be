package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/stsfleet/stsfleet/fleet"
	"github.com/stsfleet/stsfleet/fleet/stack"
	"github.com/stsfleet/stsfleet/vending"
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
	// Interrupted is absent from a complete run's summary.
	Interrupted bool `json:"interrupted"`
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
	if !s.Passed || s.Interrupted || s.Meters != 50 || s.TokensVended < 50 ||
		s.TokensLost != 0 {
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
	if _, ok := s.LatencyMS["p999"]; !ok || len(s.LatencyMS) != 4 {
		t.Errorf("latency_ms %v, want p50, p90, p99 and p999", s.LatencyMS)
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

// TestAllInOneStateContinues runs the all-in-one twice on one --state:
// the second run takes up the first one's fleet, meters, ledger and
// simulated time, so its tokens carry TIDs the meters have not seen and
// conservation holds over both runs.
func TestAllInOneStateContinues(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	runOnce := func(n int) (summaryJSON, []byte) {
		t.Helper()
		path := filepath.Join(dir, fmt.Sprintf("summary%d.json", n))
		events := filepath.Join(dir, fmt.Sprintf("events%d.ndjson", n))
		var out, errOut bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// Every customer buys at every wake-up, in both runs.
		code := run(ctx, []string{"--state", state, "--meters", "4", "--sim-days", "0.25",
			"--duration", "1s", "--step", "1h", "--buy-below", "electricity=10000",
			"--buy-below", "water=10000", "--buy-below", "gas=10000", "--quiet",
			"--summary", path, "--events", events}, &out, &errOut)
		if code != 0 {
			t.Fatalf("run %d: exit code %d\n%s%s", n, code, out.String(), errOut.String())
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var s summaryJSON
		if err := json.Unmarshal(data, &s); err != nil {
			t.Fatal(err)
		}
		ev, err := os.ReadFile(events)
		if err != nil {
			t.Fatal(err)
		}
		return s, ev
	}
	first, _ := runOnce(1)
	second, events := runOnce(2)

	if !second.Passed || second.TokensVended <= first.TokensVended ||
		second.TokensAccepted != second.TokensVended {
		t.Errorf("second run: passed %v, %d of %d tokens accepted; the first vended %d",
			second.Passed, second.TokensAccepted, second.TokensVended, first.TokensVended)
	}
	// The clock goes on where the first run stopped, so the meters live
	// through a second span rather than wait for the first one's end.
	c1, err1 := strconv.ParseFloat(first.EnergyConsumedKWh, 64)
	c2, err2 := strconv.ParseFloat(second.EnergyConsumedKWh, 64)
	if err1 != nil || err2 != nil || c1 <= 0 || c2-c1 < c1/2 {
		t.Errorf("consumed %s kWh after the first run and %s after the second: want the "+
			"second span to consume about as much as the first", first.EnergyConsumedKWh,
			second.EnergyConsumedKWh)
	}
	outcomes := map[string]int{}
	for line := range bytes.Lines(events) {
		var e struct {
			Outcome string `json:"outcome"`
		}
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("event %q: %v", line, err)
		}
		outcomes[e.Outcome]++
	}
	if want := second.TokensVended - first.TokensVended; len(outcomes) != 1 ||
		int64(outcomes["accept"]) != want {
		t.Errorf("second run's outcomes %v, want %d accept", outcomes, want)
	}
	// The ledger and the generated fleet's vending keys are the owner's.
	for _, name := range []string{stack.StateLedger, vending.KeyStoreFile} {
		fi, err := os.Stat(filepath.Join(state, name))
		if err != nil {
			t.Errorf("state %s: %v", name, err)
		} else if fi.Mode().Perm() != 0o600 {
			t.Errorf("state %s: mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
}

// interruptOnProgress is a stderr that sends the run a SIGINT, as its
// context's cause, at the first line holding marker (" sim " when empty,
// the all-in-one's progress line): the run is under way.
type interruptOnProgress struct {
	cancel context.CancelCauseFunc
	marker string

	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *interruptOnProgress) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	marker := w.marker
	if marker == "" {
		marker = " sim "
	}
	if bytes.Contains(p, []byte(marker)) {
		w.cancel(signalError{sig: syscall.SIGINT})
	}
	return w.buf.Write(p)
}

func (w *interruptOnProgress) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestInterruptedRun(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "summary.json")
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var out bytes.Buffer
	errOut := &interruptOnProgress{cancel: cancel}
	code := run(ctx, []string{"--meters", "10", "--sim-days", "1", "--duration", "1m",
		"--summary", path, "--no-analytics", "--db", filepath.Join(dir, "ledger.db")},
		&out, errOut)
	if code != 130 {
		t.Errorf("exit code %d, want 130; stderr:\n%s", code, errOut)
	}
	if !strings.Contains(errOut.String(), "run interrupted after") {
		t.Errorf("stderr does not say the run was interrupted:\n%s", errOut)
	}
	if !regexp.MustCompile(`(?m)^interrupted +after \S+ of 1m0s \(SIGINT\)$`).
		MatchString(out.String()) {
		t.Errorf("table does not report the interruption:\n%s", out.String())
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
	// The run ended early, but in order: what was vended is accounted for.
	if !s.Interrupted || !s.Passed || s.Meters != 10 {
		t.Errorf("summary %+v: want interrupted, 10 meters, conservation passed", s)
	}
}

func TestExitCodeInterrupted(t *testing.T) {
	sigint := &interruptedError{when: "after 1s of 1m0s (SIGINT)",
		cause: signalError{sig: syscall.SIGINT}}
	sigterm := &interruptedError{when: "after 1s of 1m0s (SIGTERM)",
		cause: signalError{sig: syscall.SIGTERM}}
	cancelled := &interruptedError{when: "after 1s of 1m0s", cause: context.Canceled}
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"success", nil, 0},
		{"failure", errConservation, 1},
		{"sigint", sigint, 130},
		{"sigterm", sigterm, 143},
		{"sigint and conservation failed", errors.Join(sigint, errConservation), 130},
		{"cancelled without a signal", cancelled, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := exitCode(tc.err); got != tc.want {
				t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
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
		{"no meters", []string{"--meters", "0"}, "--meters 0: want at least 1"},
		{"negative meters", []string{"--meters", "-3"}, "--meters -3: want at least 1"},
		{"no simulated days", []string{"--sim-days", "0"}, "--sim-days 0: want more than 0"},
		{"negative simulated days", []string{"--sim-days", "-1"}, "--sim-days -1"},
		{"no duration", []string{"--duration", "0"}, "--duration 0s: want more than 0"},
		{"no speed", []string{"--sim-speed", "0"}, "--sim-speed 0: want more than 0"},
		{"no step", []string{"--step", "0"}, "--step 0s: want more than 0"},
		{"negative step", []string{"--step", "-1m"}, "--step -1m0s"},
		{"no telemetry interval", []string{"--telemetry-interval", "0"},
			"--telemetry-interval 0: want more than 0"},
		{"no connect rate", []string{"--connect-rate", "0"},
			"--connect-rate 0: want more than 0"},
		{"negative connect rate", []string{"--connect-rate", "-5"}, "--connect-rate -5"},
		{"no drain", []string{"--drain", "0"}, "--drain 0s: want more than 0"},
		{"negative drain", []string{"--drain", "-5s"}, "--drain -5s: want more than 0"},
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

// TestRunFlagValues checks that values the flags' help allows reach the
// fleet's configuration as given, not as defaults.
func TestRunFlagValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want func(fleet.Config) bool
	}{
		{"final readings only", []string{"--telemetry-interval", "-1s"},
			func(c fleet.Config) bool { return c.TelemetryInterval < 0 }},
		{"step", []string{"--step", "5m"},
			func(c fleet.Config) bool { return c.Step == 5*time.Minute }},
		{"connect rate", []string{"--connect-rate", "0.5"},
			func(c fleet.Config) bool { return c.ConnectRate == 0.5 }},
		{"defaults", nil, func(c fleet.Config) bool {
			return c.Step == fleet.DefaultStep && c.ConnectRate == fleet.DefaultConnectRate &&
				c.TelemetryInterval == fleet.DefaultTelemetryInterval
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultRunConfig()
			cmd := &cobra.Command{}
			addRunFlags(cmd, &cfg)
			if err := cmd.ParseFlags(append(tc.args, "--no-analytics")); err != nil {
				t.Fatal(err)
			}
			sc, _, err := cfg.stackConfig(io.Discard)
			if err != nil {
				t.Fatalf("stack config: %v", err)
			}
			if !tc.want(sc.Fleet) {
				t.Errorf("fleet config %+v does not hold %v", sc.Fleet, tc.args)
			}
		})
	}
}
