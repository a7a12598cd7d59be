package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/bench"
	"github.com/stsfleet/stsfleet/bench/load"
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
		"vend latency on broker": {"broker", "--duration", "1s", "--clients", "2",
			"--threshold", "p99(vend_to_credit)<50ms"},
		"vend count on broker": {"broker", "--duration", "1s", "--clients", "2",
			"--threshold", "count(tokens_lost)==0"},
		"bad transport": {"broker", "--transport", "carrier-pigeon", "--duration", "1s"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := runBench(t, args...); err == nil || errors.Is(err, errThresholds) {
				t.Errorf("bench %v: error %v, want a flag error", args, err)
			}
		})
	}
}

func TestBenchChecksReportPathsBeforeTheRun(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing", "x.json")
	tests := []struct {
		name string
		args []string
		// want are the flag and path each error must name.
		want []string
	}{
		{"vend missing directory", []string{"vend", "--duration", "1s", "--json", missing},
			[]string{"--json " + missing, "does not exist"}},
		{"vend directory as file", []string{"vend", "--duration", "1s", "--csv", dir},
			[]string{"--csv " + dir, "is a directory"}},
		{"vend every bad flag", []string{"vend", "--duration", "1s", "--json", missing,
			"--html", dir},
			[]string{"--json " + missing, "--html " + dir}},
		{"broker", []string{"broker", "--duration", "1s", "--html", missing},
			[]string{"--html " + missing}},
		{"connect", []string{"connect", "--json", missing}, []string{"--json " + missing}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A run would print a table: the check must refuse before
			// anything starts.
			out, err := runBench(t, tt.args...)
			if err == nil {
				t.Fatalf("bench %v: no error", tt.args)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if out != "" {
				t.Errorf("the bench ran before the paths were checked:\n%s", out)
			}
		})
	}
}

