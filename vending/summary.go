package vending

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stsfleet/stsfleet/vending/ledger"
)

// Summary is the vendor's account of its tokens, for an end-of-run report
// and its conservation check. Token counts are per token issued and come
// from the ledger, so they survive a restart; refusals, redeliveries and
// latencies count since the service started.
type Summary struct {
	// Meters is the number of meters the vendor sells to.
	Meters int `json:"meters"`
	// TokensVended counts every token written to the ledger.
	TokensVended int64 `json:"tokens_vended"`
	// TokensAccepted: the first result was accept or kct_pending.
	TokensAccepted int64 `json:"tokens_accepted"`
	// TokensDelivered: the first result was used_error, the answer to a
	// copy of a token the meter had already credited while its accept
	// went missing. Such a token credited the meter once, never twice.
	TokensDelivered int64 `json:"tokens_delivered"`
	// TokensRejected: the first result was any other outcome.
	TokensRejected int64 `json:"tokens_rejected"`
	// TokensPending: no result yet, still being delivered.
	TokensPending int64 `json:"tokens_pending"`
	// TokensLost: every delivery attempt went unanswered.
	TokensLost int64 `json:"tokens_lost"`
	// RejectedByOutcome counts the rejected tokens by their outcome.
	RejectedByOutcome map[string]int64 `json:"rejected_by_outcome"`
	// Refusals counts requests refused by each rule.
	Refusals map[Rule]int64 `json:"refusals"`
	// Redeliveries counts publications after the first.
	Redeliveries int64 `json:"redeliveries"`
	// PublishErrors counts failed publications.
	PublishErrors int64 `json:"publish_errors"`
	// DuplicateResults counts results for tokens already settled, such as
	// used_error for a redelivered copy; they change nothing.
	DuplicateResults int64 `json:"duplicate_results"`
	// Sold is the credit of every credit token issued, and Credited that
	// of tokens the meters took (accepted or delivered), by utility, as
	// decimals in the utility's unit. Both are the decoded amounts the
	// tokens carry.
	Sold     map[Utility]string `json:"sold"`
	Credited map[Utility]string `json:"credited"`
	// Latency holds, per token, vend_to_issue (request received to
	// ledger commit), issue_to_credit and vend_to_credit (to the meter's
	// accept arriving; kct_pending does not count), all on the vendor's
	// wall clock.
	Latency map[string]LatencySummary `json:"latency"`
}

// Conserved reports whether every token issued is in exactly one state:
// vended = accepted + delivered + rejected + pending + lost. Pending is
// counted from the tokens in delivery, independently of the others.
func (s *Summary) Conserved() bool {
	return s.TokensVended == s.TokensAccepted+s.TokensDelivered+s.TokensRejected+
		s.TokensPending+s.TokensLost
}

// LatencySummary is a latency distribution in milliseconds: the count,
// the 50th, 90th, 99th and 99.9th percentiles and the maximum.
type LatencySummary struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
}

// Latency names.
const (
	LatencyVendToIssue   = "vend_to_issue"
	LatencyIssueToCredit = "issue_to_credit"
	LatencyVendToCredit  = "vend_to_credit"
)

// counters are the token totals. They are guarded by Service.outMu.
type counters struct {
	vended, accepted, delivered, rejected, lost int64
	rejectedBy                                  map[string]int64
	refusals                                    map[Rule]int64
	redeliveries, publishErrors, duplicates     int64
	// sold and credited are tenths by utility.
	sold, credited map[Utility]uint64
}

func newCounters() counters {
	return counters{rejectedBy: map[string]int64{}, refusals: map[Rule]int64{},
		sold: map[Utility]uint64{}, credited: map[Utility]uint64{}}
}

// load adds the ledger's token groups.
func (c *counters) load(rows []ledger.CountRow) {
	for _, r := range rows {
		c.vended += r.Tokens
		u, isUnits := utilityOfSubClass(r.SubClass)
		credit := r.Class == 0 && isUnits
		if credit {
			c.sold[u] += r.Units
		}
		switch r.State {
		case ledger.Accepted:
			c.accepted += r.Tokens
		case ledger.Delivered:
			c.delivered += r.Tokens
		case ledger.Rejected:
			c.rejected += r.Tokens
			c.rejectedBy[r.Outcome] += r.Tokens
		case ledger.Lost:
			c.lost += r.Tokens
		}
		if credit && (r.State == ledger.Accepted || r.State == ledger.Delivered) {
			c.credited[u] += r.Units
		}
	}
}

// latencies are the per-token latency histograms, in microseconds from 1 µs
// to an hour at three significant figures.
type latencies struct {
	// mu guards the histograms, which are not safe for concurrent use.
	mu sync.Mutex
	h  map[string]*hdrhistogram.Histogram
}

func newLatencies() *latencies {
	l := &latencies{h: map[string]*hdrhistogram.Histogram{}}
	for _, n := range []string{LatencyVendToIssue, LatencyIssueToCredit, LatencyVendToCredit} {
		l.h[n] = hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3)
	}
	return l
}

func (l *latencies) record(name string, d time.Duration) {
	us := max(int64(d/time.Microsecond), 1)
	l.mu.Lock()
	// Values past an hour are clamped rather than dropped.
	h := l.h[name]
	h.RecordValue(min(us, h.HighestTrackableValue()))
	l.mu.Unlock()
}

func (l *latencies) summary() map[string]LatencySummary {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]LatencySummary, len(l.h))
	ms := func(us int64) float64 { return float64(us) / 1000 }
	for n, h := range l.h {
		out[n] = LatencySummary{Count: h.TotalCount(), P50: ms(h.ValueAtQuantile(50)),
			P90: ms(h.ValueAtQuantile(90)), P99: ms(h.ValueAtQuantile(99)),
			P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max())}
	}
	return out
}
