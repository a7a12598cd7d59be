package scenarios

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stsfleet/stsfleet/fleet/stack"
)

// TestMetricsOfAScenario runs shipped scenarios with a registry and
// analytics, as `fleet run FILE --serve` does, and checks what the
// metrics say afterwards: every part registered (the fleet through a
// restart too), the replays and lock-outs counted where they happen, and
// analytics' fraud attempts by kind.
func TestMetricsOfAScenario(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		// want are counters after the run, in the exposition format.
		want  string
		names []string
	}{
		{"replay", `
# HELP analytics_fraud_attempts_total Rejected tokens typed at a meter's keypad, by kind: replay, old_token, invalid_token (tampered, mistyped, guessed or another meter's), wrong_key or locked_out.
# TYPE analytics_fraud_attempts_total counter
analytics_fraud_attempts_total{kind="invalid_token"} 0
analytics_fraud_attempts_total{kind="locked_out"} 0
analytics_fraud_attempts_total{kind="old_token"} 0
analytics_fraud_attempts_total{kind="replay"} 4
analytics_fraud_attempts_total{kind="wrong_key"} 0
# HELP vendor_tokens_issued_total Tokens written to the ledger by token class.
# TYPE vendor_tokens_issued_total counter
vendor_tokens_issued_total{class="credit"} 4
vendor_tokens_issued_total{class="management"} 0
`, []string{"analytics_fraud_attempts_total", "vendor_tokens_issued_total"}},
		{"keypad-lockout", `
# HELP analytics_fraud_attempts_total Rejected tokens typed at a meter's keypad, by kind: replay, old_token, invalid_token (tampered, mistyped, guessed or another meter's), wrong_key or locked_out.
# TYPE analytics_fraud_attempts_total counter
analytics_fraud_attempts_total{kind="invalid_token"} 3
analytics_fraud_attempts_total{kind="locked_out"} 3
analytics_fraud_attempts_total{kind="old_token"} 0
analytics_fraud_attempts_total{kind="replay"} 0
analytics_fraud_attempts_total{kind="wrong_key"} 0
# HELP fleet_keypad_lockouts_total Keypad lock-outs: rejections that locked a meter's keypad.
# TYPE fleet_keypad_lockouts_total counter
fleet_keypad_lockouts_total 1
`, []string{"analytics_fraud_attempts_total", "fleet_keypad_lockouts_total"}},
		{"fleet-restart", "", nil},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			sc := shippedScenario(t, tc.scenario)
			reg := prometheus.NewRegistry()
			ctx := context.Background()
			st, err := NewStack(ctx, sc, StackConfig{Registerer: reg,
				Analytics: stack.NATSAnalytics("", nil)})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close(ctx)
			rep := Run(ctx, sc, st, nil)
			if !rep.Passed {
				var b strings.Builder
				rep.WriteText(&b)
				t.Fatalf("scenario %s failed:\n%s", sc.Name, b.String())
			}
			for _, prefix := range []string{"broker_", "vendor_", "fleet_", "analytics_",
				"bridge_"} {
				if !hasPrefix(t, reg, prefix) {
					t.Errorf("no %s metrics", prefix)
				}
			}
			if tc.want == "" {
				return
			}
			// Results reach analytics through the bridge and JetStream.
			deadline := time.Now().Add(20 * time.Second)
			for {
				err := testutil.GatherAndCompare(reg, strings.NewReader(tc.want), tc.names...)
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal(err)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if n, err := testutil.GatherAndLint(reg); err != nil || len(n) > 0 {
				t.Errorf("promlint: %v %v", n, err)
			}
		})
	}
}

func shippedScenario(t *testing.T, name string) *Scenario {
	t.Helper()
	data, ok := ShippedFile(name)
	if !ok {
		t.Fatalf("no shipped scenario %s", name)
	}
	sc, err := Parse(name+".yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func hasPrefix(t *testing.T, reg *prometheus.Registry, prefix string) bool {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), prefix) {
			return true
		}
	}
	return false
}
