package meter

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stsfleet/stsfleet/protocol/sts"
)

// busyMeter is a meter with every part of its state in use: credit in both
// registers, consumption under way, a stored key change section, a tamper,
// a locked keypad and a power limit.
func busyMeter(t *testing.T) (*Meter, time.Time) {
	t.Helper()
	cfg := baseConfig()
	cfg.InitialCredit = 100
	cfg.Load = Load{Seed: 5}
	cfg.TIDMemory = 4
	cfg.Lockout = Lockout{Attempts: 2, Period: time.Hour}
	m := newMeter(t, cfg)
	now := t0.Add(90 * time.Minute)
	steps := []struct {
		tok  string
		want sts.Outcome
	}{
		{creditTok(c07, 0, 50, tid2025), sts.Accept},
		{currencyTok(c07, sts.SubElectricityCurrency, sts.CurrencyAmount{Mantissa: 777},
			tid2025+1), sts.Accept},
		{mgmtTok(c07, sts.SubSetMaxPhaseUnbalance, amountField(300), tid2025+2), sts.Accept},
		{keyChangeToks(c07, kcDUTK)[1], sts.KCTPending},
		{creditTok(c07b, 0, 1, tid2025), sts.CRCError},
		{creditTok(c07b, 0, 1, tid2025), sts.CRCError},
	}
	for i, s := range steps {
		if r := m.Enter(s.tok, now); r.Outcome != s.want {
			t.Fatalf("step %d: %s, want %s", i, r.Outcome, s.want)
		}
	}
	m.SetTamper(now.Add(time.Minute))
	return m, now.Add(time.Minute)
}

func TestStateRoundTrip(t *testing.T) {
	m, now := busyMeter(t)
	before := m.State()
	data, err := json.Marshal(before)
	if err != nil {
		t.Fatal(err)
	}
	var decoded State
	if err := json.Unmarshal(data, &decoded); err != nil {
		t.Fatal(err)
	}
	r, err := Restore(decoded, nil)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if diff := cmp.Diff(before, r.State()); diff != "" {
		t.Fatalf("state after restore (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(m.Snapshot(), r.Snapshot()); diff != "" {
		t.Fatalf("snapshot after restore (-before +after):\n%s", diff)
	}

	// Both meters now behave the same way.
	later := now.Add(2 * time.Hour)
	for _, tok := range []string{
		creditTok(c07, 0, 50, tid2025),
		mgmtTok(c07, sts.SubClearTamper, 0, tid2025+3),
		keyChangeToks(c07, kcDUTK)[0],
		creditTok(c07b, 0, 70, tid2025+4),
	} {
		a, b := m.Enter(tok, later), r.Enter(tok, later)
		if diff := cmp.Diff(a, b); diff != "" {
			t.Fatalf("results differ (-original +restored):\n%s", diff)
		}
	}
	m.Advance(later.Add(30 * time.Hour))
	r.Advance(later.Add(30 * time.Hour))
	if diff := cmp.Diff(m.State(), r.State()); diff != "" {
		t.Errorf("states differ after running (-original +restored):\n%s", diff)
	}
}

func TestStateRoundTripEA11(t *testing.T) {
	cfg := baseConfig()
	cfg.EA, cfg.Key = sts.EA11, key11
	m := newMeter(t, cfg)
	kc := keyChangeToks(c11, sts.KeyChange{NewKey: key11b, KEN: 255, KRN: 2, KeyType: 2,
		SGC: 1})
	m.Enter(kc[2], t0)
	r, err := Restore(m.State(), nil)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	for _, tok := range []string{kc[0], kc[1], kc[3], creditTok(c11b, 0, 5, tid2025)} {
		if a, b := m.Enter(tok, t0), r.Enter(tok, t0); a != b {
			t.Fatalf("results differ: %+v and %+v", a, b)
		}
	}
	if got := r.Snapshot().Key.SGC; got != 1 {
		t.Errorf("restored meter's SGC %d after the key change, want 1", got)
	}
}

func TestRestoreRejects(t *testing.T) {
	m, _ := busyMeter(t)
	other, err := sts.NewTables(sts.TableSet{
		S1: [16]uint8{1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14},
		S2: [16]uint8{15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
		P:  identityPermutation(),
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		tables *sts.Tables
		edit   func(*State)
	}{
		{"other STA tables", other, func(*State) {}},
		{"version", nil, func(s *State) { s.Version = 99 }},
		{"bad DRN", nil, func(s *State) { s.Config.DRN = "1" }},
		{"unbalanced register", nil, func(s *State) { s.Units.Credited++ }},
		{"TIDs not ascending", nil, func(s *State) { s.TIDs = []uint32{5, 3} }},
		{"more TIDs than memory", nil, func(s *State) { s.TIDs = []uint32{1, 2, 3, 4, 5} }},
		{"demand remainder", nil, func(s *State) { s.DemandRemainder = nsPerMilli }},
		{"key change section", nil, func(s *State) {
			s.KeyChange.Sections = []string{"0123456789ABCDEF"}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := m.State()
			tc.edit(&s)
			if _, err := Restore(s, tc.tables); !errors.Is(err, ErrConfig) {
				t.Errorf("Restore: %v, want ErrConfig", err)
			}
		})
	}
}

func identityPermutation() [64]uint8 {
	var p [64]uint8
	for i := range p {
		p[i] = uint8(i)
	}
	return p
}

func TestSnapshotHoldsNoKey(t *testing.T) {
	m, _ := busyMeter(t)
	data, err := json.Marshal(m.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range [][]byte{key07, key07b} {
		if strings.Contains(strings.ToUpper(string(data)), hex.EncodeToString(k)) ||
			strings.Contains(strings.ToLower(string(data)), hex.EncodeToString(k)) {
			t.Errorf("snapshot JSON holds a key: %s", data)
		}
	}
	s := m.Snapshot()
	want := Snapshot{
		DRN: testDRN, Utility: Electricity, At: s.At, Units: s.Units, Currency: s.Currency,
		Delivered: s.Delivered, Demand: s.Demand,
		Relay:  Relay{Reason: RelayTamper, Since: s.At},
		Tamper: true, PhaseUnbalanceLimit: 300, Key: oldIdentity, KeyChangeSections: 1,
		KeypadLocked: true, TIDs: 4, OldestTID: s.OldestTID,
	}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("snapshot (-want +got):\n%s", diff)
	}
}

// TestConservation runs meters through long random lives of credit,
// clearing, tampering, power limits and consumption and checks after every
// step that sold = consumed + remaining + cleared holds exactly for both
// registers, and that every delivered Milli was paid for.
func TestConservation(t *testing.T) {
	for seed := range uint64(6) {
		t.Run("seed "+string(rune('0'+seed)), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0x5eed))
			cfg := baseConfig()
			cfg.Load = Load{Seed: seed + 1, Scale: uint32(500 + rng.IntN(3000))}
			if seed%2 == 1 {
				cfg.Load = Load{Kind: LoadConstant, Rate: uint32(1 + rng.IntN(5000))}
			}
			cfg.Price = uint64(1 + rng.IntN(400_000))
			m := newMeter(t, cfg)
			now, tid := t0, tid2025
			for i := range 3000 {
				now = now.Add(time.Duration(rng.Int64N(int64(3 * time.Hour))))
				tid++
				randomEvent(rng, m, now, tid)
				checkBalance(t, m, cfg.Price, i)
			}
			s := m.Snapshot()
			if s.Delivered == 0 || s.Units.Cleared == 0 || s.Currency.Consumed == 0 {
				t.Errorf("a life without use: %+v", s)
			}
		})
	}
}

