package scenarios

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/scenarios/threshold"
	"github.com/stsfleet/stsfleet/vending"
)

// checker evaluates one step's expectations.
type checker struct {
	r       *run
	s       *Step
	st      *stepState
	targets []int
	window  []Result
	acl     int64
	aclOK   bool
}

func (c *checker) checks() []Check {
	e := &c.s.Expect
	var out []Check
	for _, o := range e.Outcomes {
		n := int64(len(c.window))
		if o.Name != "total" {
			n = 0
			for _, res := range c.window {
				if res.Outcome.String() == o.Name {
					n++
				}
			}
		}
		out = append(out, countCheck("outcomes."+o.Name, o.Count, n))
	}
	if e.Credited != nil {
		out = append(out, c.credited(e.Credited)...)
	}
	for _, v := range e.VendorRefusals {
		name, n := "vendor_refusals", int64(0)
		if v.Name != "" {
			name, n = name+"."+v.Name, c.st.refusals[v.Name]
		} else {
			for _, k := range c.st.refusals {
				n += k
			}
		}
		out = append(out, countCheck(name, v.Count, n))
	}
	if e.ACLRefusals != nil {
		if !c.aclOK {
			out = append(out, Check{Name: "acl_refusals", Wanted: e.ACLRefusals.String(),
				Got: "not reported by the broker"})
		} else {
			out = append(out, countCheck("acl_refusals", *e.ACLRefusals, c.acl))
		}
	}
	if e.Delivered != nil || e.DeliveredAll {
		out = append(out, c.delivered(e))
	}
	if e.DoubleCredits != nil {
		out = append(out, countCheck("double_credits", *e.DoubleCredits, c.r.doubleCredits()))
	}
	if e.FalseAccepts != nil {
		bound := *e.FalseAccepts * c.st.expectedFalse
		out = append(out, Check{Name: "false_accepts",
			Wanted: fmt.Sprintf("<= %.3g (%g x expected %.3g)", bound, *e.FalseAccepts,
				c.st.expectedFalse),
			Got:  strconv.FormatInt(c.st.falseAccepts, 10),
			Pass: float64(c.st.falseAccepts) <= bound})
	}
	return out
}

func countCheck(name string, want Count, got int64) Check {
	return Check{Name: name, Wanted: want.String(), Got: strconv.FormatInt(got, 10),
		Pass: want.Holds(got)}
}

// creditedBy sums the credit the step's results added, per meter, in
// units of 10^-5.
func (c *checker) creditedBy() map[string]uint64 {
	out := map[string]uint64{}
	for _, res := range c.window {
		if v, err := sts.ParseDecimal(res.Credited, sts.CurrencyScale); err == nil {
			out[res.DRN] += v
		}
	}
	return out
}

func (c *checker) credited(cc *CreditCheck) []Check {
	got := c.creditedBy()
	var out []Check
	if cc.Sold || cc.Each != "" {
		name, wanted := "credited.each", cc.Each
		if cc.Sold {
			name, wanted = "credited.sold", "what the vendor sold each meter"
		}
		each, _ := sts.ParseDecimal(cc.Each, sts.CurrencyScale)
		var bad []string
		for _, i := range c.targets {
			drn := c.r.meters[i].info.DRN
			want := each
			if cc.Sold {
				want = c.st.sold[drn]
			}
			if got[drn] != want {
				bad = append(bad, fmt.Sprintf("%s credited %s, want %s", drn, decimal(got[drn]),
					decimal(want)))
			}
		}
		g := fmt.Sprintf("as wanted at %d meters", len(c.targets))
		if len(bad) > 0 {
			g = strings.Join(bad[:min(len(bad), 3)], "; ")
			if len(bad) > 3 {
				g += fmt.Sprintf(" (and %d more)", len(bad)-3)
			}
		}
		if cc.Each != "" {
			wanted = cc.Each + " at each of " + strconv.Itoa(len(c.targets)) + " meters"
		}
		out = append(out, Check{Name: name, Wanted: wanted, Got: g, Pass: len(bad) == 0})
	}
	if cc.Total != "" {
		want, _ := sts.ParseDecimal(cc.Total, sts.CurrencyScale)
		var total uint64
		for _, v := range got {
			total += v
		}
		out = append(out, Check{Name: "credited.total", Wanted: decimal(want),
			Got: decimal(total), Pass: total == want})
	}
	for _, mv := range cc.Meters {
		want, _ := sts.ParseDecimal(mv[1], sts.CurrencyScale)
		i, err := resolveRef(mv[0], c.r.drns)
		ck := Check{Name: "credited." + mv[0], Wanted: decimal(want)}
		if err != nil {
			ck.Got = err.Error()
		} else {
			v := got[c.r.drns[i]]
			ck.Got, ck.Pass = decimal(v), v == want
		}
		out = append(out, ck)
	}
	return out
}

