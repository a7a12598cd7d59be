package meter

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stsfleet/stsfleet/protocol/sts"
)

// step is one token typed at t0+after.
type step struct {
	name  string
	after time.Duration
	token string
	want  sts.Outcome
}

// transition is a meter configuration, a sequence of tokens with their
// expected outcomes, and a check of the state they leave.
type transition struct {
	name  string
	cfg   func(*Config)
	steps []step
	check func(t *testing.T, m *Meter)
}

func runTransitions(t *testing.T, cases []transition) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			m := newMeter(t, cfg)
			for i, s := range tc.steps {
				r := m.Enter(s.token, t0.Add(s.after))
				if r.Outcome != s.want {
					t.Fatalf("step %d (%s): outcome %s, want %s", i, s.name, r.Outcome, s.want)
				}
			}
			if tc.check != nil {
				tc.check(t, m)
			}
		})
	}
}

func wantUnits(want uint64) func(*testing.T, *Meter) {
	return func(t *testing.T, m *Meter) {
		t.Helper()
		if got := unitsLeft(m); got != want {
			t.Errorf("units register %d base units, want %d", got, want)
		}
	}
}

func TestEnterCredit(t *testing.T) {
	typo := []byte(creditTok(c07, 0, 125, tid2025))
	typo[19] = '0' + (typo[19]-'0'+1)%10
	floor := mustTID(t0.Add(-DefaultManufactureAge), sts.Base2014)
	expiring := uint8(tid2025>>16) - 1

	runTransitions(t, []transition{
		{name: "credit accepted", steps: []step{
			{"12.5 kWh", 0, creditTok(c07, 0, 125, tid2025), sts.Accept},
		}, check: wantUnits(125)},
		{name: "same token twice is used_error and credit unchanged", steps: []step{
			{"first", 0, creditTok(c07, 0, 125, tid2025), sts.Accept},
			{"again", time.Minute, creditTok(c07, 0, 125, tid2025), sts.UsedError},
		}, check: wantUnits(125)},
		{name: "token for another meter is crc_error", steps: []step{
			{"other key", 0, creditTok(c07b, 0, 125, tid2025), sts.CRCError},
		}, check: wantUnits(0)},
		{name: "typing error is crc_error", steps: []step{
			{"last digit changed", 0, string(typo), sts.CRCError},
		}},
		{name: "below the manufacture floor is old_error", steps: []step{
			{"floor-1", 0, creditTok(c07, 0, 10, floor-1), sts.OldError},
			{"floor itself", 0, creditTok(c07, 0, 10, floor), sts.UsedError},
			{"floor+1", 0, creditTok(c07, 0, 10, floor+1), sts.Accept},
		}, check: wantUnits(10)},
		{name: "floor 0 takes every tid", cfg: func(c *Config) {
			c.Manufactured = sts.Base2014.Time()
		}, steps: []step{
			{"tid 1", 0, creditTok(c07, 0, 10, 1), sts.Accept},
		}},
		{name: "older than the whole TID memory is old_error",
			cfg: func(c *Config) { c.TIDMemory = 3 },
			steps: []step{
				{"100", 0, creditTok(c07, 0, 1, floor+100), sts.Accept},
				{"200", 0, creditTok(c07, 0, 1, floor+200), sts.Accept},
				// The memory is full: the floor is dropped.
				{"300", 0, creditTok(c07, 0, 1, floor+300), sts.Accept},
				{"50, below the oldest", 0, creditTok(c07, 0, 1, floor+50), sts.OldError},
				{"150, out of order", 0, creditTok(c07, 0, 1, floor+150), sts.Accept},
				// 150 dropped 100: 120 is now older than everything kept.
				{"120", 0, creditTok(c07, 0, 1, floor+120), sts.OldError},
				{"200 again", 0, creditTok(c07, 0, 1, floor+200), sts.UsedError},
			}, check: wantUnits(4)},
		{name: "KEN expiry", cfg: func(c *Config) { c.KEN = ken(expiring) }, steps: []step{
			{"tid past KEN", 0, creditTok(c07, 0, 10, tid2025), sts.KeyExpiredError},
			{"last tid under KEN", 0,
				creditTok(c07, 0, 10, uint32(expiring)<<16|0xFFFF), sts.Accept},
			{"first tid past KEN", 0,
				creditTok(c07, 0, 10, uint32(expiring+1)<<16), sts.KeyExpiredError},
		}, check: wantUnits(10)},
		{name: "credit under a DDTK is ddtk_error",
			cfg: func(c *Config) { c.KeyType = sts.KeyTypeDDTK },
			steps: []step{
				{"credit", 0, creditTok(c07, 0, 10, tid2025), sts.DDTKError},
				{"management still taken", 0, mgmtTok(c07, sts.SubSetMaxPowerLimit,
					amountField(3000), tid2025), sts.Accept},
			}, check: wantUnits(0)},
		{name: "credit under a DITK is taken",
			cfg:   func(c *Config) { c.KeyType = sts.KeyTypeDITK },
			steps: []step{{"credit", 0, creditTok(c07, 0, 10, tid2025), sts.Accept}}},
		{name: "foreign utility is function_error", steps: []step{
			{"water", 0, creditTok(c07, sts.SubWater, 10, tid2025), sts.FunctionError},
			{"gas", 0, creditTok(c07, sts.SubGas, 10, tid2025+1), sts.FunctionError},
			{"time", 0, creditTok(c07, sts.SubTime, 10, tid2025+2), sts.FunctionError},
			{"water currency", 0, currencyTok(c07, sts.SubWaterCurrency,
				sts.CurrencyAmount{Mantissa: 100}, tid2025+3), sts.FunctionError},
			{"own service", 0, creditTok(c07, 0, 10, tid2025), sts.Accept},
		}, check: wantUnits(10)},
		{name: "water meter takes sub-classes 1 and 5",
			cfg: func(c *Config) { c.Utility = Water },
			steps: []step{
				{"electricity", 0, creditTok(c07, 0, 10, tid2025), sts.FunctionError},
				{"water", 0, creditTok(c07, sts.SubWater, 10, tid2025+1), sts.Accept},
				{"water currency", 0, currencyTok(c07, sts.SubWaterCurrency,
					sts.CurrencyAmount{Mantissa: 100}, tid2025+2), sts.Accept},
			}, check: func(t *testing.T, m *Meter) {
				if got, _ := m.Credit(sts.SubWaterCurrency); got != 100*milli {
					t.Errorf("water currency register %v, want 100 base units", got)
				}
			}},
		{name: "gas meter takes sub-classes 2 and 6",
			cfg: func(c *Config) { c.Utility = Gas },
			steps: []step{
				{"gas", 0, creditTok(c07, sts.SubGas, 10, tid2025), sts.Accept},
				{"gas currency", 0, currencyTok(c07, sts.SubGasCurrency,
					sts.CurrencyAmount{Mantissa: 1}, tid2025+1), sts.Accept},
				{"water", 0, creditTok(c07, sts.SubWater, 10, tid2025+2), sts.FunctionError},
			}, check: wantUnits(10)},
		{name: "currency credit goes to the currency register", steps: []step{
			{"KES 1234.5", 0, currencyTok(c07, sts.SubElectricityCurrency,
				sts.CurrencyAmount{Exponent: 4, Mantissa: 12345}, tid2025), sts.Accept},
		}, check: func(t *testing.T, m *Meter) {
			// 10^4·12345 + 2^14·(10^4−1)/9 base units of 0.00001.
			want := Milli(123_450_000+16384*1111) * milli
			if got, _ := m.Credit(sts.SubElectricityCurrency); got != want {
				t.Errorf("currency register %v, want %v", got, want)
			}
		}},
		{name: "negative currency is range_error", steps: []step{
			{"-1", 0, currencyTok(c07, sts.SubElectricityCurrency,
				sts.CurrencyAmount{Negative: true, Mantissa: 1}, tid2025), sts.RangeError},
		}},
		{name: "register overflow", cfg: func(c *Config) { c.CreditLimit = 1000 }, steps: []step{
			{"600", 0, creditTok(c07, 0, 600, tid2025), sts.Accept},
			{"500 more", 0, creditTok(c07, 0, 500, tid2025+1), sts.OverflowError},
			{"400 fits exactly", 0, creditTok(c07, 0, 400, tid2025+2), sts.Accept},
			{"0.1 more", 0, creditTok(c07, 0, 1, tid2025+3), sts.OverflowError},
		}, check: wantUnits(1000)},
		{name: "currency overflow", steps: []step{
			{"exponent 31", 0, currencyTok(c07, sts.SubElectricityCurrency,
				sts.CurrencyAmount{Exponent: 31, Mantissa: 1}, tid2025), sts.OverflowError},
		}},
		{name: "overflowed token leaves its tid unused",
			cfg: func(c *Config) { c.CreditLimit = 100 },
			steps: []step{
				{"200 overflows", 0, creditTok(c07, 0, 200, tid2025), sts.OverflowError},
				{"same tid still free", 0,
					creditTok(c07, 0, 50, tid2025), sts.Accept},
			}},
	})
}

