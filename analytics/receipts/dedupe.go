package receipts

import (
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// Deduper finds resent receipts and token conflicts (FORMATS.md §5.2),
// keyed on the normalised credit token: a real token is issued once. The
// same token with the same meter and amount as an earlier accepted row is
// a duplicate; with another meter or amount it is a conflict and rejected.
//
// A Deduper remembers about 60 bytes per distinct accepted token, so its
// memory grows with the number of distinct tokens and not with the input.
// It is not safe for concurrent use.
type Deduper struct {
	seed maphash.Seed
	seen map[sts.Token]seenToken
}

// seenToken is what is kept of the first accepted row with a token.
type seenToken struct {
	line     int
	meter    uint64
	amount   int64
	currency [3]byte
	// details is a hash of the other fields, to tell an exact resend
	// from one that differs in what is not part of the key.
	details   uint64
	form      tokenForm
	multiline bool
	trailer   bool
}

// detailKey is the part of a row compared beyond token, meter and amount.
type detailKey struct {
	units, tokenAmount, otherCharges int64
	unix                             int64
	kct1, kct2                       string
}

// NewDeduper returns an empty Deduper.
func NewDeduper() *Deduper {
	return &Deduper{seed: maphash.MakeSeed(), seen: make(map[sts.Token]seenToken)}
}

// Len returns the number of distinct tokens remembered.
func (d *Deduper) Len() int { return len(d.seen) }

// Check marks r as a duplicate or a conflict if its token was accepted
// before, and remembers it otherwise. Only accepted rows are looked at.
func (d *Deduper) Check(r *Receipt) {
	if r.Status != StatusAccept || r.Token == "" {
		return
	}
	cur := d.entry(r)
	first, ok := d.seen[r.tokenValue]
	if !ok {
		d.seen[r.tokenValue] = cur
		return
	}
	sameMeter := first.meter == cur.meter
	sameAmount := first.amount == cur.amount && first.currency == cur.currency
	if sameMeter && sameAmount {
		r.Status, r.Code = StatusDuplicate, CodeDuplicate
		r.Reason = duplicateReason(first, cur)
		r.Warnings = nil
		return
	}
	what := "another meter and amount"
	switch {
	case sameMeter:
		what = "another amount"
	case sameAmount:
		what = "another meter"
	}
	r.Status, r.Code = StatusReject, CodeConflict
	r.Reason = fmt.Sprintf("token already seen at line %d for %s", first.line, what)
	r.keepIdentity()
}

func (d *Deduper) entry(r *Receipt) seenToken {
	meter, _ := strconv.ParseUint(r.Meter, 10, 64)
	var cur [3]byte
	copy(cur[:], r.Currency)
	var unix int64
	if r.Dated() {
		unix = r.Time.Unix()
	}
	key := detailKey{units: r.Units.Hundredths(), tokenAmount: r.TokenAmount.Hundredths(),
		otherCharges: r.OtherCharges.Hundredths(), unix: unix, kct1: r.KCT1, kct2: r.KCT2}
	return seenToken{line: r.Line, meter: meter, amount: r.Amount.Hundredths(), currency: cur,
		details: maphash.Comparable(d.seed, key), form: r.tokenForm,
		multiline: r.multiline, trailer: r.trailer}
}

// duplicateReason says how a resend differs from the first copy.
func duplicateReason(first, cur seenToken) string {
	var diffs []string
	if cur.form != first.form {
		diffs = append(diffs, map[tokenForm]string{formPlain: "written without dashes",
			formDashed: "written with dashes", formSpaced: "written in spaced groups"}[cur.form])
	}
	switch {
	case cur.multiline && !first.multiline:
		diffs = append(diffs, "multi-line")
	case !cur.multiline && first.multiline:
		diffs = append(diffs, "on one line")
	}
	switch {
	case !cur.trailer && first.trailer:
		diffs = append(diffs, "no trailer")
	case cur.trailer && !first.trailer:
		diffs = append(diffs, "with trailer")
	}
	if cur.details != first.details {
		diffs = append(diffs, "other fields differ")
	}
	if len(diffs) == 0 {
		return fmt.Sprintf("same token and details as line %d", first.line)
	}
	return fmt.Sprintf("same token as line %d (%s)", first.line, strings.Join(diffs, ", "))
}
