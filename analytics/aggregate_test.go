package analytics

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stsfleet/stsfleet/protocol/wire"
)

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// checkTotals compares a summary with a workload's expectation.
func checkTotals(t *testing.T, got Summary, exp expected) {
	t.Helper()
	type figures struct {
		Meters, Vended, Accepted, Rejected, Pending  int64
		Sold, Credited, Consumed, Cleared, Remaining [numUtilities]Amount
		MetersBy, SupplyCut, Anomalies               [numUtilities]int64
		Paid                                         Amount
	}
	want := figures{Meters: int64(exp.meters), Vended: int64(exp.vended),
		Accepted: int64(exp.accepted), Rejected: int64(exp.rejected),
		Paid: Amount(exp.paid * 10_000)}
	have := figures{Meters: got.Meters, Vended: got.TokensVended, Accepted: got.TokensAccepted,
		Rejected: got.TokensRejected, Pending: got.TokensPending, Paid: got.Revenue["KES"].Amount}
	for i, u := range utilities {
		// The generator counts ten-thousandths; an Amount millionths.
		want.Sold[i] = Amount(exp.sold[i] * 100)
		want.Credited[i] = Amount(exp.credited[i] * 100)
		want.Consumed[i] = Amount(exp.consumed[i] * 100)
		want.Cleared[i] = Amount(exp.cleared[i] * 100)
		want.Remaining[i] = Amount(exp.remaining[i] * 100)
		want.MetersBy[i] = int64(exp.metersBy[i])
		want.SupplyCut[i] = int64(exp.supplyCut[i])
		want.Anomalies[i] = int64(exp.anomaly[i])
		b := got.ByUtility[u]
		have.Sold[i], have.Credited[i], have.Consumed[i] = b.Sold, b.Credited, b.Consumed
		have.Cleared[i], have.Remaining[i] = b.Cleared, b.Remaining
		have.MetersBy[i], have.SupplyCut[i], have.Anomalies[i] = b.Meters, b.SupplyCut, b.Anomalies
	}
	if diff := cmp.Diff(want, have); diff != "" {
		t.Errorf("totals (-want +got):\n%s", diff)
	}
	e := got.ByUtility["electricity"]
	if got.EnergySoldKWh != e.Sold || got.EnergyConsumedKWh != e.Consumed ||
		got.CreditRemainingKWh != e.Remaining {
		t.Errorf("top-level energy %s/%s/%s differs from electricity's %s/%s/%s",
			got.EnergySoldKWh, got.EnergyConsumedKWh, got.CreditRemainingKWh,
			e.Sold, e.Consumed, e.Remaining)
	}
}

