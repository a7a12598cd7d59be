package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// wrongExpectations each carry one deliberately wrong expectation of a
// different kind; the run must exit 1 and name it.
var wrongExpectations = []struct {
	name, yaml, check string
}{
	{"outcomes", `
name: wrong-outcomes
description: a replay is not accepted
fleet: {meters: 2, mix: {electricity: 1}}
speed: 600
steps:
  - vend: {units: "1.0"}
  - replay: {}
    expect: {outcomes: {accept: 2}}
`, "outcomes.accept"},
	{"credited", `
name: wrong-credit
description: five units are not four
fleet: {meters: 2}
speed: 600
steps:
  - vend: {units: "5.0"}
    expect: {credited: "4.0"}
`, "credited.each"},
	{"credited-total", `
name: wrong-credit-total
description: two meters of five units are ten
fleet: {meters: 2}
speed: 600
steps:
  - vend: {units: "5.0"}
    expect: {credited: {total: "9.0"}}
`, "credited.total"},
	{"vendor-refusals", `
name: wrong-refusals
description: the vendor refuses all three
fleet: {meters: 3, ken: 96}
speed: 600
steps:
  - vend: {units: "1.0"}
    expect: {vendor_refusals: {key_expired: 2}}
`, "vendor_refusals.key_expired"},
	{"acl-refusals", `
name: wrong-acl
description: two publishes are refused, not three
fleet: {meters: 2}
speed: 600
steps:
  - spoof: {meters: 1}
    expect: {acl_refusals: 3}
`, "acl_refusals"},
	{"delivered", `
name: wrong-delivered
description: one queued token arrives, not two
fleet: {meters: 2}
speed: 600
steps:
  - offline: {meters: 1}
  - vend: {meters: 1, units: "1.0"}
  - online: {meters: 1}
    expect: {delivered: 2}
`, "delivered"},
	{"double-credits", `
name: wrong-double
description: nothing is credited twice
fleet: {meters: 2}
speed: 600
steps:
  - vend: {units: "1.0"}
  - duplicate: {}
    expect: {double_credits: 1}
`, "double_credits"},
	{"threshold", `
name: wrong-threshold
description: nothing is lost
fleet: {meters: 2}
speed: 600
thresholds: ["count(tokens_lost) == 1"]
steps:
  - vend: {units: "1.0"}
`, "count(tokens_lost) == 1"},
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestScenarioWrongExpectation(t *testing.T) {
	for _, tt := range wrongExpectations {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := writeFile(t, "s.yaml", tt.yaml)
			report := filepath.Join(t.TempDir(), "report.json")
			var out, errOut bytes.Buffer
			code := runScenarioFiles(context.Background(), scenarioConfig{Report: report},
				[]string{file}, &out, &errOut)
			if code != exitFailed {
				t.Fatalf("exit %d, want %d\n%s%s", code, exitFailed, out.String(), errOut.String())
			}
			if !strings.Contains(out.String(), "FAIL") || !strings.Contains(out.String(),
				tt.check) {
				t.Errorf("report does not name %s as failed:\n%s", tt.check, out.String())
			}
			var doc struct {
				Passed    bool `json:"passed"`
				Scenarios []struct {
					Steps []struct {
						Checks []struct {
							Name string `json:"name"`
							Pass bool   `json:"pass"`
						} `json:"checks"`
					} `json:"steps"`
					Thresholds []struct {
						Name string `json:"name"`
						Pass bool   `json:"pass"`
					} `json:"thresholds"`
				} `json:"scenarios"`
			}
			data, err := os.ReadFile(report)
			if err != nil {
				t.Fatal(err)
			}
			if entries, _ := os.ReadDir(filepath.Dir(report)); len(entries) != 1 {
				t.Errorf("report directory holds %d files, want the report alone", len(entries))
			}
			if err := json.Unmarshal(data, &doc); err != nil {
				t.Fatal(err)
			}
			failed := map[string]bool{}
			for _, s := range doc.Scenarios {
				for _, st := range s.Steps {
					for _, c := range st.Checks {
						if !c.Pass {
							failed[c.Name] = true
						}
					}
				}
				for _, c := range s.Thresholds {
					if !c.Pass {
						failed[c.Name] = true
					}
				}
			}
			if doc.Passed || len(failed) != 1 || !failed[tt.check] {
				t.Errorf("JSON report: passed %v, failed checks %v, want only %s", doc.Passed,
					failed, tt.check)
			}
		})
	}
}

