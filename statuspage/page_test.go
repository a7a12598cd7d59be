package statuspage

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestReadPrefersAnalyticsAndFallsBack(t *testing.T) {
	type got struct {
		Vends, Accepted, Rejected, Meters, Connected, Sold, Remaining, NoCredit float64
		Results, Fraud                                                          map[string]float64
	}
	for _, tc := range []struct {
		name      string
		analytics bool
		want      got
	}{
		{"with analytics", true, got{Vends: 20, Accepted: 20, Rejected: 0, Meters: 100,
			Connected: 98, Sold: 100, Remaining: 40, NoCredit: 3,
			Results: map[string]float64{"accept": 20, "used_error": 4},
			Fraud:   map[string]float64{"replay": 4, "invalid_token": 0, "old_token": 0}}},
		// Without analytics the vendor's and the fleet's counters stand in,
		// and what only analytics knows is missing, not zero.
		{"vendor and fleet only", false, got{Vends: 20, Accepted: 20, Rejected: 0,
			Meters: 100, Connected: 98, Sold: math.NaN(), Remaining: math.NaN(),
			NoCredit: math.NaN(),
			Results:  map[string]float64{"accept": 20, "used_error": 4}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newParts(t, tc.analytics)
			p.step(10)
			p.step(10)
			mfs, err := p.reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			s := read(mfs, t0)
			have := got{Vends: s.vends, Accepted: s.accepted, Rejected: s.rejected,
				Meters: s.meters, Connected: s.connected, Sold: s.byUtility[0].sold,
				Remaining: s.byUtility[0].remaining, NoCredit: s.noCredit,
				Results: s.results, Fraud: s.fraud}
			if diff := cmp.Diff(tc.want, have, cmpopts.EquateNaNs(),
				cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("sample (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRatesCountResets(t *testing.T) {
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * 2 * time.Second) }
	for _, tc := range []struct {
		name   string
		values []float64
		want   []float64
	}{
		{"steady", []float64{0, 10, 20, 30}, []float64{5, 5, 5}},
		{"reset to a lower value", []float64{100, 110, 4, 8}, []float64{5, 2, 2}},
		{"missing value leaves a gap", []float64{0, math.NaN(), 10, 20},
			[]float64{math.NaN(), math.NaN(), 5}},
		{"one sample has no rate", []float64{7}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h []sample
			for i, v := range tc.values {
				h = append(h, sample{at: at(i), vends: v})
			}
			var got []float64
			for _, p := range rates(h, func(s sample) float64 { return s.vends }) {
				got = append(got, p.v)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateNaNs()); diff != "" {
				t.Errorf("rates (-want +got):\n%s", diff)
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h", Help: "h",
		Buckets: []float64{0.1, 0.2, 0.4}})
	// 10 in (0, 0.1], 10 in (0.1, 0.2], none above.
	for i := range 20 {
		h.Observe(0.05 + 0.1*float64(i/10))
	}
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ q, want float64 }{
		{0.5, 0.1}, {0.25, 0.05}, {0.75, 0.15}, {1, 0.2},
	} {
		if got := quantile(m.GetHistogram(), tc.q); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := quantile(nil, 0.5); !math.IsNaN(got) {
		t.Errorf("quantile of no histogram = %v, want NaN", got)
	}
}

func TestNiceAxisAndFormats(t *testing.T) {
	for _, tc := range []struct{ hi, step, top float64 }{
		{0, 1, 1}, {9, 5, 10}, {37, 10, 40}, {1200, 500, 1500}, {0.3, 0.1, 0.30000000000000004},
	} {
		step, top := niceAxis(tc.hi)
		if step != tc.step || math.Abs(top-tc.top) > 1e-9 {
			t.Errorf("niceAxis(%v) = %v, %v; want %v, %v", tc.hi, step, top, tc.step, tc.top)
		}
	}
	for v, want := range map[float64]string{0: "0", 950: "950", 1200: "1.2k", 3.4e6: "3.4M",
		2.5: "2.5"} {
		if got := compact(v); got != want {
			t.Errorf("compact(%v) = %q, want %q", v, got, want)
		}
	}
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000",
		1234567: "1,234,567", -4321: "-4,321"} {
		if got := count(v); got != want {
			t.Errorf("count(%v) = %q, want %q", v, got, want)
		}
	}
	if got := decimal(12345.678, 1); got != "12,345.7" {
		t.Errorf("decimal = %q, want 12,345.7", got)
	}
}

func TestPageShowsTotalsAndCharts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		analytics bool
		charts    []string
		tiles     []string
	}{
		{"with analytics", true,
			[]string{"Vends per second", "Electricity", "Token results by outcome",
				"Fraud attempts by kind"},
			[]string{"Meters", "Tokens vended", "Electricity sold", "Meters without credit",
				"Fraud attempts", "ACL refusals", "Vend to credit p99"}},
		{"vendor and fleet only", false,
			[]string{"Vends per second", "Token results by outcome"},
			[]string{"Meters", "Tokens vended", "ACL refusals"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newParts(t, tc.analytics)
			page, clock := newTestPage(t, p, "")
			fill(page, clock, p, 4, 10)

			rec := httptest.NewRecorder()
			page.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
			body := rec.Body.String()
			if rec.Code != http.StatusOK ||
				!strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
				t.Fatalf("GET /: %d %s", rec.Code, rec.Header().Get("Content-Type"))
			}
			if n := strings.Count(body, "<svg "); n != len(tc.charts) {
				t.Errorf("%d charts, want %d", n, len(tc.charts))
			}
			for _, c := range tc.charts {
				if !strings.Contains(body, "<title>"+c+"</title>") {
					t.Errorf("no chart %q", c)
				}
			}
			for _, l := range tc.tiles {
				if !strings.Contains(body, `<div class="label">`+l+`</div>`) {
					t.Errorf("no tile %q", l)
				}
			}
			if !strings.Contains(body, `http-equiv="refresh" content="5"`) {
				t.Error("the page does not reload itself")
			}
			if strings.Contains(body, "<script") {
				t.Error("the page has a script")
			}
			// Ten tokens a second: the vends line is drawn, not a placeholder.
			if !strings.Contains(body, `<path class="line"`) ||
				!strings.Contains(body, "10.0 per second now") {
				t.Errorf("the vends chart shows no rate:\n%s", body)
			}
		})
	}
}

