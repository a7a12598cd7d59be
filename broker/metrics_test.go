package broker_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/internal/logtest"
	"github.com/stsfleet/stsfleet/mqttc"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := startBroker(t, func(c *broker.Config) { c.Registerer = reg })
	connect(t, meterOptions(b, memory, testDRN(1)))
	bad := meterOptions(b, memory, testDRN(2))
	bad.Password = "guess"
	if c, err := mqttc.Connect(ctxT(t), bad); err == nil {
		c.Disconnect(0)
		t.Fatal("connected with a wrong password")
	}

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "broker_") {
			t.Errorf("metric %s lacks the broker_ prefix", mf.GetName())
		}
	}

	want := `
# HELP broker_clients_connected Clients connected now.
# TYPE broker_clients_connected gauge
broker_clients_connected 1
# HELP broker_refusals_total Connections, publishes and subscription filters the broker refused, by kind.
# TYPE broker_refusals_total counter
broker_refusals_total{kind="auth"} 1
broker_refusals_total{kind="client_id"} 0
broker_refusals_total{kind="publish"} 0
broker_refusals_total{kind="subscribe"} 0
broker_refusals_total{kind="will"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"broker_clients_connected", "broker_refusals_total"); err != nil {
		t.Error(err)
	}
}

func TestMetricsRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	startBroker(t, func(c *broker.Config) { c.Registerer = reg; c.DisableTCP = true })
	_, err := broker.New(broker.Config{FleetSecret: fleetSecret, Registerer: reg})
	if err == nil {
		t.Fatal("a second broker registered on the same registry")
	}
}

func TestRefusedAccountIsLogged(t *testing.T) {
	logs := logtest.New()
	b := startBroker(t, func(c *broker.Config) { c.Logger = logs.Logger(slog.LevelDebug) })
	for _, o := range []mqttc.Options{vendorOptions(b, memory, "v-1"),
		meterOptions(b, memory, testDRN(3))} {
		o.Password = "wrong " + vendorPassword
		if c, err := mqttc.Connect(ctxT(t), o); err == nil {
			c.Disconnect(0)
			t.Fatalf("%s connected with a wrong password", o.Username)
		}
	}
	warns := logs.Lines("level=WARN", "refused an account")
	if len(warns) != 1 || !strings.Contains(warns[0], "user="+broker.DefaultVendorUsername) {
		t.Errorf("warnings %q, want one naming the vendor account", warns)
	}
	if strings.Contains(logs.String(), vendorPassword) {
		t.Error("the log holds the password")
	}
}