func TestScenarioInvalidFile(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown field", "name: x\ndescription: d\nfleet: {meters: 2}\nsteps:\n" +
			"  - vend: {units: \"1.0\", price: 3}\n", "s.yaml:5:26: steps[0].vend.price: unknown field \"price\""},
		{"wrong type", "name: x\ndescription: d\nfleet:\n  meters: many\nsteps:\n" +
			"  - wait: {sim: 1m}\n", "s.yaml:4:11: fleet.meters"},
		{"bad threshold", "name: x\ndescription: d\nfleet: {meters: 1}\n" +
			"thresholds:\n  - p99(vend_to_credit) < 9\nsteps:\n  - wait: {sim: 1m}\n",
			"s.yaml:5:28: thresholds[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, "s.yaml", tt.yaml)
			var out, errOut bytes.Buffer
			code := runScenarioFiles(context.Background(), scenarioConfig{}, []string{file},
				&out, &errOut)
			if code != exitInvalid {
				t.Fatalf("exit %d, want %d", code, exitInvalid)
			}
			if !strings.Contains(errOut.String(), tt.want) {
				t.Errorf("stderr %q does not contain %q", errOut.String(), tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("something ran: %s", out.String())
			}
		})
	}
}

// TestScenarioReportPathChecked checks that a --report that cannot be
// written fails before anything runs, naming the path.
func TestScenarioReportPathChecked(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, report, want string
	}{
		{"missing directory", filepath.Join(dir, "nope", "r.json"), "does not exist"},
		{"file as directory", filepath.Join(file, "r.json"), "is not a directory"},
		{"directory as report", dir, "is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := runScenarioFiles(context.Background(), scenarioConfig{Report: tt.report},
				[]string{"smoke"}, &out, &errOut)
			if code != exitInvalid {
				t.Fatalf("exit %d, want %d\n%s", code, exitInvalid, errOut.String())
			}
			want := "--report " + tt.report + ": "
			if !strings.Contains(errOut.String(), want) ||
				!strings.Contains(errOut.String(), tt.want) {
				t.Errorf("stderr %q does not name %q and say %q", errOut.String(), want, tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("something ran: %s", out.String())
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the checks left files behind: %v", entries)
	}
}

func TestScenarioShippedByName(t *testing.T) {
	var out, errOut bytes.Buffer
	code := runScenarioFiles(context.Background(), scenarioConfig{}, []string{"smoke"}, &out,
		&errOut)
	if code != 0 || !strings.Contains(out.String(), "PASS smoke") {
		t.Errorf("fleet run smoke: exit %d\n%s%s", code, out.String(), errOut.String())
	}
}

func TestScenariosList(t *testing.T) {
	var out bytes.Buffer
	if err := listScenarios(&out); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"smoke", "replay", "wrong-meter", "tampered-digit",
		"brute-force", "old-tid", "key-expired", "ddtk-credit", "key-change", "tid-rollover",
		"duplicate-delivery", "spoofed-publisher", "offline-queue", "fleet-restart",
		"keypad-lockout"} {
		if !strings.Contains(out.String(), name+" ") {
			t.Errorf("list lacks %s:\n%s", name, out.String())
		}
	}
}

func TestExitCode(t *testing.T) {
	if exitCode(nil) != 0 || exitCode(&exitError{code: 2}) != 2 ||
		exitCode(os.ErrNotExist) != 1 {
		t.Error("exitCode maps errors wrongly")
	}
}
