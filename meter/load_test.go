package meter

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stsfleet/stsfleet/protocol/sts"
)

// constantConfig is a meter with credit base units and a constant demand.
func constantConfig(credit uint64, rate uint32) Config {
	cfg := baseConfig()
	cfg.InitialCredit = credit
	cfg.Load = Load{Kind: LoadConstant, Rate: rate}
	return cfg
}

func TestRelayOpensWhenCreditRunsOut(t *testing.T) {
	// 10 kWh at a constant 1 kW lasts exactly 10 hours.
	want := t0.Add(10 * time.Hour)
	for _, tick := range []time.Duration{time.Second, time.Minute, 7 * time.Minute,
		15 * time.Minute, time.Hour, 11 * time.Hour} {
		t.Run(tick.String(), func(t *testing.T) {
			m := newMeter(t, constantConfig(100, 1000))
			now := t0
			for m.Supplying() {
				now = now.Add(tick)
				m.Advance(now)
				if now.Sub(t0) > 24*time.Hour {
					t.Fatal("relay still closed after a day")
				}
			}
			if now.Before(want) || now.Sub(want) >= tick {
				t.Errorf("relay seen open at %v, want within one tick of %v", now, want)
			}
			s := m.Snapshot()
			if !s.Relay.Since.Equal(want) || s.Relay.Reason != RelayNoCredit {
				t.Errorf("relay %+v, want open for no credit since %v", s.Relay, want)
			}
			if s.Units.Consumed != 100*milli || s.Units.Remaining != 0 || s.Delivered != 100*milli {
				t.Errorf("units %+v delivered %v, want all 10 kWh consumed", s.Units, s.Delivered)
			}
		})
	}
}

func TestCreditClosesRelay(t *testing.T) {
	m := newMeter(t, constantConfig(0, 1000))
	if m.Supplying() {
		t.Fatal("relay closed without credit")
	}
	at := t0.Add(time.Hour)
	m.Advance(at.Add(time.Hour))
	if r := m.Enter(creditTok(c07, 0, 10, tid2025), at.Add(time.Hour)); r.Outcome != sts.Accept {
		t.Fatalf("credit: %s", r.Outcome)
	}
	s := m.Snapshot()
	if !s.Relay.Closed || !s.Relay.Since.Equal(at.Add(time.Hour)) {
		t.Errorf("relay %+v, want closed since the credit", s.Relay)
	}
	// 1 kWh at 1 kW: open again an hour later.
	m.Advance(at.Add(2*time.Hour + time.Minute))
	if s := m.Snapshot(); s.Relay.Closed || !s.Relay.Since.Equal(at.Add(2*time.Hour)) {
		t.Errorf("relay %+v, want open since an hour after the credit", s.Relay)
	}
}

func TestPowerLimit(t *testing.T) {
	cfg := constantConfig(1000, 3000)
	cfg.PowerLimit = 2000
	m := newMeter(t, cfg)

	m.Advance(t0.Add(time.Second))
	s := m.Snapshot()
	if s.Relay.Closed || s.Relay.Reason != RelayPowerLimit || !s.Relay.Since.Equal(t0) {
		t.Fatalf("relay %+v, want tripped at installation", s.Relay)
	}

	// The meter reconnects after the recovery time, sees 3 kW again and
	// trips at once: the relay never closes and nothing is consumed.
	m.Advance(t0.Add(time.Hour))
	if s := m.Snapshot(); s.Relay.Closed || s.Units.Consumed != 0 {
		t.Fatalf("after an hour: relay %+v consumed %v, want tripped and nothing used",
			s.Relay, s.Units.Consumed)
	}

	// A higher limit closes the relay at once.
	at := t0.Add(time.Hour)
	tok := mgmtTok(c07, sts.SubSetMaxPowerLimit, amountField(5000), tid2025)
	if r := m.Enter(tok, at); r.Outcome != sts.Accept {
		t.Fatalf("set power limit: %s", r.Outcome)
	}
	if s := m.Snapshot(); !s.Relay.Closed || !s.Relay.Since.Equal(at) {
		t.Fatalf("relay %+v, want closed after the new limit", s.Relay)
	}
	m.Advance(at.Add(time.Hour))
	if got := m.Snapshot().Units.Consumed; got != 30*milli {
		t.Errorf("consumed %v in an hour at 3 kW, want 3 kWh", got)
	}
}

func TestPowerLimitRecoversWhenDemandFalls(t *testing.T) {
	// An electricity profile with a limit between its night and evening
	// demand trips in the evening and reconnects by itself at night.
	cfg := baseConfig()
	cfg.InitialCredit = 100_000
	cfg.Load = Load{Scale: 1000, Noise: 1, Seed: 7}
	cfg.PowerLimit = 600
	m := newMeter(t, cfg)
	day := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	sawTrip, sawReconnect := false, false
	for now := day; now.Before(day.Add(48 * time.Hour)); now = now.Add(time.Minute) {
		m.Advance(now)
		s := m.Snapshot()
		if s.Relay.Reason == RelayPowerLimit {
			sawTrip = true
		} else if sawTrip && s.Relay.Closed {
			sawReconnect = true
		}
	}
	if !sawTrip || !sawReconnect {
		t.Errorf("trip %v, reconnect %v: want both", sawTrip, sawReconnect)
	}
}

