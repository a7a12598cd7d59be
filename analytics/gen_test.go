package analytics

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/stsfleet/stsfleet/protocol/wire"
)

// message is one generated message, ready to publish.
type message struct {
	channel wire.Channel
	drn     string
	payload []byte
}

// expected holds the totals a generated workload must produce, computed
// from the generator's own figures (in 0.0001 units, as a meter keeps them)
// without any code of the package.
type expected struct {
	meters                       int
	vended, accepted, rejected   int
	sold, credited, consumed     [numUtilities]int64
	cleared, remaining           [numUtilities]int64
	metersBy, supplyCut, anomaly [numUtilities]int
	paid                         int64 // in 0.01 currency units
}

// amount4 writes v ten-thousandths as a meter does: "12.3456".
func amount4(v int64) string { return fmt.Sprintf("%d.%04d", v/10000, v%10000) }

// amount2 writes v hundredths: "12.34".
func amount2(v int64) string { return fmt.Sprintf("%d.%02d", v/100, v%100) }

// genMeter is the generator's model of one meter.
type genMeter struct {
	drn, utility                           string
	seq                                    uint64
	credited, consumed, cleared, remaining int64
	// reason is why the relay is open: "" when closed, no_credit or
	// tamper.
	reason       string
	vends        int
	sentReadings []wire.Telemetry
	clearDone    bool
}

func (m *genMeter) reading(at time.Time, final bool) wire.Telemetry {
	m.seq++
	t := wire.Telemetry{
		DRN: m.drn, Utility: m.utility, Unit: map[string]string{"electricity": "kWh"}[m.utility],
		Seq: m.seq, Credited: amount4(m.credited), Consumed: amount4(m.consumed),
		Cleared: amount4(m.cleared), Remaining: amount4(m.remaining), Relay: "closed",
		Final: final, SimTime: at, SentAt: at,
	}
	if t.Unit == "" {
		t.Unit = "m3"
	}
	if m.reason != "" {
		t.Relay, t.RelayReason = "open", m.reason
	}
	m.sentReadings = append(m.sentReadings, t)
	return t
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// generate makes a workload of n meters over steps rounds: vends with
// accepted, rejected and redelivered results (some results before their vend
// event), consumption readings, duplicated and out-of-order readings, a
// clear-credit now and then, meters running out of credit, one anomaly per
// few meters, and a final reading per meter last. The messages of one meter
// keep their relative order except where disorder is the point.
func generate(seed uint64, n, steps int, start time.Time) ([]message, expected) {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	var exp expected
	meters := make([]*genMeter, n)
	for i := range meters {
		u := []string{"electricity", "electricity", "electricity", "water", "gas"}[i%5]
		meters[i] = &genMeter{drn: fmt.Sprintf("%011d", 10_000_000_000+uint64(i)*7919), utility: u}
	}
	exp.meters = n
	var out []message
	at := start
	emit := func(c wire.Channel, drn string, v any) {
		out = append(out, message{c, drn, mustJSON(v)})
	}
	for step := range steps {
		for i, m := range meters {
			at = at.Add(time.Millisecond)
			switch r := rng.IntN(10); {
			case r < 3:
				out = append(out, vend(rng, m, step, at, &exp)...)
			case r < 8:
				burn := int64(rng.IntN(3000))
				if m.reason == "tamper" {
					burn = 0
				}
				if burn >= m.remaining {
					burn, m.reason = m.remaining, "no_credit"
				}
				m.consumed += burn
				m.remaining -= burn
				emit(wire.ChannelTelemetry, m.drn, m.reading(at, false))
			case r == 8 && len(m.sentReadings) > 1:
				// A duplicate of an old reading: changes nothing.
				emit(wire.ChannelTelemetry, m.drn, m.sentReadings[rng.IntN(len(m.sentReadings))])
			case r == 9 && m.remaining > 0 && !m.clearDone:
				m.clearDone = true
				m.cleared += m.remaining
				m.remaining, m.reason = 0, "no_credit"
				emit(wire.ChannelTelemetry, m.drn, m.reading(at, false))
			}
			if i%7 == 3 && step == steps/2 && m.remaining >= 5 && m.reason == "" {
				out = append(out, anomaly(m, at, &exp)...)
			}
		}
	}
	for _, m := range meters {
		at = at.Add(time.Millisecond)
		u, _ := utilityIndex(m.utility)
		final := m.reading(at, true)
		emit(wire.ChannelFinal, m.drn, final)
		exp.credited[u] += m.credited
		exp.consumed[u] += m.consumed
		exp.cleared[u] += m.cleared
		exp.remaining[u] += m.remaining
		exp.metersBy[u]++
		if m.reason == "no_credit" {
			exp.supplyCut[u]++
		}
	}
	return out, exp
}

// vend sells credit to m: the vend event and the meter's result, in either
// order, sometimes a redelivered copy answered used_error, sometimes a
// rejection.
func vend(rng *rand.Rand, m *genMeter, step int, at time.Time, exp *expected) []message {
	m.vends++
	u, _ := utilityIndex(m.utility)
	id := fmt.Sprintf("%s-v%d", m.drn, m.vends)
	units := int64(1000 * (1 + rng.IntN(500))) // 0.1 to 50 units, whole 0.1s
	token, other := units/10*25, int64(50*(step%3))
	ev := wire.VendEvent{
		VendID: id, Meter: m.drn, Utility: m.utility, Units: amount4(units),
		Unit: map[bool]string{true: "kWh", false: "m3"}[u == 0], Amount: amount2(token + other),
		Currency: "KES", TokenAmount: amount2(token), OtherCharges: amount2(other),
		TID: uint32(step), IssuedAt: at, SimTime: at,
	}
	res := wire.ResultMessage{VendID: id, Token: "12345678901234567890", Outcome: "accept",
		Credited: amount4(units), Unit: ev.Unit, SimTime: at, SentAt: at.Add(40 * time.Millisecond)}
	exp.vended++
	exp.sold[u] += units
	exp.paid += token + other
	if rng.IntN(8) == 0 {
		res.Outcome, res.Credited = "crc_error", "0"
		exp.rejected++
	} else {
		exp.accepted++
		m.credited += units
		m.remaining += units
		if m.reason == "no_credit" {
			m.reason = ""
		}
	}
	msgs := []message{
		{wire.ChannelVend, m.drn, mustJSON(ev)},
		{wire.ChannelResult, m.drn, mustJSON(res)},
	}
	if rng.IntN(4) == 0 {
		msgs[0], msgs[1] = msgs[1], msgs[0]
	}
	if rng.IntN(3) == 0 {
		again := res
		again.Outcome, again.Credited = "used_error", "0"
		again.SentAt = res.SentAt.Add(time.Second)
		msgs = append(msgs, message{wire.ChannelResult, m.drn, mustJSON(again)})
	}
	tel := m.reading(at, false)
	return append(msgs, message{wire.ChannelTelemetry, m.drn, mustJSON(tel)})
}

// anomaly opens m's relay for tamper and has it consume anyway: two open
// readings with the consumed register growing in between. A ClearTamper
// token then closes the relay again.
func anomaly(m *genMeter, at time.Time, exp *expected) []message {
	m.reason = "tamper"
	first := m.reading(at, false)
	m.consumed += 5
	m.remaining -= 5
	second := m.reading(at, false)
	m.reason = ""
	u, _ := utilityIndex(m.utility)
	exp.anomaly[u]++
	return []message{{wire.ChannelTelemetry, m.drn, mustJSON(first)},
		{wire.ChannelTelemetry, m.drn, mustJSON(second)}}
}