func feed(t testing.TB, a *aggregator, msgs []message) {
	t.Helper()
	for _, m := range msgs {
		if err := a.handle(m.channel, m.drn, m.payload, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAggregateWorkload(t *testing.T) {
	for _, tc := range []struct {
		name          string
		meters, steps int
	}{{"small", 5, 10}, {"medium", 60, 40}, {"long", 10, 300}} {
		t.Run(tc.name, func(t *testing.T) {
			msgs, exp := generate(uint64(tc.meters*1000+tc.steps), tc.meters, tc.steps, t0)
			a := newAggregator()
			feed(t, a, msgs)
			got := a.summary("all", 0)
			checkTotals(t, got, exp)
			if got.FinalReadings != int64(tc.meters) || got.MetersFinal != int64(tc.meters) {
				t.Errorf("final readings %d, meters final %d; want %d",
					got.FinalReadings, got.MetersFinal, tc.meters)
			}
			if got.LatencyMS.Count != int64(exp.accepted) || got.LatencyMS.P50 < 39 ||
				got.LatencyMS.P50 > 41 {
				t.Errorf("latency = %+v, want %d samples near 40 ms", got.LatencyMS, exp.accepted)
			}
		})
	}
}

// telemetry returns a reading payload with the given figures, in whole
// units.
func telemetry(drn string, seq uint64, credited, consumed, remaining int, relay string) []byte {
	t := wire.Telemetry{DRN: drn, Utility: "electricity", Unit: "kWh", Seq: seq,
		Credited: fmt.Sprint(credited), Consumed: fmt.Sprint(consumed), Cleared: "0",
		Remaining: fmt.Sprint(remaining), Relay: "closed", SentAt: t0}
	if relay != "" {
		t.Relay, t.RelayReason = "open", relay
	}
	return mustJSON(t)
}

func TestReadingsReplaceBySeq(t *testing.T) {
	const drn = "01234567890"
	for _, tc := range []struct {
		name         string
		seqs         []uint64
		wantConsumed Amount
		wantReadings int64
		wantStale    int64
	}{
		{"in order", []uint64{1, 2, 3}, 3 * amountOne, 3, 0},
		{"duplicate", []uint64{1, 2, 2, 3, 3}, 3 * amountOne, 3, 2},
		{"older after newer", []uint64{1, 3, 2}, 3 * amountOne, 2, 1},
		{"only old ones late", []uint64{3, 1, 2}, 3 * amountOne, 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAggregator()
			for _, seq := range tc.seqs {
				p := telemetry(drn, seq, 10, int(seq), 10-int(seq), "")
				if err := a.handle(wire.ChannelTelemetry, drn, p, t0); err != nil {
					t.Fatal(err)
				}
			}
			s := a.summary("", 0)
			e := s.ByUtility["electricity"]
			if e.Consumed != tc.wantConsumed || e.Credited != 10*amountOne || e.Meters != 1 {
				t.Errorf("consumed %s credited %s meters %d; want %s, 10, 1",
					e.Consumed, e.Credited, e.Meters, tc.wantConsumed)
			}
			if s.TelemetryAggregated != tc.wantReadings || s.StaleReadings != tc.wantStale {
				t.Errorf("readings %d stale %d; want %d and %d",
					s.TelemetryAggregated, s.StaleReadings, tc.wantReadings, tc.wantStale)
			}
		})
	}
}

func TestAnomalyAndSupplyCut(t *testing.T) {
	const drn = "01234567890"
	for _, tc := range []struct {
		name        string
		readings    [][]byte
		wantAnomaly int64
		wantCut     int64
	}{
		{"closed relay consumes", [][]byte{
			telemetry(drn, 1, 10, 1, 9, ""), telemetry(drn, 2, 10, 2, 8, "")}, 0, 0},
		{"open for tamper yet consuming", [][]byte{
			telemetry(drn, 1, 10, 1, 9, "tamper"), telemetry(drn, 2, 10, 2, 8, "tamper")}, 1, 0},
		{"credit arrived in between", [][]byte{
			telemetry(drn, 1, 10, 1, 9, "power_limit"),
			telemetry(drn, 2, 20, 2, 18, "power_limit")}, 0, 0},
		{"reason changed", [][]byte{
			telemetry(drn, 1, 10, 1, 9, "tamper"), telemetry(drn, 2, 10, 2, 8, "power_limit")},
			0, 0},
		{"cut for no credit", [][]byte{
			telemetry(drn, 1, 10, 9, 1, ""), telemetry(drn, 2, 10, 10, 0, "no_credit")}, 0, 1},
		{"cut then restored", [][]byte{
			telemetry(drn, 1, 10, 10, 0, "no_credit"), telemetry(drn, 2, 20, 10, 10, "")}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAggregator()
			for _, p := range tc.readings {
				if err := a.handle(wire.ChannelTelemetry, drn, p, t0); err != nil {
					t.Fatal(err)
				}
			}
			s := a.summary("", 0)
			if s.Anomalies != tc.wantAnomaly || s.SupplyCut != tc.wantCut {
				t.Errorf("anomalies %d supply cut %d; want %d and %d",
					s.Anomalies, s.SupplyCut, tc.wantAnomaly, tc.wantCut)
			}
		})
	}
}

func TestTokensByFirstResult(t *testing.T) {
	const drn = "01234567890"
	ev := func(id string) message {
		return message{wire.ChannelVend, drn, mustJSON(wire.VendEvent{VendID: id, Meter: drn,
			Utility: "electricity", Units: "5", Unit: "kWh", Amount: "125", Currency: "KES",
			TokenAmount: "125", OtherCharges: "0", IssuedAt: t0})}
	}
	res := func(id, outcome string, after time.Duration) message {
		return message{wire.ChannelResult, drn, mustJSON(wire.ResultMessage{VendID: id,
			Token: "12345678901234567890", Outcome: outcome, Credited: "0", Unit: "kWh",
			SentAt: t0.Add(after)})}
	}
	type counts struct{ Vended, Accepted, Rejected, Pending, Duplicates, Results int64 }
	for _, tc := range []struct {
		name string
		msgs []message
		want counts
	}{
		{"vend then accept", []message{ev("a"), res("a", "accept", time.Second)},
			counts{1, 1, 0, 0, 0, 1}},
		{"accept before its vend", []message{res("a", "accept", time.Second), ev("a")},
			counts{1, 1, 0, 0, 0, 1}},
		{"redelivery answered used_error", []message{ev("a"), res("a", "accept", 0),
			res("a", "used_error", 0)}, counts{1, 1, 0, 0, 1, 2}},
		{"used_error first, vend late", []message{res("a", "crc_error", 0),
			res("a", "used_error", 0), ev("a")}, counts{1, 0, 1, 0, 1, 2}},
		{"vend twice", []message{ev("a"), ev("a"), res("a", "accept", 0), ev("a")},
			counts{1, 1, 0, 0, 2, 1}},
		{"no result yet", []message{ev("a"), ev("b"), res("b", "kct_pending", 0)},
			counts{2, 1, 0, 1, 0, 1}},
		{"keypad entry", []message{res("", "accept", 0)}, counts{0, 0, 0, 0, 0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAggregator()
			feed(t, a, tc.msgs)
			s := a.summary("", 0)
			results := int64(0)
			for _, n := range s.ResultsByOutcome {
				results += n
			}
			got := counts{s.TokensVended, s.TokensAccepted, s.TokensRejected, s.TokensPending,
				s.DuplicateMessages, results}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVendToCreditLatency(t *testing.T) {
	const drn = "01234567890"
	a := newAggregator()
	for i, d := range []time.Duration{10, 20, 30, 40, 1000} {
		id := fmt.Sprint(i)
		feed(t, a, []message{
			{wire.ChannelVend, drn, mustJSON(wire.VendEvent{VendID: id, Meter: drn,
				Utility: "water", Units: "1", Unit: "m3", Amount: "1", Currency: "KES",
				TokenAmount: "1", OtherCharges: "0", IssuedAt: t0})},
			{wire.ChannelResult, drn, mustJSON(wire.ResultMessage{VendID: id,
				Token: "12345678901234567890", Outcome: "accept", Credited: "1", Unit: "m3",
				SentAt: t0.Add(d * time.Millisecond)})},
		})
	}
	got := a.summary("", 0).LatencyMS
	if got.Count != 5 || got.P50 < 29.5 || got.P50 > 30.5 || got.P99 < 990 || got.P99 > 1010 {
		t.Errorf("latency = %+v, want 5 samples, p50 30 ms, p99 1000 ms", got)
	}
}

func TestInvalidMessagesAreCounted(t *testing.T) {
	const drn = "01234567890"
	good := wire.Telemetry{DRN: drn, Utility: "gas", Unit: "m3", Seq: 1, Credited: "3",
		Consumed: "1", Cleared: "0", Remaining: "2", Relay: "closed", SentAt: t0}
	bad := func(f func(*wire.Telemetry)) []byte {
		t := good
		f(&t)
		return mustJSON(t)
	}
	for _, tc := range []struct {
		name    string
		channel wire.Channel
		payload []byte
		wantErr string
	}{
		{"not json", wire.ChannelTelemetry, []byte("{"), "decode"},
		{"other meter", wire.ChannelTelemetry, bad(func(t *wire.Telemetry) { t.DRN = "1" }),
			"meter"},
		{"unit mismatch", wire.ChannelTelemetry, bad(func(t *wire.Telemetry) { t.Unit = "kWh" }),
			"unit"},
		{"books do not balance", wire.ChannelTelemetry,
			bad(func(t *wire.Telemetry) { t.Consumed = "2" }), "credited"},
		{"float figure", wire.ChannelTelemetry,
			bad(func(t *wire.Telemetry) { t.Remaining = "2e0" }), "remaining"},
		{"too precise", wire.ChannelTelemetry,
			bad(func(t *wire.Telemetry) { t.Remaining = "2.0000001" }), "decimals"},
		{"relay unknown", wire.ChannelTelemetry, bad(func(t *wire.Telemetry) { t.Relay = "ajar" }),
			"relay"},
		{"final on telemetry", wire.ChannelTelemetry,
			bad(func(t *wire.Telemetry) { t.Final = true }), "final"},
		{"ordinary on final", wire.ChannelFinal, mustJSON(good), "final"},
		{"bad outcome", wire.ChannelResult, []byte(`{"token":"1","outcome":"maybe",` +
			`"credited":"0","unit":"kWh","sim_time":"2026-01-01T00:00:00Z",` +
			`"sent_at":"2026-01-01T00:00:00Z"}`), "outcome"},
		{"vend for another meter", wire.ChannelVend, mustJSON(wire.VendEvent{VendID: "x",
			Meter: "98765432101", Utility: "gas", Units: "1", Unit: "m3", Amount: "1",
			Currency: "KES", TokenAmount: "1", OtherCharges: "0", IssuedAt: t0}), "meter"},
		{"unknown channel", wire.Channel("status"), mustJSON(good), "channel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAggregator()
			err := a.handle(tc.channel, drn, tc.payload, t0)
			if !errors.Is(err, ErrMessage) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("handle error = %v, want ErrMessage naming %q", err, tc.wantErr)
			}
			s := a.summary("", 0)
			if s.InvalidMessages != 1 || s.Meters != 0 || s.TelemetryAggregated != 0 {
				t.Errorf("after an invalid message: invalid %d, meters %d, readings %d",
					s.InvalidMessages, s.Meters, s.TelemetryAggregated)
			}
		})
	}
}

func TestStateRoundTrip(t *testing.T) {
	msgs, _ := generate(7, 30, 30, t0)
	half := len(msgs) / 2
	a := newAggregator()
	feed(t, a, msgs[:half])
	a.seq = 1234

	path := statePath(t.TempDir(), "analytics-test")
	ps, _ := AllPartitions(0)
	if err := saveState(path, a.export("analytics-test", ps)); err != nil {
		t.Fatal(err)
	}
	st, err := loadState(path)
	if err != nil {
		t.Fatal(err)
	}
	b := newAggregator()
	if err := b.load(st); err != nil {
		t.Fatal(err)
	}
	if b.lastSeq() != 1234 {
		t.Errorf("restored seq = %d, want 1234", b.lastSeq())
	}
	if diff := cmp.Diff(a.summary("", 0), b.summary("", 0)); diff != "" {
		t.Fatalf("restored summary (-saved +restored):\n%s", diff)
	}

	// Both go on to the same totals.
	feed(t, a, msgs[half:])
	feed(t, b, msgs[half:])
	if diff := cmp.Diff(a.summary("", 0), b.summary("", 0)); diff != "" {
		t.Errorf("after the second half (-original +restored):\n%s", diff)
	}
}

func TestLoadStateErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := loadState(statePath(dir, "none")); !errors.Is(err, errNoState) {
		t.Errorf("missing state error = %v, want errNoState", err)
	}
	path := statePath(dir, "x")
	for name, data := range map[string]string{
		"not json":      "{",
		"other version": `{"version":99}`,
	} {
		t.Run(name, func(t *testing.T) {
			if err := writeFile(path, data); err != nil {
				t.Fatal(err)
			}
			if _, err := loadState(path); err == nil || errors.Is(err, errNoState) {
				t.Errorf("loadState error = %v, want a decode error", err)
			}
		})
	}
	if _, err := restore(&stateFile{Version: 1}); err == nil {
		t.Error("restore accepted a state without outcome counts")
	}
}