func TestEnterFormatAndClass(t *testing.T) {
	class3 := sts.MakeToken(sts.ClassReserved, 0x0123456789ABCDEF).String()
	runTransitions(t, []transition{
		{name: "format errors", steps: []step{
			{"empty", 0, "", sts.FormatError},
			{"short", 0, "1234", sts.FormatError},
			{"letters", 0, "1234567890123456789a", sts.FormatError},
			{"21 digits", 0, "123456789012345678901", sts.FormatError},
			{"not below 2^66", 0, "99999999999999999999", sts.FormatError},
		}},
		{name: "class 3 is function_error", steps: []step{
			{"class 3", 0, class3, sts.FunctionError},
		}},
		{name: "grouped digits are read", steps: []step{
			{"dashes", 0, grouped(creditTok(c07, 0, 10, tid2025)), sts.Accept},
		}},
	})
}

func grouped(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(s[i : i+4])
	}
	return b.String()
}

// drn13 is a 13-digit DRN with manufacturer code 1234.
func drn13(t testing.TB) string {
	d, err := sts.LuhnCheckDigit("123400000001")
	if err != nil {
		t.Fatal(err)
	}
	return "123400000001" + string(d)
}

func TestEnterTest(t *testing.T) {
	four := func(c *Config) { c.DRN = drn13(t) }
	runTransitions(t, []transition{
		{name: "2-digit meter", steps: []step{
			{"sub-class 0, code 0", 0, testTok(0, ControlHMI, 0), sts.Accept},
			{"sub-class 0, own code", 0, testTok(0, ControlHMI, 37), sts.Accept},
			{"sub-class 0, other code", 0, testTok(0, ControlHMI, 12), sts.MfrCodeError},
			{"sub-class 1", 0, testTok(1, ControlHMI, 37), sts.FunctionError},
			{"sub-class 2", 0, rawTok(nil, sts.ClassTest, 2, 0), sts.FunctionError},
		}},
		{name: "2-digit meter taking both", cfg: func(c *Config) { c.BothTestSubClasses = true },
			steps: []step{
				{"sub-class 1, own code", 0, testTok(1, ControlHMI, 37), sts.Accept},
				{"sub-class 1, other code", 0, testTok(1, ControlHMI, 1234), sts.MfrCodeError},
			}},
		{name: "4-digit meter", cfg: four, steps: []step{
			{"sub-class 1, own code", 0, testTok(1, ControlKey, 1234), sts.Accept},
			{"sub-class 1, code 0", 0, testTok(1, ControlKey, 0), sts.Accept},
			{"sub-class 1, other code", 0, testTok(1, ControlKey, 1235), sts.MfrCodeError},
			{"sub-class 0", 0, testTok(0, ControlKey, 0), sts.FunctionError},
		}},
		{name: "configured code", cfg: func(c *Config) { c.MfrCode = 12 }, steps: []step{
			{"own code", 0, testTok(0, ControlHMI, 12), sts.Accept},
			{"DRN digits", 0, testTok(0, ControlHMI, 37), sts.MfrCodeError},
		}},
		{name: "class 1 typo is crc_error", steps: []step{
			{"typo", 0, flipLast(testTok(0, ControlHMI, 0)), sts.CRCError},
		}},
	})
}

