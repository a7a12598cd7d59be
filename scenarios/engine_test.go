package scenarios

import (
	"context"
	"strings"
	"testing"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// acceptingMeters is a System whose meters accept every token typed at
// them with credit: a broken meter a brute force must catch.
type acceptingMeters struct{ System }

func (a acceptingMeters) Type(ctx context.Context, drn, token string) (Result, error) {
	if _, err := a.System.Type(ctx, drn, token); err != nil {
		return Result{}, err
	}
	return Result{DRN: drn, Token: token, Outcome: sts.Accept, Decoded: true,
		Class: sts.ClassCredit, Credited: "1.0", Unit: "kWh"}, nil
}

func TestFalseAcceptsFail(t *testing.T) {
	sc, err := Parse("fa.yaml", []byte(`
name: false-accepts
description: a meter that takes anything
fleet: {meters: 1}
speed: 600
steps:
  - brute_force: {tokens: 20}
    expect: {false_accepts: {within: 10}}
`))
	if err != nil {
		t.Fatal(err)
	}
	st, err := NewStack(context.Background(), sc, StackConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	rep := Run(context.Background(), sc, acceptingMeters{st}, nil)
	f := rep.Failures()
	if rep.Passed || len(f) != 1 || !strings.HasSuffix(f[0], "false_accepts") {
		t.Errorf("failures = %v, want false_accepts", f)
	}
	if got := rep.Steps[0].Checks[0].Got; got != "20" {
		t.Errorf("false accepts = %s, want 20", got)
	}
}

func TestFalseAcceptChance(t *testing.T) {
	m := &meterRun{base: sts.Base2014, ken: 255}
	start := DefaultStart
	p := falseAcceptChance(m, start)
	floor, _ := sts.TIDAt(start.AddDate(0, 0, -30), sts.Base2014)
	want := 0.7378697629483821 * 0.25 / 65536 * (1 - float64(floor)/(1<<24))
	if p < want*0.999999 || p > want*1.000001 {
		t.Errorf("chance = %g, want %g", p, want)
	}
	m.ken = 10
	if p := falseAcceptChance(m, start); p != 0 {
		t.Errorf("chance under an expired key = %g, want 0", p)
	}
}

func TestForgedTokenDecodes(t *testing.T) {
	key := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	mi := MeterInfo{DRN: "47000000001", Utility: "water", EA: sts.EA07, Key: key}
	tok, err := forgeCredit(mi, key, "2.5", 1234)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := sts.NewCipher(sts.EA07, key, nil)
	tk, _ := sts.ParseToken(tok)
	f, ok, err := sts.Decode(c, tk)
	if err != nil || !ok || f.TID != 1234 || f.SubClass != sts.SubWater ||
		sts.DecodeAmount(f.Value) != 25 {
		t.Errorf("forged token decodes to %+v, crc %v, %v", f, ok, err)
	}
}
