package vending

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stsfleet/stsfleet/protocol/sts"
)

func intPtr(v int) *int { return &v }

func TestKeyChange(t *testing.T) {
	base1993 := func(d *Definition) {
		for i := range d.Meters {
			d.Meters[i].BaseDate = sts.Base1993
		}
	}
	for _, tc := range []struct {
		name     string
		pick     func(*Meter) bool
		req      KeyChangeRequest
		sections int
		// edit and sim set up a meter near the end of its base date.
		edit func(*Definition)
		sim  time.Time
	}{
		{"EA07 new KRN", isEA(sts.EA07), KeyChangeRequest{KRN: intPtr(2)}, 2, nil,
			time.Time{}},
		{"EA11 new SGC and TI", isEA(sts.EA11),
			KeyChangeRequest{SGC: ptr("123457"), TI: intPtr(5)}, 4, nil, time.Time{}},
		{"EA11 roll-over from 1993 to 2014", isEA(sts.EA11),
			KeyChangeRequest{BaseDate: intPtr(2014), RO: ptr(true), KRN: intPtr(3)}, 4,
			base1993, time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)},
		{"EA07 roll-over from 1993 to 2014", isEA(sts.EA07),
			KeyChangeRequest{BaseDate: intPtr(2014), RO: ptr(true), KRN: intPtr(2)}, 2,
			base1993, time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 20, tc.edit)
			e.cfg.FleetPath = filepath.Join(t.TempDir(), "fleet.json")
			if !tc.sim.IsZero() {
				e.cfg.Clock.Start = tc.sim
			}
			e.restart()
			m := e.meterOf(tc.pick)
			ctx := context.Background()
			before := e.vend(m.DRN, "10.00")
			if near := !tc.sim.IsZero(); near != (before.Warning != "") {
				t.Errorf("warning %q, want one: %v", before.Warning, near)
			}
			e.result(m.DRN, e.pub.take()[0].Msg, sts.Accept)

			kc, err := e.svc.ChangeKey(ctx, m.DRN, tc.req, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(kc.Tokens) != tc.sections {
				t.Fatalf("%d tokens, want %d", len(kc.Tokens), tc.sections)
			}
			// The set decodes under the current key and assembles into
			// the key derived for the new identity.
			var sections []sts.Fields
			for _, tok := range kc.Tokens {
				sections = append(sections, e.decode(m.DRN, tok))
			}
			got, err := sts.AssembleKeyChange(m.EA.KeyLen(), sections)
			if err != nil {
				t.Fatal(err)
			}
			next, _, err := tc.req.apply(m)
			if err != nil {
				t.Fatal(err)
			}
			wantKey, err := e.fleet.Keys.DecoderKey(&next)
			if err != nil {
				t.Fatal(err)
			}
			if !cmp.Equal(got.NewKey, wantKey) || got.KRN != next.KRN ||
				got.TariffIndex != next.TI {
				t.Errorf("the set carries KRN %d TI %d and another key than the new identity's",
					got.KRN, got.TariffIndex)
			}

			// Until the meter answers, other tokens are refused.
			_, err = e.svc.Vend(ctx, VendRequest{Meter: m.DRN, Amount: "10"}, "")
			if ruleOf(err) != RuleKeyChangePending {
				t.Errorf("vend during a key change: %v, want key_change_pending", err)
			}
			msgs := e.pub.take()
			for i, p := range msgs {
				o := sts.KCTPending
				if i == len(msgs)-1 {
					o = sts.Accept
				}
				e.result(m.DRN, p.Msg, o)
			}
			st, err := e.svc.VendStatus(ctx, kc.VendID)
			if err != nil {
				t.Fatal(err)
			}
			if st.State != "accepted" || st.Outcome != "accept" {
				t.Errorf("key change status %s/%s, want accepted/accept", st.State, st.Outcome)
			}

			// The vendor now sells under the new key.
			after := e.vend(m.DRN, "10.00")
			f := decodeUnder(t, DecoderKey{EA: m.EA, Key: wantKey}, after.Token)
			if f.TID != after.TID {
				t.Errorf("token after the key change decodes to TID %d, want %d", f.TID,
					after.TID)
			}
			if next.BaseDate == m.BaseDate && after.TID <= before.TID {
				t.Errorf("TID %d after the change not above %d", after.TID, before.TID)
			}
			if next.BaseDate != m.BaseDate {
				want, _ := sts.TIDAt(e.cfg.Clock.Now(), next.BaseDate)
				if after.TID != want || after.Warning != "" {
					t.Errorf("TID under the new base date %d (warning %q), want %d", after.TID,
						after.Warning, want)
				}
			}
			view, _ := e.svc.MeterView(m.DRN)
			if view.Meter != next {
				t.Errorf("vendor's meter after the change:\n%+v\nwant %+v", view.Meter, next)
			}
			// The fleet definition file follows, and so does the ledger.
			d, err := LoadDefinition(e.cfg.FleetPath)
			if err != nil {
				t.Fatal(err)
			}
			if i := slicesIndex(d.Meters, m.DRN); i < 0 || d.Meters[i] != next {
				t.Errorf("fleet file not updated")
			}
			e.restart()
			view, _ = e.svc.MeterView(m.DRN)
			if view.Meter != next {
				t.Errorf("meter after restart: %+v", view.Meter)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func slicesIndex(ms []Meter, drn string) int {
	for i := range ms {
		if ms[i].DRN == drn {
			return i
		}
	}
	return -1
}

func TestKeyChangeRejectedKeepsOldKey(t *testing.T) {
	e := newEnv(t, 10, nil)
	m := e.meterOf(isEA(sts.EA07))
	ctx := context.Background()
	kc, err := e.svc.ChangeKey(ctx, m.DRN, KeyChangeRequest{KT: intPtr(3)}, "")
	if err != nil {
		t.Fatal(err)
	}
	msgs := e.pub.take()
	e.result(m.DRN, msgs[0].Msg, sts.KCTPending)
	e.result(m.DRN, msgs[1].Msg, sts.KeyTypeError)
	if st, _ := e.svc.VendStatus(ctx, kc.VendID); st.State != "rejected" ||
		st.Outcome != "key_type_error" {
		t.Errorf("status %s/%s, want rejected/key_type_error", st.State, st.Outcome)
	}
	r := e.vend(m.DRN, "10.00")
	e.decode(m.DRN, r.Token)
}

func TestKeyChangeRequestErrors(t *testing.T) {
	e := newEnv(t, 10, nil)
	m07 := e.meterOf(isEA(sts.EA07))
	for _, tc := range []struct {
		name  string
		drn   string
		req   KeyChangeRequest
		field string
	}{
		{"nothing changes", m07.DRN, KeyChangeRequest{KRN: intPtr(int(m07.KRN))}, "sgc"},
		{"krn range", m07.DRN, KeyChangeRequest{KRN: intPtr(10)}, "krn"},
		{"sgc for a 64-bit key", m07.DRN, KeyChangeRequest{SGC: ptr("123457")}, "sgc"},
		{"base date without ro", m07.DRN, KeyChangeRequest{BaseDate: intPtr(2035)}, "ro"},
		{"bad base date", m07.DRN, KeyChangeRequest{BaseDate: intPtr(2000)}, "base_date"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.ChangeKey(context.Background(), tc.drn, tc.req, "")
			if got := fieldOf(err); got != tc.field {
				t.Errorf("error %v names %q, want %q", err, got, tc.field)
			}
		})
	}
	_, err := e.svc.ChangeKey(context.Background(), "01234567897", KeyChangeRequest{}, "")
	if !errors.Is(err, ErrUnknownMeter) {
		t.Errorf("unknown meter: %v", err)
	}
}

func TestManagementTokens(t *testing.T) {
	e := newEnv(t, 5, nil)
	m := e.meterOf(isUtility(Electricity))
	w := func(v int64) *int64 { return &v }
	for _, tc := range []struct {
		name  string
		req   ManagementRequest
		sub   uint8
		value uint16
		field string
	}{
		{"power limit", ManagementRequest{Function: FuncSetPowerLimit, Watts: w(5000)},
			sts.SubSetMaxPowerLimit, 5000, ""},
		{"power limit rounds up", ManagementRequest{Function: FuncSetPowerLimit,
			Watts: w(20000)}, sts.SubSetMaxPowerLimit, 0x416A, ""},
		{"phase unbalance", ManagementRequest{Function: FuncSetPhaseUnbalance, Watts: w(300)},
			sts.SubSetMaxPhaseUnbalance, 300, ""},
		{"clear all credit", ManagementRequest{Function: FuncClearCredit}, sts.SubClearCredit,
			0xFFFF, ""},
		{"clear water", ManagementRequest{Function: FuncClearCredit, Register: intPtr(1)},
			sts.SubClearCredit, 1, ""},
		{"clear tamper", ManagementRequest{Function: FuncClearTamper}, sts.SubClearTamper, 0, ""},
		{"no watts", ManagementRequest{Function: FuncSetPowerLimit}, 0, 0, "watts"},
		{"watts on clear", ManagementRequest{Function: FuncClearTamper, Watts: w(1)}, 0, 0,
			"watts"},
		{"register range", ManagementRequest{Function: FuncClearCredit, Register: intPtr(9)},
			0, 0, "register"},
		{"unknown", ManagementRequest{Function: "reboot"}, 0, 0, "function"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := e.svc.Manage(context.Background(), m.DRN, tc.req, "")
			if tc.field != "" {
				if got := fieldOf(err); got != tc.field {
					t.Errorf("error %v names %q, want %q", err, got, tc.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			f := e.decode(m.DRN, r.Token)
			if f.Class != sts.ClassManagement || f.SubClass != tc.sub || f.Value != tc.value ||
				f.TID != r.TID {
				t.Errorf("decoded class %d sub %d value %#x tid %d, want 2/%d/%#x/%d", f.Class,
					f.SubClass, f.Value, f.TID, tc.sub, tc.value, r.TID)
			}
		})
	}
	e.pub.take()
}

func TestFleetRegistration(t *testing.T) {
	e := newEnv(t, 3, nil)
	ctx := context.Background()
	other, err := NewDefinition(FleetConfig{Meters: 4, Seed: 99, MfrCode: 1234})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.RegisterFleet(ctx, other, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != 4 || res.Unchanged != 0 || len(res.Injection) != 4 {
		t.Errorf("register: %+v", res)
	}
	// The vendor's tokens decode under the injection it handed out.
	drn := other.Meters[0].DRN
	r, err := e.svc.Vend(ctx, VendRequest{Meter: drn, Amount: "30"}, "")
	if err != nil {
		t.Fatal(err)
	}
	decodeUnder(t, res.Injection[drn], r.Token)
	// Again: nothing new. A changed meter conflicts.
	res, err = e.svc.RegisterFleet(ctx, other, false)
	if err != nil || res.Added != 0 || res.Unchanged != 4 {
		t.Errorf("register again: %+v, %v", res, err)
	}
	other.Meters[2].KRN = 2
	if _, err := e.svc.RegisterFleet(ctx, other, false); !errors.Is(err, ErrFleetConflict) ||
		fieldOf(err) != "meters[2]" {
		t.Errorf("conflicting meter: %v", err)
	}
	// The registration survives a restart.
	e.restart()
	if got := e.svc.Summary().Meters; got != 7 {
		t.Errorf("meters after restart = %d, want 7", got)
	}
	b, _ := json.Marshal(e.svc.Definition())
	if _, err := ParseDefinition(b); err != nil {
		t.Errorf("exported definition does not parse: %v", err)
	}
	os.Remove(e.cfg.DBPath)
}