func flipLast(s string) string {
	b := []byte(s)
	b[len(b)-1] = '0' + (b[len(b)-1]-'0'+1)%10
	return string(b)
}

func TestDisplay(t *testing.T) {
	cfg := baseConfig()
	cfg.TariffIndex = 7
	cfg.KRN = 3
	cfg.PowerLimit = 4000
	m := newMeter(t, cfg)
	all := ControlLoadSwitch | ControlHMI | ControlCumulative | ControlKey | ControlTariff |
		ControlPowerLimit | 1<<20
	r := m.Enter(testTok(0, all, 0), t0)
	want := Display{Control: all, KRN: 3, KeyType: sts.KeyTypeDUTK, TariffIndex: 7,
		PowerLimit: 4000}
	if r.Outcome != sts.Accept {
		t.Fatalf("outcome %s", r.Outcome)
	}
	if diff := cmp.Diff(want, r.Display); diff != "" {
		t.Errorf("display (-want +got):\n%s", diff)
	}
	if r.Display.Unknown() != 1<<20 {
		t.Errorf("unknown bits %#x, want bit 20", r.Display.Unknown())
	}
	lines := []string{"load switch test", "display test", "total 0.0 kWh", "krn 3 kt 2",
		"ti 07", "power limit 4000 W"}
	if diff := cmp.Diff(lines, r.Display.Lines("kWh")); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

func TestEnterManagement(t *testing.T) {
	credited := func(c *Config) { c.InitialCredit = 500 }
	runTransitions(t, []transition{
		{name: "set maximum power limit", steps: []step{
			{"2 kW", 0, mgmtTok(c07, sts.SubSetMaxPowerLimit, amountField(2000), tid2025),
				sts.Accept},
			{"replayed", 0, mgmtTok(c07, sts.SubSetMaxPowerLimit, amountField(2000), tid2025),
				sts.UsedError},
		}, check: func(t *testing.T, m *Meter) {
			if m.powerLimit != 2000 {
				t.Errorf("power limit %d, want 2000", m.powerLimit)
			}
		}},
		{name: "clear own units register", cfg: credited, steps: []step{
			{"register 0", 0, mgmtTok(c07, sts.SubClearCredit, 0, tid2025), sts.Accept},
		}, check: func(t *testing.T, m *Meter) {
			if m.units.Remaining != 0 || m.units.Cleared != 500*milli {
				t.Errorf("units register %+v, want 500 base units cleared", m.units)
			}
			if s := m.Snapshot(); s.Relay.Closed || s.Relay.Reason != RelayNoCredit {
				t.Errorf("relay %+v, want open for no credit", s.Relay)
			}
		}},
		{name: "clear all registers", cfg: credited, steps: []step{
			{"currency", 0, currencyTok(c07, sts.SubElectricityCurrency,
				sts.CurrencyAmount{Mantissa: 900}, tid2025), sts.Accept},
			{"0xFFFF", 0, mgmtTok(c07, sts.SubClearCredit, sts.ClearAllRegisters, tid2025+1),
				sts.Accept},
		}, check: func(t *testing.T, m *Meter) {
			if m.units.Cleared != 500*milli || m.currency.Cleared != 900*milli {
				t.Errorf("cleared %v and %v, want 500 and 900 base units",
					m.units.Cleared, m.currency.Cleared)
			}
		}},
		{name: "clear a register the meter lacks", cfg: credited, steps: []step{
			{"water register", 0, mgmtTok(c07, sts.SubClearCredit, 1, tid2025), sts.Accept},
		}, check: wantUnits(500)},
		{name: "clear an unknown register is range_error", cfg: credited, steps: []step{
			{"register 8", 0, mgmtTok(c07, sts.SubClearCredit, 8, tid2025), sts.RangeError},
		}, check: wantUnits(500)},
		{name: "clear tamper", steps: []step{
			{"clear", 0, mgmtTok(c07, sts.SubClearTamper, 0, tid2025), sts.Accept},
		}},
		{name: "set maximum phase unbalance", steps: []step{
			{"500 W", 0, mgmtTok(c07, sts.SubSetMaxPhaseUnbalance, amountField(500), tid2025),
				sts.Accept},
		}, check: func(t *testing.T, m *Meter) {
			if got := m.Snapshot().PhaseUnbalanceLimit; got != 500 {
				t.Errorf("phase unbalance limit %d, want 500", got)
			}
		}},
		{name: "tariff rate and water factor unsupported", steps: []step{
			{"tariff rate", 0, mgmtTok(c07, sts.SubSetTariffRate, 7, tid2025),
				sts.FunctionError},
			{"water factor", 0, mgmtTok(c07, sts.SubSetWaterMeterFactor, 7, tid2025),
				sts.FunctionError},
		}},
		{name: "tariff rate and water factor supported", cfg: func(c *Config) {
			c.SupportsTariffRate, c.SupportsWaterFactor = true, true
		}, steps: []step{
			{"tariff rate", 0, mgmtTok(c07, sts.SubSetTariffRate, 7, tid2025), sts.Accept},
			{"water factor", 0, mgmtTok(c07, sts.SubSetWaterMeterFactor, 9, tid2025+1),
				sts.Accept},
		}, check: func(t *testing.T, m *Meter) {
			if m.tariffRate != 7 || m.waterFactor != 9 {
				t.Errorf("rate %d factor %d, want 7 and 9", m.tariffRate, m.waterFactor)
			}
		}},
		{name: "reserved sub-class is function_error", steps: []step{
			{"sub-class 10", 0, rawTok(c07, sts.ClassManagement, 10, 0), sts.FunctionError},
			{"sub-class 15", 0, rawTok(c07, sts.ClassManagement, 15, 1<<40), sts.FunctionError},
		}},
		{name: "management tokens are KEN checked",
			cfg: func(c *Config) { c.KEN = ken(uint8(tid2025>>16) - 1) },
			steps: []step{
				{"power limit", 0, mgmtTok(c07, sts.SubSetMaxPowerLimit, 1, tid2025),
					sts.KeyExpiredError},
			}},
	})
}

func TestLockout(t *testing.T) {
	bad := creditTok(c07b, 0, 10, tid2025)
	good := creditTok(c07, 0, 10, tid2025)
	locking := func(c *Config) { c.Lockout = Lockout{Attempts: 3, Period: time.Hour} }
	runTransitions(t, []transition{
		{name: "locks after 3 rejections and unlocks after the period", cfg: locking,
			steps: []step{
				{"reject 1", 0, bad, sts.CRCError},
				{"reject 2", time.Second, "12", sts.FormatError},
				{"reject 3 locks", 2 * time.Second, bad, sts.CRCError},
				{"valid token not processed", 3 * time.Second, good, sts.KeypadLocked},
				{"garbage while locked", 59 * time.Minute, "x", sts.KeypadLocked},
				{"unlocked after an hour", 2*time.Second + time.Hour, good, sts.Accept},
			}, check: wantUnits(10)},
		{name: "an accepted token resets the count", cfg: locking, steps: []step{
			{"reject 1", 0, bad, sts.CRCError},
			{"reject 2", 0, bad, sts.CRCError},
			{"accept", 0, good, sts.Accept},
			{"reject 1 again", 0, bad, sts.CRCError},
			{"reject 2 again", 0, bad, sts.CRCError},
			{"still open", 0, creditTok(c07, 0, 10, tid2025+1), sts.Accept},
		}},
		{name: "a stored key change section counts as accepted", cfg: locking, steps: []step{
			{"reject 1", 0, bad, sts.CRCError},
			{"reject 2", 0, bad, sts.CRCError},
			{"section", 0, keyChangeToks(c07, kcDUTK)[0], sts.KCTPending},
			{"reject after", 0, bad, sts.CRCError},
			{"not locked", 0, good, sts.Accept},
		}},
		{name: "off by default", steps: []step{
			{"1", 0, bad, sts.CRCError}, {"2", 0, bad, sts.CRCError},
			{"3", 0, bad, sts.CRCError}, {"4", 0, bad, sts.CRCError},
			{"5", 0, bad, sts.CRCError}, {"valid", 0, good, sts.Accept},
		}},
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	cases := []struct {
		name string
		cfg  func(*Config)
	}{
		{"bad DRN check digit", func(c *Config) { c.DRN = "37194275247" }},
		{"short key", func(c *Config) { c.Key = key07[:7] }},
		{"EA11 with a 64-bit key", func(c *Config) { c.EA = sts.EA11 }},
		{"unknown EA", func(c *Config) { c.EA = 9 }},
		{"3-digit code at an 11-digit DRN", func(c *Config) { c.MfrCode = 100 }},
		{"KRN 10", func(c *Config) { c.KRN = 10 }},
		{"key type 4", func(c *Config) { c.KeyType = 4 }},
		{"SGC 7 digits", func(c *Config) { c.SGC = 1_000_000 }},
		{"tariff index 100", func(c *Config) { c.TariffIndex = 100 }},
		{"base date 20", func(c *Config) { c.BaseDate = 20 }},
		{"utility 3", func(c *Config) { c.Utility = 3 }},
		{"negative TID memory", func(c *Config) { c.TIDMemory = -1 }},
		{"lockout attempts 256", func(c *Config) { c.Lockout.Attempts = 256 }},
		{"initial credit over the limit", func(c *Config) {
			c.CreditLimit, c.InitialCredit = 10, 11
		}},
		{"load rate too large", func(c *Config) { c.Load.Rate = maxLoadRate + 1 }},
		{"trip recovery under a second", func(c *Config) { c.TripRecovery = time.Millisecond }},
		{"utc offset over a day", func(c *Config) { c.Load.UTCOffset = 25 * time.Hour }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig()
			tc.cfg(&cfg)
			if _, err := New(cfg, t0); !errors.Is(err, ErrConfig) {
				t.Errorf("New: error %v, want ErrConfig", err)
			}
		})
	}
}

func TestEnterResult(t *testing.T) {
	m := newMeter(t, baseConfig())
	r := m.Enter(creditTok(c07, 0, 125, tid2025), t0)
	want := Result{Outcome: sts.Accept, Decoded: true, Class: sts.ClassCredit, TID: tid2025,
		Credited: 125 * milli}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if r := m.Enter(creditTok(c07b, 0, 125, tid2025), t0); r.Decoded {
		t.Errorf("crc_error result %+v claims decoded fields", r)
	}
}