// decimal writes a credit in units of 10^-5 with at least one decimal.
func decimal(v uint64) string {
	s := sts.FormatDecimal(v, sts.CurrencyScale)
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s = strings.TrimRight(s, "0")
		if strings.HasSuffix(s, ".") {
			s += "0"
		}
	}
	return s
}

func (c *checker) delivered(e *Expect) Check {
	inWindow := map[tokenKey]bool{}
	for _, res := range c.window {
		inWindow[tokenKey{res.DRN, res.VendID, res.Token}] = true
	}
	var n int64
	for _, k := range c.st.queuedBefore {
		if inWindow[k] {
			n++
		}
	}
	if e.DeliveredAll {
		want := int64(len(c.st.queuedBefore))
		return Check{Name: "delivered", Wanted: fmt.Sprintf("all %d queued tokens", want),
			Got: strconv.FormatInt(n, 10), Pass: n == want}
	}
	return countCheck("delivered", *e.Delivered, n)
}

// doubleCredits counts tokens accepted with credit more than once.
func (r *run) doubleCredits() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int64
	for _, c := range r.credits {
		if c > 1 {
			n++
		}
	}
	return n
}

// runSource is the run's totals as a threshold source.
type runSource struct {
	counts  map[string]int64
	latency map[string]vending.LatencySummary
}

func (r *run) source(sum *vending.Summary) runSource {
	acl, aclOK := r.sys.ACLRefusals()
	b := r.base
	if b == nil {
		b = &vending.Summary{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c := map[string]int64{
		"meters":            int64(len(r.meters)),
		"tokens_vended":     sum.TokensVended - b.TokensVended,
		"tokens_accepted":   sum.TokensAccepted - b.TokensAccepted,
		"tokens_delivered":  sum.TokensDelivered - b.TokensDelivered,
		"tokens_rejected":   sum.TokensRejected - b.TokensRejected,
		"tokens_pending":    sum.TokensPending,
		"tokens_lost":       sum.TokensLost - b.TokensLost,
		"redeliveries":      sum.Redeliveries - b.Redeliveries,
		"publish_errors":    sum.PublishErrors - b.PublishErrors,
		"duplicate_results": sum.DuplicateResults - b.DuplicateResults,
		"false_accepts":     r.falseAcc,
	}
	var refused, doubles int64
	for _, n := range r.refusals {
		refused += n
	}
	for _, n := range r.credits {
		if n > 1 {
			doubles++
		}
	}
	c["vendor_refusals"], c["double_credits"] = refused, doubles
	if aclOK {
		c["acl_refusals"] = int64(acl)
	}
	for _, o := range sts.Outcomes() {
		c[o.String()] = r.outcomes[o.String()]
	}
	return runSource{counts: c, latency: sum.Latency}
}

// Count implements threshold.Source.
func (s runSource) Count(name string) (int64, bool) {
	n, ok := s.counts[name]
	return n, ok
}

// Latency implements threshold.Source from the vendor's summary, which
// keeps p50, p90, p99, p999 and the maximum.
func (s runSource) Latency(name string, q float64) (time.Duration, bool) {
	l, ok := s.latency[name]
	if !ok || l.Count == 0 {
		return 0, false
	}
	var ms float64
	switch q {
	case 0.5:
		ms = l.P50
	case 0.9:
		ms = l.P90
	case 0.99:
		ms = l.P99
	case 0.999:
		ms = l.P999
	case 1:
		ms = l.Max
	default:
		return 0, false
	}
	return time.Duration(ms * float64(time.Millisecond)), true
}

var _ threshold.Source = runSource{}
