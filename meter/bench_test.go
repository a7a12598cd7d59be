package meter

import (
	"runtime"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// FuzzEnter feeds arbitrary strings to a meter: it never panics, always
// answers a known outcome, and its registers stay balanced.
func FuzzEnter(f *testing.F) {
	kc := keyChangeToks(c07, kcDUTK)
	for _, s := range []string{
		creditTok(c07, 0, 125, tid2025),
		currencyTok(c07, sts.SubElectricityCurrency, sts.CurrencyAmount{Mantissa: 5}, tid2025),
		mgmtTok(c07, sts.SubClearCredit, sts.ClearAllRegisters, tid2025),
		testTok(0, ControlKey, 0),
		kc[0], kc[1],
		"", "0", "abc", "1234-5678-9012-3456-7890", "99999999999999999999",
		"73786976294838206463", "73786976294838206464", "00000000000000000000",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cfg := baseConfig()
		cfg.Lockout = Lockout{Attempts: 3}
		m := newMeter(t, cfg)
		for i := range 2 {
			r := m.Enter(s, t0.Add(time.Duration(i)*time.Minute))
			if _, err := sts.ParseOutcome(r.Outcome.String()); err != nil {
				t.Fatalf("Enter(%q): unknown outcome %d", s, r.Outcome)
			}
			if !r.Decoded && r.Outcome.Accepted() {
				t.Fatalf("Enter(%q): %s without decoding", s, r.Outcome)
			}
		}
		if s := m.Snapshot(); !s.Units.Balanced() || !s.Currency.Balanced() {
			t.Fatalf("registers unbalanced: %+v", s)
		}
	})
}

// BenchmarkMeterAcceptToken measures the full path of an accepted credit
// token: parse, decrypt (STA, sample tables), CRC, checks, credit and TID
// store. Each iteration enters a fresh token.
func BenchmarkMeterAcceptToken(b *testing.B) {
	const batch = 4096
	toks := make([]string, batch)
	for i := range toks {
		toks[i] = creditTok(c07, 0, 1, tid2025+uint32(i))
	}
	cfg := baseConfig()
	cfg.CreditLimit = maxRegister / milli / 2
	m := newMeter(b, cfg)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == batch {
			// Start again on a fresh meter so that every token is new.
			b.StopTimer()
			m, i = newMeter(b, cfg), 0
			b.StartTimer()
		}
		if r := m.Enter(toks[i], t0); r.Outcome != sts.Accept {
			b.Fatalf("token %d: %s", i, r.Outcome)
		}
		i++
	}
}

// BenchmarkMeterTick measures one telemetry interval of consumption on the
// daily profile.
func BenchmarkMeterTick(b *testing.B) {
	for _, tick := range []time.Duration{time.Minute, 15 * time.Minute} {
		b.Run(tick.String(), func(b *testing.B) {
			cfg := baseConfig()
			cfg.InitialCredit = DefaultCreditLimit
			cfg.Load = Load{Seed: 3}
			m := newMeter(b, cfg)
			now, n := t0, 0
			b.ReportAllocs()
			for b.Loop() {
				now = now.Add(tick)
				m.Advance(now)
				if n++; n == 100_000 || !m.Supplying() {
					// Start again well before the clock leaves int64
					// nanoseconds, and on credit.
					b.StopTimer()
					m, now, n = newMeter(b, cfg), t0, 0
					b.StartTimer()
				}
			}
		})
	}
}

// BenchmarkMeterMemory reports the heap held by the state of one meter with
// a 50-entry TID memory, averaged over 100 000 meters (B/meter).
func BenchmarkMeterMemory(b *testing.B) {
	for _, ea := range []struct {
		name string
		ea   sts.EA
		key  []byte
	}{{"EA07", sts.EA07, key07}, {"EA11", sts.EA11, key11}} {
		b.Run(ea.name, func(b *testing.B) {
			var per float64
			for b.Loop() {
				per = heapPerMeter(b, 100_000, func(cfg *Config) {
					cfg.EA, cfg.Key = ea.ea, ea.key
				})
			}
			b.ReportMetric(per, "B/meter")
		})
	}
}

// heapPerMeter returns the heap growth of n meters divided by n. The
// configs (DRN strings) are made before the first measurement, since a
// fleet holds them anyway.
func heapPerMeter(tb testing.TB, n int, edit func(*Config)) float64 {
	tb.Helper()
	cfgs := make([]Config, n)
	for i := range cfgs {
		cfgs[i] = baseConfig()
		cfgs[i].Load = Load{}
		cfgs[i].TIDMemory = DefaultTIDMemory
		edit(&cfgs[i])
	}
	meters := make([]*Meter, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range meters {
		m, err := New(cfgs[i], t0)
		if err != nil {
			tb.Fatal(err)
		}
		meters[i] = m
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(meters)
	runtime.KeepAlive(cfgs)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

func TestMemoryPerMeter(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 10 000 meters")
	}
	per := heapPerMeter(t, 10_000, func(*Config) {})
	t.Logf("%.0f B/meter (EA07, 50 TIDs)", per)
	if per > 2048 {
		t.Errorf("%.0f bytes per meter, want under 2 KiB", per)
	}
}
