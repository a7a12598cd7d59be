package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runBench runs `fleet bench ARGS...` and returns its error and stdout.
func runBench(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := newBenchCmd()
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(ctx)
	t.Logf("stderr:\n%s", errOut.String())
	return out.String(), err
}

func TestBenchVendWritesReports(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"json": filepath.Join(dir, "vend.json"),
		"csv":  filepath.Join(dir, "vend.csv"),
		"html": filepath.Join(dir, "vend.html"),
	}
	out, err := runBench(t, "vend", "--meters", "20", "--rate", "100", "--duration", "2s",
		"--json", files["json"], "--csv", files["csv"], "--html", files["html"],
		"--threshold", "count(tokens_lost) == 0", "--threshold", "p99(vend_to_credit) < 10s",
		"--quiet")
	if err != nil {
		t.Fatalf("bench vend: %v\n%s", err, out)
	}
	if !strings.Contains(out, "tokens_accepted") || !strings.Contains(out, "PASS") {
		t.Errorf("table lacks the counts or the verdict:\n%s", out)
	}

	var res map[string]any
	data, err := os.ReadFile(files["json"])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatalf("json report: %v", err)
	}
	for name, want := range map[string]float64{"requests": 200, "tokens_vended": 200,
		"tokens_accepted": 200, "tokens_lost": 0, "tokens_timed_out": 0} {
		if got, ok := res[name].(float64); !ok || got != want {
			t.Errorf("json %s = %v, want %g", name, res[name], want)
		}
	}
	if rate, ok := res["achieved_rate"].(float64); !ok || rate <= 0 {
		t.Errorf("json achieved_rate = %v, want a positive rate", res["achieved_rate"])
	}
	if s, ok := res["series"].([]any); !ok || len(s) < 2 {
		t.Errorf("json series = %v, want a point per second", res["series"])
	}

	f, err := os.Open(files["csv"])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("csv report: %v", err)
	}
	if len(rows) < 3 || rows[0][0] != "second" {
		t.Errorf("csv has %d rows, header %v; want a header and a row per second", len(rows),
			rows[0])
	}

	page, err := os.ReadFile(files["html"])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "Throughput over time", "vend_to_credit distribution",
		"Outcomes", "tokens_accepted"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("html report lacks %q", want)
		}
	}
	for _, banned := range []string{"<script", "http://", "https://"} {
		if bytes.Contains(bytes.ReplaceAll(page, []byte(`xmlns="http://www.w3.org/2000/svg"`),
			nil), []byte(banned)) {
			t.Errorf("html report is not self-contained: it has %q", banned)
		}
	}
}

func TestBenchThresholdThatCannotHoldFails(t *testing.T) {
	out, err := runBench(t, "vend", "--meters", "10", "--rate", "50", "--duration", "1s",
		"--threshold", "p50(vend_to_credit) < 1ns", "--quiet")
	if !errors.Is(err, errThresholds) {
		t.Fatalf("bench vend with an impossible threshold: error %v, want errThresholds\n%s",
			err, out)
	}
	if !strings.Contains(out, "FAIL") {
		t.Errorf("table does not say FAIL:\n%s", out)
	}
}

func TestBenchBrokerRuns(t *testing.T) {
	out, err := runBench(t, "broker", "--clients", "10", "--rate", "200", "--duration", "1s",
		"--threshold", "count(messages_lost) == 0", "--quiet")
	if err != nil {
		t.Fatalf("bench broker: %v\n%s", err, out)
	}
	if !strings.Contains(out, "messages_received") {
		t.Errorf("table lacks messages_received:\n%s", out)
	}
}

func TestBenchRejectsBadFlags(t *testing.T) {
	for name, args := range map[string][]string{
		"bad stages":    {"vend", "--stages", "30s"},
		"bad threshold": {"vend", "--threshold", "p99(vend_to_credit) < 5 parsecs"},
		"unknown name":  {"broker", "--threshold", "count(nonsense) == 0"},
		"bad transport": {"broker", "--transport", "carrier-pigeon", "--duration", "1s"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := runBench(t, args...); err == nil || errors.Is(err, errThresholds) {
				t.Errorf("bench %v: error %v, want a flag error", args, err)
			}
		})
	}
}
