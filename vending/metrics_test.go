package vending

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stsfleet/stsfleet/protocol/sts"
)

func TestMetricsLintAndNoMeterLabel(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, 3, nil)
	e.cfg.Registry = reg
	e.restart()
	m := e.meterOf(isUtility(Electricity))
	r := e.vend(m.DRN, "50")
	e.result(m.DRN, e.pub.take()[0].Msg, sts.Accept)
	e.svc.Vend(t.Context(), VendRequest{Meter: m.DRN, Amount: "0.01"}, "")

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"result": true, "class": true, "outcome": true}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "vendor_") {
			t.Errorf("metric %s lacks the vendor_ prefix", f.GetName())
		}
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				if !allowed[l.GetName()] || strings.Contains(l.GetValue(), m.DRN) ||
					strings.Contains(l.GetValue(), r.VendID) {
					t.Errorf("metric %s has label %s=%s", f.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
	for _, c := range []struct {
		name, label string
		want        float64
	}{
		{"vendor_vends_total", "issued", 1},
		{"vendor_vends_total", string(RuleBelowMinimum), 1},
		{"vendor_tokens_issued_total", "credit", 1},
		{"vendor_token_results_total", "accept", 1},
	} {
		var got float64
		switch c.name {
		case "vendor_vends_total":
			got = testutil.ToFloat64(e.svc.met.vends.WithLabelValues(c.label))
		case "vendor_tokens_issued_total":
			got = testutil.ToFloat64(e.svc.met.tokensIssued.WithLabelValues(c.label))
		case "vendor_token_results_total":
			got = testutil.ToFloat64(e.svc.met.firstResults.WithLabelValues(c.label))
		}
		if got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.name, c.label, got, c.want)
		}
	}
	for _, f := range families {
		if f.GetName() == "vendor_vend_to_credit_seconds" {
			if n := f.GetMetric()[0].GetHistogram().GetSampleCount(); n != 1 {
				t.Errorf("vend_to_credit samples = %d, want 1", n)
			}
		}
	}
}
