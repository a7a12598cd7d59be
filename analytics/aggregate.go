package analytics

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/protocol/wire"
)

// ErrMessage reports a message that breaks the contract; it is counted and
// skipped.
var ErrMessage = errors.New("invalid message")

// utilities are the utilities in index order, and units their register
// units.
var (
	utilities = [...]string{"electricity", "water", "gas"}
	units     = [...]string{"kWh", "m3", "m3"}
)

const numUtilities = len(utilities)

func utilityIndex(name string) (int, bool) {
	for i, u := range utilities {
		if u == name {
			return i, true
		}
	}
	return 0, false
}

var numOutcomes = len(sts.Outcomes())

// Histogram geometry, in microseconds: 1 µs to one hour, 2 significant
// digits (1% resolution at any value).
const (
	histMax    = int64(time.Hour / time.Microsecond)
	histDigits = 2
)

// settledMemory is how many settled vends a meter remembers, so that a late
// copy of a vend event or result (a redelivery) is recognised.
const settledMemory = 8

// reading is the part of a meter's latest cumulative reading that totals
// rest on.
type reading struct {
	seq                                    uint64
	credited, consumed, cleared, remaining Amount
	// reason is why the relay is open; "" when it is closed.
	reason   string
	noCredit bool
	// final marks the last reading of a run.
	final bool
}

// meterState is what the aggregator keeps per meter.
type meterState struct {
	// util is the utility of the latest reading; valid when hasReading.
	util       int
	hasReading bool
	last       reading
	// settled holds the IDs of recently settled vends, a ring.
	settled []string
	next    int
}

func (m *meterState) isSettled(vendID string) bool {
	for _, id := range m.settled {
		if id == vendID {
			return true
		}
	}
	return false
}

func (m *meterState) settle(vendID string) {
	if len(m.settled) < settledMemory {
		m.settled = append(m.settled, vendID)
		return
	}
	m.settled[m.next] = vendID
	m.next = (m.next + 1) % settledMemory
}

type tokenKey struct{ drn, vendID string }

// tokenState joins a vend event with the meter's first result for it.
type tokenState struct {
	event, result bool
	issuedAt      time.Time
	outcome       sts.Outcome
	sentAt        time.Time
}

// utilityTotals are the totals of one utility.
type utilityTotals struct {
	Meters int64 `json:"meters"`
	// Finals counts the meters whose latest reading is a final one.
	Finals    int64  `json:"finals"`
	SupplyCut int64  `json:"supply_cut"`
	Anomalies int64  `json:"anomalies"`
	Vends     int64  `json:"vends"`
	Sold      Amount `json:"sold"`
	Credited  Amount `json:"credited"`
	Consumed  Amount `json:"consumed"`
	Cleared   Amount `json:"cleared"`
	Remaining Amount `json:"remaining"`
}

// revenue is what vends in one currency and utility brought in.
type revenue struct {
	Vends        int64  `json:"vends"`
	Amount       Amount `json:"amount"`
	TokenAmount  Amount `json:"token_amount"`
	OtherCharges Amount `json:"other_charges"`
}

// counters are the event counts of the aggregator.
type counters struct {
	Readings   int64 `json:"readings"`
	Finals     int64 `json:"finals"`
	Stale      int64 `json:"stale"`
	Duplicates int64 `json:"duplicates"`
	// Invalid counts invalid messages by channel name.
	Invalid map[string]int64 `json:"invalid"`
	// Results counts every result message by outcome index; Tokens the
	// first result of each token.
	Results []int64 `json:"results"`
	Tokens  []int64 `json:"tokens"`
	Pending int64   `json:"pending"`
	// Attempts counts rejected keypad entries by fraud kind (fraud.go).
	Attempts [numFraudKinds]int64 `json:"attempts"`
	// LatencySum and LagSum are exact sums in microseconds.
	LatencySum int64 `json:"latency_sum_us"`
	LagSum     int64 `json:"lag_sum_us"`
}

// aggregator holds the totals of one instance. Its methods are safe for
// concurrent use; each applies one message atomically.
type aggregator struct {
	mu      sync.Mutex
	meters  map[string]*meterState
	tokens  map[tokenKey]*tokenState
	totals  [numUtilities]utilityTotals
	revenue map[string]*[numUtilities]revenue
	counts  counters
	latency *hdrhistogram.Histogram
	lag     *hdrhistogram.Histogram
	// seq is the stream sequence of the last JetStream message applied.
	seq uint64
}

func newAggregator() *aggregator {
	return &aggregator{
		meters:  map[string]*meterState{},
		tokens:  map[tokenKey]*tokenState{},
		revenue: map[string]*[numUtilities]revenue{},
		counts: counters{
			Invalid: map[string]int64{},
			Results: make([]int64, numOutcomes),
			Tokens:  make([]int64, numOutcomes),
		},
		latency: hdrhistogram.New(1, histMax, histDigits),
		lag:     hdrhistogram.New(1, histMax, histDigits),
	}
}

