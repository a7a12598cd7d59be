package fleet_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/fleet"
	"github.com/stsfleet/stsfleet/fleet/stack"
	"github.com/stsfleet/stsfleet/meter"
	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/protocol/wire"
	"github.com/stsfleet/stsfleet/simclock"
	"github.com/stsfleet/stsfleet/vending"
)

// testSecret is the fleet secret of the test brokers.
var testSecret = []byte("fleet-secret-for-tests-only-0123")

// startStack starts a stack and shuts it down at the end of the test.
func startStack(t *testing.T, cfg stack.Config) *stack.Stack {
	t.Helper()
	if cfg.FleetSecret == nil {
		cfg.FleetSecret = testSecret
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := stack.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shut down stack: %v", err)
		}
	})
	return s
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// quietMeters are meters without consumption or customers: only the
// test's tokens change them.
func quietMeters() fleet.Config {
	return fleet.Config{Load: &meter.Load{Kind: meter.LoadNone},
		Purchases: fleet.PurchasePolicy{Off: true}}
}

func TestDeliveryConservation(t *testing.T) {
	for _, transport := range []string{stack.TransportMemory, stack.TransportTCP} {
		t.Run(transport, func(t *testing.T) {
			// One simulated day in about two seconds of wall time.
			clock := simclock.New(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), 40_000)
			s := startStack(t, stack.Config{
				Meters: 200, Seed: 7, Clock: clock, Transport: transport,
				DBPath: filepath.Join(t.TempDir(), "ledger.db"),
				Fleet:  fleet.Config{Step: time.Hour, TelemetryInterval: 2 * time.Hour},
			})
			// Every meter is installed without credit and buys at once,
			// but the simulated day runs from before the stack started,
			// and purchases still queued when it ends are cancelled. A
			// loaded machine may not vend 200 tokens in two seconds:
			// wait for every first purchase, so the run ends with each
			// meter having bought.
			waitFor(t, "every meter's first purchase", func() bool {
				return s.Fleet.Stats().PurchasesDone >= uint64(s.Fleet.Len())
			})
			ctx := context.Background()
			sum, err := s.Run(ctx, stack.RunConfig{SimDuration: 24 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if !sum.Passed {
				t.Errorf("conservation failed: %v", sum.Failures())
			}
			if sum.Meters != 200 || sum.TokensVended < 200 {
				t.Errorf("meters %d, vended %d: want 200 meters, each buying at least once",
					sum.Meters, sum.TokensVended)
			}
			for _, m := range s.Definition.Meters {
				if c := meterView(t, s, m.DRN).Credit.Credited; !positive(c) {
					t.Errorf("meter %s credited %s, want a bought token", m.DRN, c)
				}
			}
			if sum.TokensAccepted != sum.TokensVended || sum.TokensPending != 0 {
				t.Errorf("vended %d, accepted %d, pending %d: want every token accepted",
					sum.TokensVended, sum.TokensAccepted, sum.TokensPending)
			}
			// Every meter sent at least its final reading.
			if sum.TelemetrySent < 200 {
				t.Errorf("telemetry sent %d, want at least one per meter", sum.TelemetrySent)
			}
			checkACL(t, s)
		})
	}
}

// checkACL asserts through the broker's refusal counters that a meter's
// credentials neither read another meter's tokens nor publish as it.
func checkACL(t *testing.T, s *stack.Stack) {
	t.Helper()
	ctx := context.Background()
	victim := s.Definition.Meters[0].DRN
	// A meter of the same make that is not in the fleet.
	intruder := "4799999999" + luhn(t, "4799999999")
	c, err := mqttc.Connect(ctx, mqttc.Options{
		Dialer: s.Broker.Dial, ClientID: intruder, Username: intruder,
		Password: broker.MeterPassword(testSecret, intruder), CleanSession: true,
		DefaultHandler: func(mqttc.Message) {},
	})
	if err != nil {
		t.Fatalf("connect as meter %s: %v", intruder, err)
	}
	defer c.Disconnect(0)

	before := s.Broker.Stats()
	err = c.Subscribe(ctx, wire.Topic(victim, wire.KindToken), 1, func(mqttc.Message) {})
	if !errors.Is(err, mqttc.ErrSubscribeRefused) {
		t.Errorf("subscribe to another meter's tokens: %v, want refused", err)
	}
	spoof, _ := json.Marshal(wire.ResultMessage{VendID: "x", Token: "12345678901234567890",
		Outcome: "accept", Credited: "0", Unit: "kWh"})
	// The broker acknowledges a refused QoS 1 publish and drops it; by
	// the PUBACK it has counted the refusal.
	if err := c.Publish(ctx, wire.Topic(victim, wire.KindResult), 1, false, spoof); err != nil {
		t.Errorf("publish as another meter: %v", err)
	}
	after := s.Broker.Stats()
	if got := after.SubscribeRefusals - before.SubscribeRefusals; got != 1 {
		t.Errorf("subscribe refusals grew by %d, want 1", got)
	}
	if got := after.PublishRefusals - before.PublishRefusals; got != 1 {
		t.Errorf("publish refusals grew by %d, want 1", got)
	}
}

// positive reports whether a register's decimal is above zero.
func positive(decimal string) bool {
	v, err := strconv.ParseFloat(decimal, 64)
	return err == nil && v > 0
}

func luhn(t *testing.T, body string) string {
	t.Helper()
	d, err := sts.LuhnCheckDigit(body)
	if err != nil {
		t.Fatal(err)
	}
	return string(d)
}

// vend buys units for one meter through the embedded vendor.
func vend(t *testing.T, s *stack.Stack, drn, units string) *vending.VendResponse {
	t.Helper()
	r, err := s.Vendor.Vend(context.Background(), vending.VendRequest{Meter: drn,
		Units: vending.Decimal(units)}, "")
	if err != nil {
		t.Fatalf("vend %s to %s: %v", units, drn, err)
	}
	return r
}

func meterView(t *testing.T, s *stack.Stack, drn string) fleet.MeterView {
	t.Helper()
	v, err := s.Fleet.Meter(context.Background(), drn)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func vendState(t *testing.T, s *stack.Stack, id string) *vending.VendStatus {
	t.Helper()
	st, err := s.Vendor.VendStatus(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestRestoreFromState(t *testing.T) {
	dir := t.TempDir()
	cfg := stack.Config{
		Meters: 2, Seed: 3, Clock: simclock.New(time.Now(), 60),
		DBPath: filepath.Join(dir, "ledger.db"), Fleet: quietMeters(),
	}
	cfg.Fleet.StateDir = filepath.Join(dir, "state")
	first := startStack(t, cfg)
	drn := first.Definition.Meters[0].DRN
	r := vend(t, first, drn, "5.0")
	waitFor(t, "the token accepted", func() bool {
		return vendState(t, first, r.VendID).State == "accepted"
	})
	before := meterView(t, first, drn)
	if err := first.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	// The same fleet, vendor ledger and meter states, in a new process.
	cfg.Definition, cfg.Injection, cfg.Keys = first.Definition, first.Injection, first.Keys
	second := startStack(t, cfg)
	if got := second.Fleet.Stats().Restored; got != 2 {
		t.Errorf("restored %d meters, want 2", got)
	}
	after := meterView(t, second, drn)
	if after.Credit != before.Credit || !slices.Equal(after.TIDs, before.TIDs) {
		t.Errorf("after restart credit %+v, TIDs %v; before %+v, %v",
			after.Credit, after.TIDs, before.Credit, before.TIDs)
	}
	if after.Credit.Credited != "5.0" || !slices.Contains(after.TIDs, r.TID) {
		t.Errorf("restored credit %+v, TIDs %v: want 5.0 credited and TID %d",
			after.Credit, after.TIDs, r.TID)
	}
	res, err := second.Fleet.Type(context.Background(), drn, r.Token)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != sts.UsedError {
		t.Errorf("replayed token: %s, want used_error", res.Outcome)
	}
	if got := meterView(t, second, drn).Credit.Credited; got != "5.0" {
		t.Errorf("credited after the replay %s, want 5.0", got)
	}
}

func TestRedeliveryToOfflineMeter(t *testing.T) {
	cfg := stack.Config{
		Meters: 3, Seed: 5, Clock: simclock.New(time.Now(), 60),
		DBPath: filepath.Join(t.TempDir(), "ledger.db"), Fleet: quietMeters(),
		// Redeliver quickly, so that a second copy is queued too.
		Delivery: vending.DeliveryConfig{InitialBackoff: 20 * time.Millisecond,
			TickInterval: 10 * time.Millisecond, MaxAttempts: 100},
	}
	s := startStack(t, cfg)
	ctx := context.Background()
	drn := s.Definition.Meters[1].DRN
	if err := s.Fleet.SetOnline(ctx, drn, false); err != nil {
		t.Fatal(err)
	}
	r := vend(t, s, drn, "7.5")
	waitFor(t, "a redelivery while offline", func() bool {
		return vendState(t, s, r.VendID).Attempts >= 2
	})
	if st := vendState(t, s, r.VendID); st.State != "issued" {
		t.Fatalf("vend state %s while the meter is offline, want issued", st.State)
	}

	if err := s.Fleet.SetOnline(ctx, drn, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the token accepted", func() bool {
		return vendState(t, s, r.VendID).State == "accepted"
	})
	// Each queued copy reaches the meter; only the first credits.
	copies := vendState(t, s, r.VendID).Attempts
	waitFor(t, "the copies entered", func() bool {
		st := s.Fleet.Stats()
		return st.Accepted+st.Rejected >= uint64(min(copies, 2))
	})
	v := meterView(t, s, drn)
	if v.Credit.Credited != "7.5" {
		t.Errorf("credited %s, want 7.5 once", v.Credit.Credited)
	}
	st := s.Fleet.Stats()
	if st.Outcomes["accept"] != 1 || st.Rejected != st.Outcomes["used_error"] ||
		st.Outcomes["used_error"] < 1 {
		t.Errorf("outcomes %v, want one accept and used_error for every other copy",
			st.Outcomes)
	}
}

func TestMeterHTTPView(t *testing.T) {
	s := startStack(t, stack.Config{Meters: 2, Seed: 9, Clock: simclock.New(time.Now(), 60),
		DBPath: filepath.Join(t.TempDir(), "ledger.db"), Fleet: quietMeters()})
	drn := s.Definition.Meters[0].DRN
	r := vend(t, s, drn, "2.5")
	waitFor(t, "the token accepted", func() bool {
		return vendState(t, s, r.VendID).State == "accepted"
	})
	srv := httptest.NewServer(s.Fleet.Handler())
	defer srv.Close()

	get := func(path string, want int, v any) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("GET %s: status %d, want %d", path, resp.StatusCode, want)
		}
		if v != nil {
			if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
		}
	}
	var v fleet.MeterView
	get("/v1/meters/"+drn, http.StatusOK, &v)
	if v.DRN != drn || v.Credit.Remaining != "2.5" || v.Relay != "closed" || !v.Online ||
		!slices.Contains(v.TIDs, r.TID) || len(v.Recent) != 1 ||
		v.Recent[0].Outcome != "accept" || v.Recent[0].VendID != r.VendID {
		t.Errorf("view %+v", v)
	}
	var drns []string
	get("/v1/meters", http.StatusOK, &drns)
	if len(drns) != 2 || !slices.Contains(drns, drn) {
		t.Errorf("meters %v", drns)
	}
	get("/v1/meters/47123456783", http.StatusNotFound, nil)
	get("/v1/meters/abc", http.StatusBadRequest, nil)
}
