package meter

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stsfleet/stsfleet/protocol/sts"
)

// kcDUTK moves the test meter to key07b, a DUTK of revision 2, tariff 1,
// KEN 200.
var kcDUTK = sts.KeyChange{NewKey: key07b, KEN: 200, KRN: 2, KeyType: sts.KeyTypeDUTK,
	TariffIndex: 1}

func keyChangeTo(kt uint8) []string {
	kc := kcDUTK
	kc.KeyType = kt
	return keyChangeToks(c07, kc)
}

func wantKey(want KeyIdentity) func(*testing.T, *Meter) {
	return func(t *testing.T, m *Meter) {
		t.Helper()
		if diff := cmp.Diff(want, m.Snapshot().Key); diff != "" {
			t.Errorf("key identity (-want +got):\n%s", diff)
		}
	}
}

var (
	oldIdentity = KeyIdentity{KRN: 1, KeyType: sts.KeyTypeDUTK, KEN: 255, SGC: 123456,
		EA: sts.EA07, BaseDate: sts.Base2014}
	newIdentity = KeyIdentity{KRN: 2, KeyType: sts.KeyTypeDUTK, KEN: 200, TariffIndex: 1,
		SGC: 123456, EA: sts.EA07, BaseDate: sts.Base2014}
)

func TestKeyChange(t *testing.T) {
	kc := keyChangeToks(c07, kcDUTK)
	underNew := creditTok(c07b, 0, 10, tid2025)
	underOld := creditTok(c07, 0, 20, tid2025+1)

	runTransitions(t, []transition{
		{name: "1st then 2nd, then credit under the new key and the old", steps: []step{
			{"1st", 0, kc[0], sts.KCTPending},
			{"2nd", time.Minute, kc[1], sts.Accept},
			{"new key credit", 2 * time.Minute, underNew, sts.Accept},
			{"old key credit", 2 * time.Minute, underOld, sts.CRCError},
		}, check: func(t *testing.T, m *Meter) {
			wantKey(newIdentity)(t, m)
			wantUnits(10)(t, m)
		}},
		{name: "2nd then 1st", steps: []step{
			{"2nd", 0, kc[1], sts.KCTPending},
			{"1st", time.Minute, kc[0], sts.Accept},
			{"new key credit", 2 * time.Minute, underNew, sts.Accept},
		}, check: wantKey(newIdentity)},
		{name: "a section alone changes nothing", steps: []step{
			{"1st", 0, kc[0], sts.KCTPending},
			{"1st again", 0, kc[0], sts.KCTPending},
			{"old key still works", 0, underOld, sts.Accept},
			{"new key not yet", 0, underNew, sts.CRCError},
		}, check: wantKey(oldIdentity)},
		{name: "incomplete set forgotten after the timeout", steps: []step{
			{"1st", 0, kc[0], sts.KCTPending},
			// 10 minutes later the 1st is gone: the 2nd starts a new set.
			{"2nd after 10 min", DefaultKeyChangeTimeout, kc[1], sts.KCTPending},
			{"credit under old key", DefaultKeyChangeTimeout, underOld, sts.Accept},
			{"1st again completes", DefaultKeyChangeTimeout + time.Minute, kc[0], sts.Accept},
		}, check: wantKey(newIdentity)},
		{name: "configured timeout", cfg: func(c *Config) { c.KeyChangeTimeout = time.Hour },
			steps: []step{
				{"1st", 0, kc[0], sts.KCTPending},
				{"2nd after 59 min", 59 * time.Minute, kc[1], sts.Accept},
			}, check: wantKey(newIdentity)},
		{name: "sections are not TID or KEN checked",
			cfg: func(c *Config) { c.KEN = ken(0) },
			steps: []step{
				{"1st", 0, kc[0], sts.KCTPending},
				{"2nd", 0, kc[1], sts.Accept},
			}, check: wantKey(newIdentity)},
		{name: "a replayed set fails under the new key", steps: []step{
			{"1st", 0, kc[0], sts.KCTPending},
			{"2nd", 0, kc[1], sts.Accept},
			{"1st again", 0, kc[0], sts.CRCError},
		}},
		{name: "3rd section at a 64-bit meter is function_error", steps: []step{
			{"3rd", 0, encode(c07, sts.Fields{Class: sts.ClassManagement,
				SubClass: sts.SubKeyChange3}), sts.FunctionError},
		}},
		{name: "KRN 0 is range_error", steps: []step{
			{"1st", 0, encode(c07, sts.Fields{Class: sts.ClassManagement,
				SubClass: sts.SubKeyChange1, KeyType: 2, KeyPart: 1}), sts.KCTPending},
			{"2nd", 0, kc[1], sts.RangeError},
		}, check: wantKey(oldIdentity)},
		{name: "tariff index 99 is taken", steps: []step{
			{"1st", 0, kc[0], sts.KCTPending},
			{"2nd", 0, encode(c07, sts.Fields{Class: sts.ClassManagement,
				SubClass: sts.SubKeyChange2, TariffIndex: 99, KeyPart: 1}), sts.Accept},
		}},
	})
}

