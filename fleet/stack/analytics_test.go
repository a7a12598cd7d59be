package stack

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/fleet"
	"github.com/stsfleet/stsfleet/meter"
	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/protocol/wire"
	"github.com/stsfleet/stsfleet/simclock"
	"github.com/stsfleet/stsfleet/vending"
)

// finalsOnly is an Analytics that reads every reading with the broker's
// analytics account and keeps each meter's final one.
type finalsOnly struct {
	c *mqttc.Client

	mu       sync.Mutex
	readings int64
	finals   map[string]wire.Telemetry
	bad      int
}

func startFinalsOnly(ctx context.Context, p AnalyticsParts) (Analytics, error) {
	a := &finalsOnly{finals: map[string]wire.Telemetry{}}
	c, err := mqttc.Connect(ctx, mqttc.Options{Broker: p.BrokerURL, Dialer: p.Dial,
		ClientID: "analytics-test", Username: p.User, Password: p.Password,
		Subscriptions: []mqttc.Subscription{{Filter: wire.TopicFilter(wire.KindTelemetry),
			QoS: 1, Handler: a.handle}}})
	if err != nil {
		return nil, err
	}
	a.c = c
	return a, nil
}

func (a *finalsOnly) handle(m mqttc.Message) {
	t, err := wire.DecodeTelemetry(m.Payload)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.bad++
		return
	}
	a.readings++
	if t.Final {
		a.finals[t.DRN] = t
	}
}

func (a *finalsOnly) TelemetryAggregated() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.readings
}

func (a *finalsOnly) Finals() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.finals)
}

func (a *finalsOnly) Totals() fleet.Totals {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := fleet.Totals{}
	for _, r := range a.finals {
		u := vending.Utility(r.Utility)
		sum := t[u]
		for _, f := range []struct {
			dst *meter.Milli
			v   string
		}{{&sum.Credited, r.Credited}, {&sum.Consumed, r.Consumed},
			{&sum.Remaining, r.Remaining}, {&sum.Cleared, r.Cleared}} {
			v, err := fleet.ParseUnits(f.v)
			if err != nil {
				a.bad++
			}
			*f.dst += v
		}
		t[u] = sum
	}
	return t
}

func (a *finalsOnly) Shutdown(context.Context) error {
	a.c.Disconnect(100 * time.Millisecond)
	return nil
}

func TestAnalyticsSeesTheMetersTotals(t *testing.T) {
	ctx := context.Background()
	s, err := Start(ctx, Config{
		Meters: 30, Seed: 2, Clock: simclock.New(time.Now(), 40_000),
		DBPath:            filepath.Join(t.TempDir(), "ledger.db"),
		AnalyticsPassword: "analytics-password", Analytics: startFinalsOnly,
		Fleet: fleet.Config{Step: time.Hour, TelemetryQoS: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(ctx)
	sum, err := s.Run(ctx, RunConfig{SimDuration: 12 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Passed {
		t.Errorf("failures: %v", sum.Failures())
	}
	// Every meter's final reading is in (Passed says its totals match);
	// nothing is counted that was not sent.
	if sum.TelemetryAggregated < 30 || sum.TelemetryAggregated > sum.TelemetrySent {
		t.Errorf("aggregated %d readings, sent %d", sum.TelemetryAggregated, sum.TelemetrySent)
	}
	if a := s.analytics.(*finalsOnly); a.bad != 0 {
		t.Errorf("%d readings did not decode", a.bad)
	}
}

func TestNATSAnalytics(t *testing.T) {
	ctx := context.Background()
	s, err := Start(ctx, Config{
		Meters: 30, Seed: 4, Clock: simclock.New(time.Now(), 40_000),
		DBPath:            filepath.Join(t.TempDir(), "ledger.db"),
		AnalyticsPassword: "analytics-password", Analytics: NATSAnalytics("", nil),
		Fleet: fleet.Config{Step: time.Hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	sum, err := s.Run(ctx, RunConfig{SimDuration: 12 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Passed {
		t.Errorf("failures: %v", sum.Failures())
	}
	// Periodic readings travel on core NATS and may be dropped; the final
	// reading of every meter is in.
	if sum.TelemetryAggregated < 30 || sum.TelemetryAggregated > sum.TelemetrySent {
		t.Errorf("aggregated %d readings of %d sent", sum.TelemetryAggregated,
			sum.TelemetrySent)
	}
	// The vendor's vend events reached analytics through JetStream.
	a := s.analytics.(*natsAnalytics)
	waitVends := time.Now().Add(10 * time.Second)
	for a.svc.Summary().TokensVended != sum.TokensVended && time.Now().Before(waitVends) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := a.svc.Summary().TokensVended; got != sum.TokensVended {
		t.Errorf("analytics saw %d vends, the vendor made %d", got, sum.TokensVended)
	}

	// Analytics' own API is served beside the fleet's.
	resp, err := http.Get(s.Addrs().Analytics + "/v1/summary")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var as struct {
		MetersFinal int64 `json:"meters_final"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&as); err != nil || as.MetersFinal != 30 {
		t.Errorf("GET /v1/summary: meters_final %d, %v; want 30", as.MetersFinal, err)
	}
	if !strings.HasPrefix(s.Addrs().NATS, "nats://127.0.0.1:") {
		t.Errorf("nats address %q", s.Addrs().NATS)
	}
}
