package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/bench"
	"github.com/stsfleet/stsfleet/bench/load"
)

// sample builds a report of three seconds at 4/s on a fake clock: mostly
// accepted, one crc_error, one in_flight_limit failure.
func sample(t *testing.T) *bench.Report {
	t.Helper()
	t0 := time.Date(2026, 7, 8, 9, 10, 11, 0, time.UTC)
	now := t0
	rec, err := load.NewRecorder(load.RecorderConfig{Names: bench.VendNames,
		Profile: load.Constant(4, 3*time.Second), Start: t0, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for k := range 12 {
		at := t0.Add(time.Duration(k) * 250 * time.Millisecond)
		now = at
		rec.Fired(load.Arrival{Seq: int64(k), Intended: at, Rate: 4})
		now = at.Add(time.Duration(3+k) * time.Millisecond)
		switch k {
		case 5:
			rec.Settle(load.Failed, bench.FailInFlightLimit)
		case 7:
			rec.Issued()
			rec.Observe("vend_to_credit", 8*time.Millisecond)
			rec.Settle(load.Rejected, "crc_error")
		default:
			rec.Issued()
			rec.Observe("vend_to_credit", time.Duration(3+k)*time.Millisecond)
			rec.Settle(load.Accepted, "")
		}
	}
	return &bench.Report{Result: rec.Result(), Passed: true, Config: bench.Info{"meters": 3},
		Machine: bench.ThisMachine()}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, sample(t)); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]any{"kind": "vend", "passed": true,
		"tokens_vended": 11.0, "tokens_accepted": 10.0, "tokens_rejected": 1.0,
		"tokens_failed": 1.0, "tokens_timed_out": 0.0, "tokens_lost": 0.0, "requests": 12.0} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
	if rate, _ := got["achieved_rate"].(float64); rate < 3.3 || rate > 3.4 {
		t.Errorf("achieved_rate = %v, want 10 over 3 s", got["achieved_rate"])
	}
	if !strings.HasPrefix(b.String(), "{\n  \"kind\": \"vend\",\n  \"achieved_rate\": ") {
		t.Errorf("JSON starts %.60q", b.String())
	}
}

func TestWriteCSV(t *testing.T) {
	var b bytes.Buffer
	rep := sample(t)
	// A last answer after the schedule.
	rep.Series = append(rep.Series, load.Point{Second: 3, Drain: true, Accepted: 1})
	if err := WriteCSV(&b, rep); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 {
		t.Fatalf("%d rows, want a header, 3 seconds and a drain second", len(rows))
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for i, want := range []string{"4", "4", "4"} {
		if got := rows[i+1][col["sent"]]; got != want {
			t.Errorf("second %d sent %s, want %s", i, got, want)
		}
	}
	for i, want := range []string{"4", "4", "4", ""} {
		if got := rows[i+1][col["target_rate"]]; got != want {
			t.Errorf("second %d target_rate %q, want %q", i, got, want)
		}
	}
	if got := rows[2][col["failed"]]; got != "1" {
		t.Errorf("second 1 failed %s, want 1", got)
	}
	if rows[1][col["vend_to_credit_p99_ms"]] == "" || rows[1][col["vend_to_issue_p99_ms"]] != "" {
		t.Errorf("second 0 latencies %v: want vend_to_credit and no vend_to_issue", rows[1])
	}
}

func TestWriteHTMLIsSelfContained(t *testing.T) {
	var b bytes.Buffer
	if err := WriteHTML(&b, sample(t)); err != nil {
		t.Fatal(err)
	}
	page := strings.ReplaceAll(b.String(), `xmlns="http://www.w3.org/2000/svg"`, "")
	if n := strings.Count(page, "<svg"); n != 4 {
		t.Errorf("%d charts, want 4", n)
	}
	for _, want := range []string{"rejected: crc_error", "failed: in_flight_limit", "PASS"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, banned := range []string{"<script", "http://", "https://", "<link", "src="} {
		if strings.Contains(page, banned) {
			t.Errorf("page is not self-contained: %q", banned)
		}
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	rep := sample(t)
	rep.Passed = false
	if err := WriteTable(&b, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tokens_accepted", "crc_error", "in_flight_limit",
		"vend_to_credit", "generator lag", "FAIL"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestBaselineInEveryReport(t *testing.T) {
	rep := sample(t)
	rep.Steps, rep.MaxRate = []bench.Step{{Target: 4, Held: true}}, 4
	rep.Baseline = &bench.Baseline{MaxRate: 16, Share: 0.25,
		Config: bench.Info{"transport": "mem", "clients": 3}}
	var table, page, js bytes.Buffer
	if err := WriteTable(&table, rep); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(&page, rep); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, text, want string }{
		{"table", table.String(), "16 round trips/s (mem, 3 clients)"},
		{"table", table.String(), "25% of the broker's two-leg rate"},
		{"html", page.String(), "<b>25%</b>"},
	} {
		if !strings.Contains(c.text, c.want) {
			t.Errorf("%s lacks %q", c.name, c.want)
		}
	}
	var got struct {
		Baseline struct {
			MaxRate float64 `json:"max_rate"`
			Share   float64 `json:"share"`
		} `json:"broker_baseline"`
	}
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Baseline.MaxRate != 16 || got.Baseline.Share != 0.25 {
		t.Errorf("json baseline %+v", got.Baseline)
	}
}

func TestInterruptedInTable(t *testing.T) {
	rep := sample(t)
	rep.Interrupted, rep.Passed = true, false
	var b bytes.Buffer
	if err := WriteTable(&b, rep); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("INTERRUPTED after %.1fs", rep.ElapsedSeconds)
	if rep.ElapsedSeconds == 0 || !strings.Contains(b.String(), want) {
		t.Errorf("table of an interrupted run:\n%s", b.String())
	}
	rep.Steps = []bench.Step{{Target: 1000, Held: true}, {Target: 1500, Broke: []string{"x"}}}
	if got := rep.Interruption(); got != "during the 1500/s step" {
		t.Errorf("interruption of a find-max: %q", got)
	}
}