func randomEvent(rng *rand.Rand, m *Meter, now time.Time, tid uint32) {
	switch rng.IntN(8) {
	case 0, 1:
		m.Enter(creditTok(c07, 0, uint64(rng.IntN(2000)), tid), now)
	case 2:
		a := sts.CurrencyAmount{Exponent: uint8(rng.IntN(4)), Mantissa: uint16(rng.IntN(16384))}
		m.Enter(currencyTok(c07, sts.SubElectricityCurrency, a, tid), now)
	case 3:
		reg := []uint16{0, 4, sts.ClearAllRegisters}[rng.IntN(3)]
		m.Enter(mgmtTok(c07, sts.SubClearCredit, reg, tid), now)
	case 4:
		limit := []uint64{0, uint64(500 + rng.IntN(20_000))}[rng.IntN(2)]
		m.Enter(mgmtTok(c07, sts.SubSetMaxPowerLimit, amountField(limit), tid), now)
	case 5:
		if rng.IntN(4) == 0 {
			m.SetTamper(now)
		} else {
			m.Enter(mgmtTok(c07, sts.SubClearTamper, 0, tid), now)
		}
	default:
		m.Advance(now)
	}
}

func checkBalance(t *testing.T, m *Meter, price uint64, step int) {
	t.Helper()
	s := m.Snapshot()
	for name, r := range map[string]Register{"units": s.Units, "currency": s.Currency} {
		if r.Credited != r.Consumed+r.Remaining+r.Cleared {
			t.Fatalf("step %d: %s register %+v does not balance", step, name, r)
		}
	}
	bought := s.Currency.Consumed / Milli(price)
	if s.Currency.Consumed%Milli(price) != 0 || s.Delivered != s.Units.Consumed+bought {
		t.Fatalf("step %d: delivered %v, units consumed %v, currency spent %v at %d",
			step, s.Delivered, s.Units.Consumed, s.Currency.Consumed, price)
	}
	if s.Relay.Closed == (m.available() == 0) && !s.Tamper && s.Relay.Reason != RelayPowerLimit {
		t.Fatalf("step %d: relay %+v with %v available", step, s.Relay, m.available())
	}
}