func TestKeyChangeTooHighTariffIndex(t *testing.T) {
	// Sections cannot be built with TI 100, so flip the bits in a block.
	f := sts.Fields{Class: sts.ClassManagement, SubClass: sts.SubKeyChange2, TariffIndex: 99}
	b, err := f.Block()
	if err != nil {
		t.Fatal(err)
	}
	b = b&^(0xFF<<48) | 100<<48
	b = b&^0xFFFF | uint64(sts.CRC(sts.ClassManagement, b))
	tok := sts.MakeToken(sts.ClassManagement, c07.EncryptBlock(b)).String()

	m := newMeter(t, baseConfig())
	if r := m.Enter(keyChangeToks(c07, kcDUTK)[0], t0); r.Outcome != sts.KCTPending {
		t.Fatalf("1st section: %s", r.Outcome)
	}
	if r := m.Enter(tok, t0); r.Outcome != sts.RangeError {
		t.Errorf("2nd section with TI 100: %s, want range_error", r.Outcome)
	}
	wantKey(oldIdentity)(t, m)
}

func TestKeyTypeRules(t *testing.T) {
	cases := []struct {
		from, to uint8
		want     sts.Outcome
	}{
		{sts.KeyTypeDUTK, sts.KeyTypeDUTK, sts.Accept},
		{sts.KeyTypeDUTK, sts.KeyTypeDDTK, sts.Accept},
		{sts.KeyTypeDUTK, sts.KeyTypeDITK, sts.Accept},
		{sts.KeyTypeDITK, sts.KeyTypeDUTK, sts.Accept},
		{sts.KeyTypeDDTK, sts.KeyTypeDUTK, sts.Accept},
		{sts.KeyTypeDCTK, sts.KeyTypeDCTK, sts.Accept},
		{sts.KeyTypeDUTK, sts.KeyTypeDCTK, sts.KeyTypeError},
		{sts.KeyTypeDITK, sts.KeyTypeDCTK, sts.KeyTypeError},
		{sts.KeyTypeDDTK, sts.KeyTypeDCTK, sts.KeyTypeError},
		{sts.KeyTypeDCTK, sts.KeyTypeDUTK, sts.KeyTypeError},
		{sts.KeyTypeDCTK, sts.KeyTypeDDTK, sts.KeyTypeError},
		{sts.KeyTypeDCTK, sts.KeyTypeDITK, sts.KeyTypeError},
	}
	for _, tc := range cases {
		name := sts.KeyTypeName(tc.from) + " to " + sts.KeyTypeName(tc.to)
		t.Run(name, func(t *testing.T) {
			cfg := baseConfig()
			cfg.KeyType = tc.from
			m := newMeter(t, cfg)
			kc := keyChangeTo(tc.to)
			if r := m.Enter(kc[0], t0); r.Outcome != sts.KCTPending {
				t.Fatalf("1st section: %s", r.Outcome)
			}
			r := m.Enter(kc[1], t0)
			if r.Outcome != tc.want {
				t.Fatalf("2nd section: %s, want %s", r.Outcome, tc.want)
			}
			wantKT := tc.from
			if tc.want == sts.Accept {
				wantKT = tc.to
			}
			if got := m.Snapshot().Key.KeyType; got != wantKT {
				t.Errorf("key type %d, want %d", got, wantKT)
			}
		})
	}
}

func TestKeyChangeIntoDDTKRefusesCredit(t *testing.T) {
	runTransitions(t, []transition{{name: "DUTK to DDTK", steps: []step{
		{"1st", 0, keyChangeTo(sts.KeyTypeDDTK)[0], sts.KCTPending},
		{"2nd", 0, keyChangeTo(sts.KeyTypeDDTK)[1], sts.Accept},
		{"credit", 0, creditTok(c07b, 0, 10, tid2025), sts.DDTKError},
		{"management", 0, mgmtTok(c07b, sts.SubClearTamper, 0, tid2025), sts.Accept},
	}}})
}

