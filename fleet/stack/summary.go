package stack

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stsfleet/stsfleet/fleet"
	"github.com/stsfleet/stsfleet/meter"
	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/vending"
)

// Summary is the end-of-run report; its JSON form is what --summary
// writes. Token counts are per token issued, each in exactly one state:
// accepted (its first result was accept or kct_pending, or used_error for
// a copy of a token the meter had already credited), rejected (any other
// first result), pending (no result after the drain) or lost (the vendor
// gave up on it). Energy figures are decimals in each utility's unit; the
// top-level ones are electricity's.
type Summary struct {
	Meters              int64                     `json:"meters"`
	TokensVended        int64                     `json:"tokens_vended"`
	TokensAccepted      int64                     `json:"tokens_accepted"`
	TokensRejected      int64                     `json:"tokens_rejected"`
	TokensPending       int64                     `json:"tokens_pending"`
	TokensLost          int64                     `json:"tokens_lost"`
	EnergySoldKWh       string                    `json:"energy_sold_kwh"`
	EnergyConsumedKWh   string                    `json:"energy_consumed_kwh"`
	CreditRemainingKWh  string                    `json:"credit_remaining_kwh"`
	ByUtility           map[string]UtilitySummary `json:"by_utility"`
	TelemetrySent       int64                     `json:"telemetry_sent"`
	TelemetryAggregated int64                     `json:"telemetry_aggregated"`
	LatencyMS           Latency                   `json:"latency_ms"`
	Passed              bool                      `json:"passed"`
	// Interrupted is set when the run's context ended before its
	// simulated span did; absent from the JSON of a complete run.
	Interrupted bool `json:"interrupted,omitempty"`
	// interruption says when and why, for the table and the caller.
	interruption string
	rejectedBy   map[string]int64
	failures     []string
	// partial is set for one shard of a fleet: the vendor's totals cover
	// every shard, so only the token states are checked.
	partial string
}

// UtilitySummary is one utility's energy (or water, or gas) account.
type UtilitySummary struct {
	Unit      string `json:"unit"`
	Sold      string `json:"sold"`
	Consumed  string `json:"consumed"`
	Remaining string `json:"remaining"`
	Cleared   string `json:"cleared"`
}

// Latency is vend_to_credit on the vendor's clock, in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
}

// Failures lists the conservation checks that failed, empty when Passed.
func (s *Summary) Failures() []string { return s.failures }

// Interruption says when an interrupted run stopped and why, such as
// "after 8s of 1m0s (SIGINT)"; it is empty unless Interrupted.
func (s *Summary) Interruption() string { return s.interruption }

// interrupt marks the summary of a run stopped after wall time after of
// its planned wall time of, cause being why its context ended.
func (s *Summary) interrupt(after, of time.Duration, cause error) {
	s.Interrupted = true
	s.interruption = fmt.Sprintf("after %s of %s (%v)", roundWall(after), roundWall(of), cause)
}