func TestPageEscapesAndKeepsItsHistoryShort(t *testing.T) {
	p := newParts(t, true)
	page, clock := newTestPage(t, p, `<b>"fleet"</b>`)
	fill(page, clock, p, 12, 1)
	if n := len(page.history()); n != 5 {
		t.Errorf("history of %d samples, want the ring's 5", n)
	}
	h := page.history()
	for i := 1; i < len(h); i++ {
		if !h[i].at.After(h[i-1].at) {
			t.Fatalf("history out of order at %d: %v after %v", i, h[i].at, h[i-1].at)
		}
	}

	rec := httptest.NewRecorder()
	page.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if strings.Contains(rec.Body.String(), `<b>"fleet"</b>`) {
		t.Error("the title is not escaped")
	}
	rec = httptest.NewRecorder()
	page.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d, want 405", rec.Code)
	}
}

func TestRunSamplesUntilCancelled(t *testing.T) {
	p := newParts(t, false)
	page, err := New(Config{Gatherer: p.reg, Interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- page.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(page.history()) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("Run took fewer than 3 samples in 10 s")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New without a gatherer succeeded")
	}
}

func TestEmptyPageSamplesFirst(t *testing.T) {
	p := newParts(t, false)
	page, _ := newTestPage(t, p, "")
	rec := httptest.NewRecorder()
	page.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "collecting samples") {
		t.Errorf("first GET /: %d, want a page that waits for samples", rec.Code)
	}
}