func TestTamper(t *testing.T) {
	clear := mgmtTok(c07, sts.SubClearTamper, 0, tid2025)
	cases := []struct {
		name       string
		keeps      bool
		wantClosed bool
	}{
		{"opens the relay", false, false},
		{"keeps supply when configured", true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := constantConfig(100, 1000)
			cfg.TamperKeepsSupply = tc.keeps
			m := newMeter(t, cfg)
			m.SetTamper(t0.Add(time.Minute))
			s := m.Snapshot()
			if !s.Tamper || s.Relay.Closed != tc.wantClosed {
				t.Fatalf("after tamper: %+v, tamper %v", s.Relay, s.Tamper)
			}
			if !tc.keeps && s.Relay.Reason != RelayTamper {
				t.Errorf("reason %s, want tamper", s.Relay.Reason)
			}
			if r := m.Enter(clear, t0.Add(2*time.Minute)); r.Outcome != sts.Accept {
				t.Fatalf("clear tamper: %s", r.Outcome)
			}
			if s := m.Snapshot(); s.Tamper || !s.Relay.Closed {
				t.Errorf("after clearing: relay %+v tamper %v", s.Relay, s.Tamper)
			}
		})
	}
}

func TestCurrencyPaysAfterUnits(t *testing.T) {
	// 1 kWh of units, then about KES 50 at 25 per kWh (0.0004 kWh per
	// 0.01 KES): 3 kWh in all, paid to the last whole Milli.
	m := newMeter(t, constantConfig(10, 1000))
	amount := sts.CurrencyAmount{Exponent: 3, Mantissa: 3182}
	paid := amount.Value().Uint64()
	tok := currencyTok(c07, sts.SubElectricityCurrency, amount, tid2025)
	if r := m.Enter(tok, t0); r.Outcome != sts.Accept {
		t.Fatalf("currency credit: %s", r.Outcome)
	}
	m.Advance(t0.Add(4 * time.Hour))

	bought := Milli(paid * milli / DefaultPrice)
	s := m.Snapshot()
	if s.Delivered != 10*milli+bought || s.Units.Consumed != 10*milli ||
		s.Currency.Consumed != bought*DefaultPrice {
		t.Errorf("delivered %v units %+v currency %+v, want %v bought", s.Delivered,
			s.Units, s.Currency, bought)
	}
	if s.Currency.Remaining >= DefaultPrice || !s.Currency.Balanced() {
		t.Errorf("currency %+v: want less than one Milli's price left, balanced", s.Currency)
	}
	// 1 Milli is 0.1 Wh, 360 ms at 1 kW.
	want := t0.Add(time.Duration(10*milli+bought) * 360 * time.Millisecond)
	if !s.Relay.Since.Equal(want) || s.Relay.Closed {
		t.Errorf("relay %+v, want open since %v", s.Relay, want)
	}
}

func TestAdvanceIsExact(t *testing.T) {
	// One long step and many short ones of random length give the same
	// registers to the last Milli and the same remainder.
	cfg := baseConfig()
	cfg.InitialCredit = 5_000
	cfg.Load = Load{Seed: 42}
	end := t0.Add(9*24*time.Hour + 17*time.Minute + 3*time.Second)
	one := newMeter(t, cfg)
	one.Advance(end)

	many := newMeter(t, cfg)
	rng := rand.New(rand.NewPCG(1, 2))
	for now := t0; now.Before(end); {
		now = now.Add(time.Duration(rng.Int64N(int64(40 * time.Minute))))
		if now.After(end) {
			now = end
		}
		many.Advance(now)
	}
	if diff := cmp.Diff(one.State(), many.State()); diff != "" {
		t.Errorf("state after one step vs many (-one +many):\n%s", diff)
	}
	if one.Snapshot().Delivered == 0 {
		t.Error("nothing consumed")
	}
}

func TestProfile(t *testing.T) {
	daily := func(u Utility, seed uint64) Milli {
		cfg := baseConfig()
		cfg.Utility = u
		cfg.InitialCredit = 1_000_000
		cfg.Load = Load{Scale: 1000, Seed: seed}
		m := newMeter(t, cfg)
		m.Advance(t0.Add(24 * time.Hour))
		return m.Snapshot().Delivered
	}
	cases := []struct {
		u        Utility
		min, max Milli
	}{
		// A typical household: 6 to 14 kWh, 150 to 500 L of water, 0.6 to
		// 2 m³ of gas a day.
		{Electricity, 60 * milli, 140 * milli},
		{Water, 1500, 5000},
		{Gas, 6000, 20000},
	}
	for _, tc := range cases {
		t.Run(tc.u.String(), func(t *testing.T) {
			got := daily(tc.u, 99)
			if got < tc.min || got > tc.max {
				t.Errorf("a day's use %v Milli, want %v to %v", got, tc.min, tc.max)
			}
			if again := daily(tc.u, 99); again != got {
				t.Errorf("same seed gave %v then %v", got, again)
			}
			if other := daily(tc.u, 100); other == got {
				t.Errorf("another seed gave the same %v", got)
			}
		})
	}
}

func TestEnterAdvancesFirst(t *testing.T) {
	// A token typed after the credit ran out sees the relay open, and a
	// clock running back changes nothing.
	m := newMeter(t, constantConfig(10, 1000))
	at := t0.Add(2 * time.Hour)
	if r := m.Enter(creditTok(c07, 0, 10, tid2025), at); r.Outcome != sts.Accept {
		t.Fatalf("credit: %s", r.Outcome)
	}
	s := m.Snapshot()
	if s.Units.Consumed != 10*milli || s.Units.Remaining != 10*milli || !s.At.Equal(at) {
		t.Errorf("units %+v at %v, want 1 kWh used before the credit", s.Units, s.At)
	}
	m.Advance(t0)
	if got := m.Snapshot(); !cmp.Equal(got, s) {
		t.Errorf("advancing back changed the meter")
	}
}
