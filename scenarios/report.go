package scenarios

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Check is one expectation or threshold with what was wanted and what
// happened.
type Check struct {
	// Name names the expectation within its step, such as
	// "outcomes.used_error" or "credited.each", or the threshold.
	Name   string `json:"name"`
	Wanted string `json:"wanted"`
	Got    string `json:"got"`
	Pass   bool   `json:"pass"`
}

// StepReport is what one step did and how its expectations fared.
type StepReport struct {
	Index  int    `json:"index"`
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Line   int    `json:"line"`
	Meters int    `json:"meters"`
	// Outcomes counts the step's results by outcome.
	Outcomes map[string]int64 `json:"outcomes"`
	// Refusals counts the vendor's refusals in the step by rule.
	Refusals map[string]int64 `json:"refusals,omitempty"`
	Checks   []Check          `json:"checks"`
	// Error is set when the step could not be carried out.
	Error  string        `json:"error,omitempty"`
	WallMS float64       `json:"wall_ms"`
	wall   time.Duration `json:"-"`
}

// Passed reports whether the step ran and every check held.
func (s *StepReport) Passed() bool {
	if s.Error != "" {
		return false
	}
	for _, c := range s.Checks {
		if !c.Pass {
			return false
		}
	}
	return true
}

// Report is the outcome of one scenario run.
type Report struct {
	Scenario    string       `json:"scenario"`
	File        string       `json:"file"`
	Description string       `json:"description"`
	Passed      bool         `json:"passed"`
	Steps       []StepReport `json:"steps"`
	Thresholds  []Check      `json:"thresholds"`
	// Counts are the run's totals: the vendor's summary counts, the
	// outcomes, refusals and false accepts.
	Counts map[string]int64 `json:"counts"`
	// Error is set when the run could not start or finish.
	Error  string        `json:"error,omitempty"`
	WallMS float64       `json:"wall_ms"`
	wall   time.Duration `json:"-"`
}

// Failures returns the names of the failed checks, as "step name: check"
// and "threshold: expr".
func (r *Report) Failures() []string {
	var out []string
	for _, s := range r.Steps {
		if s.Error != "" {
			out = append(out, fmt.Sprintf("step %d %s: error: %s", s.Index+1, s.Name, s.Error))
		}
		for _, c := range s.Checks {
			if !c.Pass {
				out = append(out, fmt.Sprintf("step %d %s: %s", s.Index+1, s.Name, c.Name))
			}
		}
	}
	for _, c := range r.Thresholds {
		if !c.Pass {
			out = append(out, "threshold: "+c.Name)
		}
	}
	if r.Error != "" {
		out = append(out, "run: "+r.Error)
	}
	return out
}

func (r *Report) settle() {
	r.Passed = r.Error == ""
	for i := range r.Steps {
		r.Passed = r.Passed && r.Steps[i].Passed()
	}
	for _, c := range r.Thresholds {
		r.Passed = r.Passed && c.Pass
	}
}

func mark(pass bool) string {
	if pass {
		return "ok  "
	}
	return "FAIL"
}

// WriteText writes the report for people: one line per step, one per
// check, and the verdict.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "scenario %s (%s): %s\n", r.Scenario, r.File, r.Description)
	for _, s := range r.Steps {
		fmt.Fprintf(&b, "  %s step %d %s [%s, %d meters, %s]%s\n", mark(s.Passed()), s.Index+1,
			s.Name, s.Kind, s.Meters, roundWall(s.wall), outcomeLine(s.Outcomes, s.Refusals))
		if s.Error != "" {
			fmt.Fprintf(&b, "       error: %s\n", s.Error)
		}
		for _, c := range s.Checks {
			fmt.Fprintf(&b, "       %s %s: want %s, got %s\n", mark(c.Pass), c.Name, c.Wanted,
				c.Got)
		}
	}
	for _, c := range r.Thresholds {
		fmt.Fprintf(&b, "  %s threshold %s: got %s\n", mark(c.Pass), c.Name, c.Got)
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "  error: %s\n", r.Error)
	}
	verdict := "PASS"
	if !r.Passed {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "%s %s in %s\n", verdict, r.Scenario, roundWall(r.wall))
	_, err := io.WriteString(w, b.String())
	return err
}

func roundWall(d time.Duration) time.Duration {
	if d > time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// outcomeLine writes the non-zero outcome and refusal counts.
func outcomeLine(outcomes, refusals map[string]int64) string {
	var parts []string
	for _, k := range sortedKeys(outcomes) {
		if outcomes[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, outcomes[k]))
		}
	}
	for _, k := range sortedKeys(refusals) {
		parts = append(parts, fmt.Sprintf("refused:%s=%d", k, refusals[k]))
	}
	if len(parts) == 0 {
		return ""
	}
	return " " + strings.Join(parts, " ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// WriteJSON writes the reports of a run of scenarios as one JSON document:
// {"passed": bool, "scenarios": [...]}.
func WriteJSON(w io.Writer, reports []*Report) error {
	passed := true
	for _, r := range reports {
		passed = passed && r.Passed
	}
	doc := struct {
		Passed    bool      `json:"passed"`
		Scenarios []*Report `json:"scenarios"`
	}{passed, reports}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