// roundWall rounds a wall duration for people: to the second from ten
// seconds on, to the tenth below.
func roundWall(d time.Duration) time.Duration {
	if d >= 10*time.Second {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}

// Build makes the summary from the vendor's account and the meters' own
// registers, and runs the conservation checks: every token is in one
// state, none is lost, and for each utility the credit the vendor saw
// taken equals the meters' consumed + remaining + cleared. aggregated is
// the number of readings analytics aggregated, 0 without analytics.
func Build(meters int, v vending.Summary, t fleet.Totals, st fleet.Stats,
	aggregated int64) Summary {
	s := Summary{
		Meters: int64(meters), TokensVended: v.TokensVended,
		TokensAccepted: v.TokensAccepted + v.TokensDelivered,
		TokensRejected: v.TokensRejected, TokensPending: v.TokensPending,
		TokensLost: v.TokensLost, ByUtility: map[string]UtilitySummary{},
		TelemetrySent: int64(st.TelemetrySent), TelemetryAggregated: aggregated,
		rejectedBy: v.RejectedByOutcome,
	}
	if l, ok := v.Latency[vending.LatencyVendToCredit]; ok {
		s.LatencyMS = Latency{P50: l.P50, P90: l.P90, P99: l.P99, P999: l.P999}
	}
	for _, u := range vending.Utilities {
		r := t[u]
		us := UtilitySummary{Unit: u.Unit(), Sold: orZero(v.Sold[u]),
			Consumed: units(r.Consumed), Remaining: units(r.Remaining), Cleared: units(r.Cleared)}
		s.ByUtility[string(u)] = us
		if !partial(st) {
			s.checkUtility(u, v.Credited[u], r)
		}
	}
	if partial(st) {
		s.partial = fmt.Sprintf("tokens only: the meters are shard %s of the fleet",
			st.Shard)
	}
	e := s.ByUtility[string(vending.Electricity)]
	s.EnergySoldKWh, s.EnergyConsumedKWh, s.CreditRemainingKWh = e.Sold, e.Consumed, e.Remaining

	if s.TokensVended != s.TokensAccepted+s.TokensRejected+s.TokensPending+s.TokensLost {
		s.fail("tokens: vended %d != accepted %d + rejected %d + pending %d + lost %d",
			s.TokensVended, s.TokensAccepted, s.TokensRejected, s.TokensPending, s.TokensLost)
	}
	if s.TokensLost > 0 {
		s.fail("tokens: %d lost", s.TokensLost)
	}
	s.Passed = len(s.failures) == 0
	return s
}

// checkUtility compares the credit the vendor saw the meters take with
// what the meters' registers account for.
func (s *Summary) checkUtility(u vending.Utility, credited string, r meter.Register) {
	want, err := sts.ParseDecimal(orZero(credited), 1)
	if err != nil {
		s.fail("%s: vendor's credited %q: %v", u, credited, err)
		return
	}
	// Tokens carry tenths of a unit; registers count Milli of a tenth.
	got := r.Consumed + r.Remaining + r.Cleared
	if meter.Milli(want)*1000 != got {
		s.fail("%s: vendor credited %s %s, meters hold consumed + remaining + cleared = %s",
			u, units(meter.Milli(want)*1000), u.Unit(), units(got))
	}
	if r.Credited != got {
		s.fail("%s: meters' registers do not balance", u)
	}
}

// AddFailure records a further failed check, such as one of analytics.
func (s *Summary) AddFailure(format string, args ...any) {
	s.fail(format, args...)
	s.Passed = false
}

func (s *Summary) fail(format string, args ...any) {
	s.failures = append(s.failures, fmt.Sprintf(format, args...))
}

// partial reports a fleet that is one shard of several.
func partial(st fleet.Stats) bool { return st.Shard.Count > 1 }

func units(m meter.Milli) string { return m.Format(1, 1) }

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

// WriteJSON writes the summary as indented JSON.
func (s *Summary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

// WriteTable writes the summary as a readable table.
func (s *Summary) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(cells ...any) {
		for i, c := range cells {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, c)
		}
		fmt.Fprintln(tw)
	}
	row("meters", s.Meters)
	row("tokens vended", s.TokensVended)
	row("  accepted", s.TokensAccepted)
	row("  rejected", s.TokensRejected, outcomes(s.rejectedBy))
	row("  pending", s.TokensPending)
	row("  lost", s.TokensLost)
	row("telemetry sent", s.TelemetrySent)
	row("telemetry aggregated", s.TelemetryAggregated)
	row("vend to credit (ms)", fmt.Sprintf("p50 %.1f  p90 %.1f  p99 %.1f  p999 %.1f",
		s.LatencyMS.P50, s.LatencyMS.P90, s.LatencyMS.P99, s.LatencyMS.P999))
	row()
	row("utility", "unit", "sold", "consumed", "remaining", "cleared")
	for _, u := range vending.Utilities {
		us := s.ByUtility[string(u)]
		row(u, us.Unit, us.Sold, us.Consumed, us.Remaining, us.Cleared)
	}
	row()
	if s.Interrupted {
		row("interrupted", s.interruption)
	}
	switch {
	case s.Passed && s.partial != "":
		row("conservation", "passed ("+s.partial+")")
	case s.Passed:
		row("conservation", "passed")
	default:
		row("conservation", "FAILED")
		for _, f := range s.failures {
			row("", f)
		}
	}
	return tw.Flush()
}

func outcomes(m map[string]int64) string {
	var parts []string
	for k, v := range m {
		if v > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, v))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}