// smallReport is the report of a run of two requests on a fake clock.
func smallReport(t *testing.T) *bench.Report {
	t.Helper()
	t0 := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	rec, err := load.NewRecorder(load.RecorderConfig{Names: bench.VendNames,
		Profile: load.Constant(2, time.Second), Start: t0, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	for k := range 2 {
		rec.Fired(load.Arrival{Seq: int64(k), Intended: t0, Rate: 2})
		rec.Issued()
		rec.Observe(bench.VendNames.Latencies[0], time.Millisecond)
		rec.Settle(load.Accepted, "")
	}
	return &bench.Report{Result: rec.Result(), Passed: true}
}

func TestBenchWritesTheReportsItCan(t *testing.T) {
	dir := t.TempDir()
	// The directory was there when the run started, and is gone at its end.
	bad := filepath.Join(dir, "gone", "x.json")
	f := benchFlags{JSON: bad, CSV: filepath.Join(dir, "good.csv"),
		HTML: filepath.Join(dir, "good.html")}
	err := f.finish(context.Background(), io.Discard, smallReport(t))
	if err == nil || !strings.Contains(err.Error(), "--json "+bad) {
		t.Errorf("error %v, want one naming --json %s", err, bad)
	}
	for _, path := range []string{f.CSV, f.HTML} {
		if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
			t.Errorf("%s not written after another report failed: %v", path, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("directory holds %d files, want the two reports only", len(entries))
	}
}

func TestBenchHelpShowsThresholdsOfItsOwn(t *testing.T) {
	for kind, names := range map[string]load.Names{"vend": bench.VendNames,
		"broker": bench.BrokerNames} {
		t.Run(kind, func(t *testing.T) {
			out, err := runBench(t, kind, "--help")
			if err != nil {
				t.Fatal(err)
			}
			line := ""
			for l := range strings.Lines(out) {
				if strings.Contains(l, "--threshold") {
					line = l
				}
			}
			_, example, _ := strings.Cut(line, "'")
			example, _, _ = strings.Cut(example, "'")
			if _, err := bench.ParseThreshold(names, example); example == "" || err != nil {
				t.Errorf("--threshold help %q: its example is not one of the bench's: %v",
					line, err)
			}
		})
	}
}

// nextFlag finds the start of the next flag in a help text.
var nextFlag = regexp.MustCompile(`\n\s+-`)

func TestBenchHelpSaysTheDefaults(t *testing.T) {
	tests := []struct {
		bench, flag, want string
	}{
		{"vend", "--ledger-window", "0: the vendor's default"},
		{"vend", "--rate", "(default 1000)"},
		{"vend", "--meters", "(default 1000)"},
		{"vend", "--batch-wait", "(default 2ms)"},
		{"broker", "--refine", "(default 2)"},
		{"broker", "--drain", "(default 2x --timeout)"},
		{"connect", "--meters", "(default 10000)"},
		{"connect", "--rate", "(default 4000)"},
	}
	for _, tt := range tests {
		t.Run(tt.bench+" "+tt.flag, func(t *testing.T) {
			out, err := runBench(t, tt.bench, "--help")
			if err != nil {
				t.Fatal(err)
			}
			// A flag's help runs from its name on its own line to the next
			// flag.
			start := regexp.MustCompile(`(?m)^\s+(-\w, )?` + regexp.QuoteMeta(tt.flag) + ` `)
			help := ""
			if loc := start.FindStringIndex(out); loc != nil {
				help = out[loc[1]:]
			}
			if loc := nextFlag.FindStringIndex(help); loc != nil {
				help = help[:loc[0]]
			}
			if !strings.Contains(help, tt.want) {
				t.Errorf("%s help %q does not say %q", tt.flag, help, tt.want)
			}
		})
	}
}

func TestBenchRefusesFlagValuesItCannotRun(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"vend rate 0", []string{"vend", "--rate", "0"}, "--rate 0: want more than 0"},
		{"vend rate negative with stages", []string{"vend", "--stages", "1s:10", "--rate", "-1"},
			"--rate -1: want 0 or more"},
		{"vend duration 0", []string{"vend", "--duration", "0s"}, "--duration 0s: want more"},
		{"vend meters 0", []string{"vend", "--meters", "0"}, "--meters 0: want at least 1"},
		{"vend batch 0", []string{"vend", "--batch", "0"}, "--batch 0: want 1 to 1000"},
		{"vend amount", []string{"vend", "--amount", "abc"}, `--amount "abc"`},
		{"find-max with stages", []string{"vend", "--find-max", "--stages", "1s:5"},
			"--find-max runs steps of constant rate"},
		{"vend negative amount", []string{"vend", "--amount", "-5"}, `--amount "-5"`},
		{"broker payload", []string{"broker", "--payload", "2000000000"},
			"--payload 2000000000: want 16 to 1048576 bytes"},
		{"vend batch 1001", []string{"vend", "--batch", "1001"}, "--batch 1001: want 1 to 1000"},
		{"vend batch wait 0", []string{"vend", "--batch", "8", "--batch-wait", "0s"},
			"--batch-wait 0s: want more than 0"},
		{"vend batch wait negative", []string{"vend", "--batch-wait", "-1s"},
			"--batch-wait -1s: want more than 0"},
		{"vend http conns 0", []string{"vend", "--http-conns", "0"}, "--http-conns 0: want"},
		{"vend api", []string{"vend", "--api", "smoke-signals"}, `--api "smoke-signals": want`},
		{"vend ledger window too long", []string{"vend", "--ledger-window", "2s"},
			"--ledger-window 2s: want at most 1s"},
		{"vend timeout 0", []string{"vend", "--timeout", "0s"}, "--timeout 0s: want more"},
		{"vend drain 0", []string{"vend", "--drain", "0s"}, "--drain 0s: want more than 0"},
		{"vend max inflight 0", []string{"vend", "--max-inflight", "0"},
			"--max-inflight 0: want at least 1"},
		{"vend compare broker alone", []string{"vend", "--compare-broker"},
			"--compare-broker: want --find-max"},
		{"find-max step rate 0", []string{"vend", "--find-max", "--step-rate", "0"},
			"--step-rate 0: want more than 0"},
		{"find-max step duration 0", []string{"broker", "--find-max", "--step-duration", "0s"},
			"--step-duration 0s: want more than 0"},
		{"find-max refine negative", []string{"broker", "--find-max", "--refine", "-1"},
			"--refine -1: want 0 or more"},
		{"find-max max rate below start", []string{"broker", "--find-max", "--rate", "500",
			"--max-rate", "100"}, "--max-rate 100: below the start rate 500"},
		{"broker transport", []string{"broker", "--transport", "carrier-pigeon"},
			`--transport "carrier-pigeon": want mem or tcp`},
		{"broker clients 0", []string{"broker", "--clients", "0"}, "--clients 0: want at least"},
		{"broker vendors 0", []string{"broker", "--vendors", "0"}, "--vendors 0: want at least"},
		{"broker payload 0", []string{"broker", "--payload", "0"},
			"--payload 0: want 16 to 1048576 bytes"},
		{"connect meters 0", []string{"connect", "--meters", "0"}, "--meters 0: want at least 1"},
		{"connect meters negative", []string{"connect", "--meters", "-5"},
			"--meters -5: want at least 1"},
		{"connect rate 0", []string{"connect", "--rate", "0"}, "--rate 0: want more than 0"},
		{"connect hold 0", []string{"connect", "--hold", "0s"}, "--hold 0s: want more than 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Every bench defaults to seconds of load, and connect to a
			// broker process: a refusal must come before any of it.
			out, err := runBench(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("bench %v: error %v, want %q", tt.args, err, tt.want)
			}
			if out != "" {
				t.Errorf("bench %v ran before refusing:\n%s", tt.args, out)
			}
		})
	}
}

func TestInterruptedBenchReportsWhatRan(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vend.json")
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var out bytes.Buffer
	// At the bench's first progress line.
	errOut := &interruptOnProgress{cancel: cancel, marker: " in flight "}
	code := run(ctx, []string{"bench", "vend", "--meters", "10", "--rate", "50", "--duration",
		"1m", "--json", path}, &out, errOut)
	if code != 130 {
		t.Errorf("exit code %d, want 130; stderr:\n%s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "INTERRUPTED after") {
		t.Errorf("table does not say the bench was interrupted:\n%s", out.String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no report of the interrupted bench: %v", err)
	}
	var rep struct {
		Interrupted  bool    `json:"interrupted"`
		Passed       bool    `json:"passed"`
		AchievedRate float64 `json:"achieved_rate"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	// Rated over the seconds it ran, not over the minute it was to run.
	if !rep.Interrupted || rep.Passed || rep.AchievedRate < 25 {
		t.Errorf("report %+v, want interrupted, not passed, near 50/s", rep)
	}
}