// handle decodes and applies one message of channel c for meter drn,
// received at now. A message that breaks the contract is counted as invalid
// and reported with an error wrapping [ErrMessage].
func (a *aggregator) handle(c wire.Channel, drn string, data []byte, now time.Time) error {
	var err error
	switch c {
	case wire.ChannelTelemetry, wire.ChannelFinal:
		var t wire.Telemetry
		if t, err = wire.DecodeTelemetry(data); err == nil {
			var r reading
			var u int
			if r, u, err = checkReading(drn, t, c == wire.ChannelFinal); err == nil {
				a.applyReading(drn, u, r, t, c == wire.ChannelFinal, now)
				return nil
			}
		}
	case wire.ChannelResult:
		var m wire.ResultMessage
		if m, err = wire.DecodeResult(data); err == nil {
			o, _ := sts.ParseOutcome(m.Outcome)
			a.applyResult(drn, m, o)
			return nil
		}
	case wire.ChannelVend:
		var e wire.VendEvent
		if e, err = wire.DecodeVend(data); err == nil {
			var v vendFigures
			if v, err = checkVend(drn, e); err == nil {
				a.applyVend(drn, e, v)
				return nil
			}
		}
	default:
		err = fmt.Errorf("unknown channel %q", c)
	}
	a.mu.Lock()
	a.counts.Invalid[string(c)]++
	a.mu.Unlock()
	return fmt.Errorf("%s message for meter %s: %w: %w", c, drn, ErrMessage, err)
}

// checkReading parses a reading's figures and checks them against the
// contract: the meter is the subject's, the utility and unit agree, and
// credited = consumed + remaining + cleared exactly.
func checkReading(drn string, t wire.Telemetry, final bool) (reading, int, error) {
	if t.DRN != drn {
		return reading{}, 0, fmt.Errorf("reading of meter %s on meter %s's subject", t.DRN, drn)
	}
	if final != t.Final {
		return reading{}, 0, fmt.Errorf("final is %v on the %v channel", t.Final, final)
	}
	u, ok := utilityIndex(t.Utility)
	if !ok || units[u] != t.Unit {
		return reading{}, 0, fmt.Errorf("utility %q with unit %q", t.Utility, t.Unit)
	}
	r := reading{seq: t.Seq, final: t.Final}
	for _, f := range []struct {
		name string
		s    string
		v    *Amount
	}{
		{"credited", t.Credited, &r.credited}, {"consumed", t.Consumed, &r.consumed},
		{"cleared", t.Cleared, &r.cleared}, {"remaining", t.Remaining, &r.remaining},
	} {
		v, err := ParseAmount(f.s)
		if err != nil {
			return reading{}, 0, fmt.Errorf("%s: %w", f.name, err)
		}
		*f.v = v
	}
	if r.credited != r.consumed+r.remaining+r.cleared {
		return reading{}, 0, fmt.Errorf(
			"credited %s is not consumed %s + remaining %s + cleared %s",
			r.credited, r.consumed, r.remaining, r.cleared)
	}
	switch t.Relay {
	case "closed":
	case "open":
		r.reason = t.RelayReason
		if r.reason == "" {
			r.reason = "unknown"
		}
		r.noCredit = r.reason == "no_credit"
	default:
		return reading{}, 0, fmt.Errorf("relay %q: want open or closed", t.Relay)
	}
	return r, u, nil
}

// applyReading replaces the meter's latest reading when r is newer: the
// totals lose the old figures and gain the new ones, so a duplicate or an
// older reading changes nothing.
func (a *aggregator) applyReading(drn string, u int, r reading, t wire.Telemetry, final bool,
	now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.meterLocked(drn)
	if m.hasReading && r.seq <= m.last.seq {
		a.counts.Stale++
		return
	}
	if m.hasReading {
		old := &a.totals[m.util]
		if isAnomaly(m.last, r) && m.util == u {
			a.totals[u].Anomalies++
		}
		old.Meters--
		old.Credited -= m.last.credited
		old.Consumed -= m.last.consumed
		old.Cleared -= m.last.cleared
		old.Remaining -= m.last.remaining
		if m.last.noCredit {
			old.SupplyCut--
		}
		if m.last.final {
			old.Finals--
		}
	}
	tot := &a.totals[u]
	tot.Meters++
	tot.Credited += r.credited
	tot.Consumed += r.consumed
	tot.Cleared += r.cleared
	tot.Remaining += r.remaining
	if r.noCredit {
		tot.SupplyCut++
	}
	if r.final {
		tot.Finals++
	}
	m.util, m.hasReading, m.last = u, true, r

	a.counts.Readings++
	if final {
		a.counts.Finals++
	}
	if !t.SentAt.IsZero() {
		a.counts.LagSum += record(a.lag, now.Sub(t.SentAt))
	}
}

