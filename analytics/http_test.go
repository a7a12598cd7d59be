package analytics

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

func newTestService(t *testing.T) *Service {
	t.Helper()
	svc, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

// TestSummaryFieldNames checks the JSON against the field names of the
// fleet's end-of-run summary, where the two overlap.
func TestSummaryFieldNames(t *testing.T) {
	svc := newTestService(t)
	msgs, _ := generate(5, 10, 10, t0)
	feed(t, svc.agg, msgs)

	rec := get(t, svc.Handler(), "/v1/summary")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /v1/summary: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"meters", "tokens_vended", "tokens_accepted", "tokens_rejected",
		"tokens_pending", "energy_sold_kwh", "energy_consumed_kwh", "credit_remaining_kwh",
		"by_utility", "telemetry_aggregated", "latency_ms"} {
		if _, ok := doc[key]; !ok {
			t.Errorf("summary lacks %q", key)
		}
	}
	for _, key := range []string{"energy_sold_kwh", "energy_consumed_kwh", "credit_remaining_kwh"} {
		if _, ok := doc[key].(string); !ok {
			t.Errorf("%s = %v, want a decimal string", key, doc[key])
		}
	}
	byUtil, _ := doc["by_utility"].(map[string]any)
	for u, unit := range map[string]string{"electricity": "kWh", "water": "m3", "gas": "m3"} {
		fig, _ := byUtil[u].(map[string]any)
		if fig["unit"] != unit {
			t.Errorf("by_utility.%s.unit = %v, want %s", u, fig["unit"], unit)
		}
		for _, key := range []string{"sold", "consumed", "remaining", "cleared"} {
			if _, ok := fig[key].(string); !ok {
				t.Errorf("by_utility.%s.%s = %v, want a decimal string", u, key, fig[key])
			}
		}
	}
	lat, _ := doc["latency_ms"].(map[string]any)
	for _, key := range []string{"p50", "p90", "p99"} {
		if _, ok := lat[key].(float64); !ok {
			t.Errorf("latency_ms.%s = %v, want a number", key, lat[key])
		}
	}
}

func TestMetricsLintAndZeroLabels(t *testing.T) {
	svc := newTestService(t)
	problems, err := testutil.GatherAndLint(svc.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}

	mfs, err := svc.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "analytics_") {
			t.Errorf("metric %s lacks the analytics_ prefix", mf.GetName())
		}
		series[mf.GetName()] = len(mf.GetMetric())
	}
	for name, want := range map[string]int{
		"analytics_tokens_total":                  len(sts.Outcomes()),
		"analytics_results_total":                 len(sts.Outcomes()),
		"analytics_meters":                        numUtilities,
		"analytics_vends_total":                   numUtilities,
		"analytics_energy_consumed_joules_total":  1,
		"analytics_volume_remaining_cubic_meters": numUtilities - 1,
		"analytics_messages_invalid_total":        4,
		"analytics_slow_consumer_events_total":    1,
		"analytics_vend_to_credit_seconds":        1,
	} {
		if series[name] != want {
			t.Errorf("%s has %d series before any message, want %d", name, series[name], want)
		}
	}
}

func TestMetricsFollowTheTotals(t *testing.T) {
	svc := newTestService(t)
	msgs, exp := generate(9, 20, 20, t0)
	feed(t, svc.agg, msgs)
	s := svc.Summary()

	body := get(t, svc.Handler(), "/metrics").Body.String()
	for _, want := range []string{
		`analytics_meters{utility="electricity"} ` +
			strconv.FormatInt(s.ByUtility["electricity"].Meters, 10),
		`analytics_tokens_total{outcome="accept"} ` + strconv.Itoa(exp.accepted),
		`analytics_readings_final_total 20`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Electricity in joules: kWh × 3.6e6, exactly representable here.
	kwh := s.ByUtility["electricity"].Consumed
	got := counterValue(t, svc, "analytics_energy_consumed_joules_total")
	if want := kwh.Float64() * 3.6e6; got < want-1e-3 || got > want+1e-3 {
		t.Errorf("energy consumed = %v J, want %v (%s kWh)", got, want, kwh)
	}
}

// counterValue returns the value of an unlabelled counter.
func counterValue(t *testing.T, svc *Service, name string) float64 {
	t.Helper()
	mfs, err := svc.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}

func TestHealthz(t *testing.T) {
	svc := newTestService(t)
	if rec := get(t, svc.Handler(), "/healthz"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("healthz before ready = %d, want 503", rec.Code)
	}
	svc.readyOnce.Do(func() { close(svc.ready) })
	if rec := get(t, svc.Handler(), "/healthz"); rec.Code != http.StatusOK {
		t.Errorf("healthz when ready = %d, want 200", rec.Code)
	}
}