func TestRollOver(t *testing.T) {
	made := time.Date(2020, 1, 1, 8, 0, 0, 0, time.UTC)
	late1993 := mustTID(time.Date(2024, 11, 1, 12, 0, 0, 0, time.UTC), sts.Base1993)
	after := time.Date(2024, 11, 25, 9, 0, 0, 0, time.UTC)
	new2014 := mustTID(after, sts.Base2014)
	ro := sts.KeyChange{NewKey: key07b, KEN: 255, KRN: 2, KeyType: sts.KeyTypeDUTK, RO: true}
	kc := keyChangeToks(c07, ro)

	runTransitions(t, []transition{
		{name: "1993 to 2014 clears the TID memory", cfg: func(c *Config) {
			c.BaseDate = sts.Base1993
			c.Manufactured = made
		}, steps: []step{
			{"late 1993 credit", 0, creditTok(c07, 0, 10, late1993), sts.Accept},
			{"2014 tid is old before roll-over", 0, creditTok(c07, 0, 10, new2014),
				sts.OldError},
			{"1st", 0, kc[0], sts.KCTPending},
			{"2nd", 0, kc[1], sts.Accept},
			{"new base credit", 0, creditTok(c07b, 0, 20, new2014), sts.Accept},
			{"new base replay", 0, creditTok(c07b, 0, 20, new2014), sts.UsedError},
			{"old key token", 0, creditTok(c07, 0, 10, late1993+1), sts.CRCError},
		}, check: func(t *testing.T, m *Meter) {
			s := m.Snapshot()
			if s.Key.BaseDate != sts.Base2014 || s.TIDs != 1 || s.OldestTID != new2014 {
				t.Errorf("after roll-over: base %s, %d TIDs, oldest %d; want 2014, 1, %d",
					s.Key.BaseDate, s.TIDs, s.OldestTID, new2014)
			}
			wantUnits(30)(t, m)
		}},
		{name: "no base date after 2035", cfg: func(c *Config) {
			c.BaseDate = sts.Base2035
		}, steps: []step{
			{"1st", 0, kc[0], sts.KCTPending},
			{"2nd", 0, kc[1], sts.RangeError},
		}, check: func(t *testing.T, m *Meter) {
			if b := m.Snapshot().Key.BaseDate; b != sts.Base2035 {
				t.Errorf("base date %s, want 2035", b)
			}
		}},
	})

	t.Run("manufacture floor of the vector", func(t *testing.T) {
		cfg := baseConfig()
		cfg.BaseDate, cfg.Manufactured = sts.Base1993, made
		// PROTOCOL.md §4: 2020-01-01 08:00 is TID 14 200 320 on the 1993 base.
		if got := newMeter(t, cfg).Snapshot().OldestTID; got != 14_200_320 {
			t.Errorf("floor %d, want 14200320", got)
		}
	})
}

func TestKeyChangeEA11(t *testing.T) {
	kc := keyChangeToks(c11, sts.KeyChange{NewKey: key11b, KEN: 255, KRN: 3,
		KeyType: sts.KeyTypeDUTK, TariffIndex: 2, SGC: 654321})
	ea11 := func(c *Config) { c.EA, c.Key = sts.EA11, key11 }
	want := KeyIdentity{KRN: 3, KeyType: sts.KeyTypeDUTK, KEN: 255, TariffIndex: 2,
		SGC: 654321, EA: sts.EA11, BaseDate: sts.Base2014}

	runTransitions(t, []transition{
		{name: "four sections in order", cfg: ea11, steps: []step{
			{"credit under old key", 0, creditTok(c11, 0, 10, tid2025), sts.Accept},
			{"1st", 0, kc[0], sts.KCTPending},
			{"2nd", 0, kc[1], sts.KCTPending},
			{"3rd", 0, kc[2], sts.KCTPending},
			{"4th", 0, kc[3], sts.Accept},
			{"credit under new key", 0, creditTok(c11b, 0, 10, tid2025+1), sts.Accept},
			{"credit under old key", 0, creditTok(c11, 0, 10, tid2025+2), sts.CRCError},
		}, check: wantKey(want)},
		{name: "four sections out of order", cfg: ea11, steps: []step{
			{"4th", 0, kc[3], sts.KCTPending},
			{"2nd", 0, kc[1], sts.KCTPending},
			{"3rd", 0, kc[2], sts.KCTPending},
			{"1st", 0, kc[0], sts.Accept},
		}, check: wantKey(want)},
		{name: "three of four", cfg: ea11, steps: []step{
			{"1st", 0, kc[0], sts.KCTPending},
			{"2nd", 0, kc[1], sts.KCTPending},
			{"3rd", 0, kc[2], sts.KCTPending},
		}, check: func(t *testing.T, m *Meter) {
			if n := m.PendingKeyChange(t0); n != 3 {
				t.Errorf("pending sections %d, want 3", n)
			}
			if n := m.PendingKeyChange(t0.Add(DefaultKeyChangeTimeout)); n != 0 {
				t.Errorf("pending sections after the timeout %d, want 0", n)
			}
		}},
	})
}

func TestKeyChangeResultSections(t *testing.T) {
	m := newMeter(t, baseConfig())
	kc := keyChangeToks(c07, kcDUTK)
	if r := m.Enter(kc[1], t0); r.Sections != 1 || !r.Decoded || r.SubClass != 4 {
		t.Errorf("2nd section result %+v, want 1 section, sub-class 4", r)
	}
	if r := m.Enter(kc[0], t0); r.Sections != 0 || r.Outcome != sts.Accept {
		t.Errorf("completing result %+v, want accept with 0 sections", r)
	}
}