// isAnomaly reports consumption that the relay should have prevented: both
// readings show the relay open for the same reason, no credit arrived
// between them, yet the consumed register grew.
func isAnomaly(prev, next reading) bool {
	return prev.reason != "" && next.reason == prev.reason &&
		next.credited == prev.credited && next.consumed > prev.consumed
}

// applyResult counts a result and, for a vend's first result, settles the
// token once its vend event is known too.
func (a *aggregator) applyResult(drn string, msg wire.ResultMessage, o sts.Outcome) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.counts.Results[o]++
	if msg.VendID == "" {
		a.countAttemptLocked(o)
		return
	}
	m := a.meterLocked(drn)
	if m.isSettled(msg.VendID) {
		a.counts.Duplicates++
		return
	}
	key := tokenKey{drn, msg.VendID}
	ts := a.tokens[key]
	if ts == nil {
		ts = &tokenState{}
		a.tokens[key] = ts
	}
	if ts.result {
		// A later result for a token whose vend event has not arrived:
		// the first one stands.
		a.counts.Duplicates++
		return
	}
	ts.result, ts.outcome, ts.sentAt = true, o, msg.SentAt
	a.counts.Tokens[o]++
	if ts.event {
		a.counts.Pending--
		a.settleLocked(m, key, ts)
	}
}

// vendFigures are a vend event's parsed amounts.
type vendFigures struct {
	util                              int
	units, amount, tokenAmount, other Amount
}

func checkVend(drn string, e wire.VendEvent) (vendFigures, error) {
	if e.Meter != drn {
		return vendFigures{}, fmt.Errorf("vend for meter %s on meter %s's subject", e.Meter, drn)
	}
	v := vendFigures{}
	u, ok := utilityIndex(e.Utility)
	if !ok {
		return v, fmt.Errorf("utility %q", e.Utility)
	}
	v.util = u
	for _, f := range []struct {
		name string
		s    string
		v    *Amount
	}{
		{"units", e.Units, &v.units}, {"amount", e.Amount, &v.amount},
		{"token_amount", e.TokenAmount, &v.tokenAmount},
		{"other_charges", e.OtherCharges, &v.other},
	} {
		x, err := ParseAmount(f.s)
		if err != nil {
			return vendFigures{}, fmt.Errorf("%s: %w", f.name, err)
		}
		*f.v = x
	}
	return v, nil
}

// applyVend counts a vend once: sold units and revenue, and a pending token
// until the meter's result arrives.
func (a *aggregator) applyVend(drn string, e wire.VendEvent, v vendFigures) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.meterLocked(drn)
	if m.isSettled(e.VendID) {
		a.counts.Duplicates++
		return
	}
	key := tokenKey{drn, e.VendID}
	ts := a.tokens[key]
	if ts == nil {
		ts = &tokenState{}
		a.tokens[key] = ts
	}
	if ts.event {
		a.counts.Duplicates++
		return
	}
	ts.event, ts.issuedAt = true, e.IssuedAt

	tot := &a.totals[v.util]
	tot.Vends++
	tot.Sold += v.units
	rev := a.revenue[e.Currency]
	if rev == nil {
		rev = &[numUtilities]revenue{}
		a.revenue[e.Currency] = rev
	}
	r := &rev[v.util]
	r.Vends++
	r.Amount += v.amount
	r.TokenAmount += v.tokenAmount
	r.OtherCharges += v.other

	if ts.result {
		a.settleLocked(m, key, ts)
	} else {
		a.counts.Pending++
	}
}

// settleLocked closes a token whose vend event and first result are both
// known: an accepted token's vend-to-credit latency is recorded.
func (a *aggregator) settleLocked(m *meterState, key tokenKey, ts *tokenState) {
	if ts.outcome.Accepted() && !ts.sentAt.IsZero() {
		a.counts.LatencySum += record(a.latency, ts.sentAt.Sub(ts.issuedAt))
	}
	delete(a.tokens, key)
	m.settle(key.vendID)
}

func (a *aggregator) meterLocked(drn string) *meterState {
	m := a.meters[drn]
	if m == nil {
		m = &meterState{}
		a.meters[drn] = m
	}
	return m
}

// record adds d to h in microseconds, clamped to the histogram's range,
// and returns the value recorded.
func record(h *hdrhistogram.Histogram, d time.Duration) int64 {
	us := min(max(d.Microseconds(), 0), histMax)
	h.RecordValue(us)
	return us
}

// observeSeq records the stream sequence of a JetStream message and reports
// whether it is new; a redelivered message at or below the last applied
// sequence has been applied already.
func (a *aggregator) observeSeq(seq uint64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if seq <= a.seq {
		return false
	}
	a.seq = seq
	return true
}
