package vending

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// TestMetricsAfterVendsAndReplays runs a known sequence through the
// service, ten vends accepted and two resends answered used_error, and
// checks every counter it moves: the replays are redeliveries and
// duplicate results, never first results or second credits.
func TestMetricsAfterVendsAndReplays(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, 5, nil)
	e.cfg.Registry = reg
	e.restart()

	var drns []string
	for _, m := range e.fleet.Definition.Meters {
		drns = append(drns, m.DRN)
	}
	for i := range 10 {
		drn := drns[i%len(drns)]
		e.vend(drn, "50")
		e.wall.Advance(40 * time.Millisecond)
		for _, p := range e.pub.take() {
			e.result(drn, p.Msg, sts.Accept)
		}
	}
	for _, drn := range drns[:2] {
		if _, err := e.svc.Resend(context.Background(), drn); err != nil {
			t.Fatalf("Resend(%s): %v", drn, err)
		}
		for _, p := range e.pub.take() {
			e.result(drn, p.Msg, sts.UsedError)
		}
	}

	want := `
# HELP vendor_redeliveries_total Tokens published again for want of a result, and resends on request.
# TYPE vendor_redeliveries_total counter
vendor_redeliveries_total 2
# HELP vendor_tokens_issued_total Tokens written to the ledger by token class.
# TYPE vendor_tokens_issued_total counter
vendor_tokens_issued_total{class="credit"} 10
vendor_tokens_issued_total{class="management"} 0
# HELP vendor_tokens_pending Tokens issued that have no result yet and are not lost.
# TYPE vendor_tokens_pending gauge
vendor_tokens_pending 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"vendor_redeliveries_total", "vendor_tokens_issued_total",
		"vendor_tokens_pending"); err != nil {
		t.Error(err)
	}
	for _, c := range []struct {
		vec   *prometheus.CounterVec
		label string
		want  float64
	}{
		{e.svc.met.vends, resultIssued, 10},
		{e.svc.met.vends, resultReplayed, 0},
		{e.svc.met.firstResults, sts.Accept.String(), 10},
		{e.svc.met.firstResults, sts.UsedError.String(), 0},
		{e.svc.met.results, resultFirst, 10},
		{e.svc.met.results, resultDuplicate, 2},
	} {
		if got := testutil.ToFloat64(c.vec.WithLabelValues(c.label)); got != c.want {
			t.Errorf("%s = %v, want %v", c.label, got, c.want)
		}
	}

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		switch f.GetName() {
		case "vendor_vend_to_credit_seconds", "vendor_ledger_write_seconds":
			if n := f.GetMetric()[0].GetHistogram().GetSampleCount(); n != 10 {
				t.Errorf("%s has %d samples, want 10", f.GetName(), n)
			}
		}
	}
}
