package threshold

import (
	"slices"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// Latency names: each measures one token on the vendor's wall clock.
const (
	// VendToCredit runs from the vendor receiving the request to the
	// vendor receiving the meter's accept.
	VendToCredit = "vend_to_credit"
	// VendToIssue runs from the request to the token being issued.
	VendToIssue = "vend_to_issue"
	// IssueToCredit runs from the token being published to the meter's
	// accept being received.
	IssueToCredit = "issue_to_credit"
)

// TokensVended is the count a ratio divides by.
const TokensVended = "tokens_vended"

// summaryCounts are the token and message counts of the end-of-run
// summary (its --summary JSON names) and of a bench result, and the counts
// a scenario run adds.
var summaryCounts = []string{
	"meters",
	TokensVended,
	"tokens_accepted",
	"tokens_delivered",
	"tokens_rejected",
	"tokens_pending",
	"tokens_lost",
	"tokens_timed_out",
	"telemetry_sent",
	"telemetry_aggregated",
	"redeliveries",
	"publish_errors",
	"duplicate_results",
	"vendor_refusals",
	"acl_refusals",
	"false_accepts",
	"double_credits",
}

// Names are the names a parser accepts: counts for count and ratio,
// latencies for the latency functions. The zero value accepts none.
type Names struct {
	Counts    []string
	Latencies []string
}

// DefaultNames returns the names every part of the product reports: the
// summary counts, every outcome of the protocol's table, and the three
// latencies. The caller may extend the slices it gets.
func DefaultNames() Names {
	counts := slices.Clone(summaryCounts)
	for _, o := range sts.Outcomes() {
		counts = append(counts, o.String())
	}
	return Names{Counts: counts, Latencies: []string{VendToCredit, VendToIssue, IssueToCredit}}
}

func (n *Names) isCount(name string) bool   { return slices.Contains(n.Counts, name) }
func (n *Names) isLatency(name string) bool { return slices.Contains(n.Latencies, name) }
