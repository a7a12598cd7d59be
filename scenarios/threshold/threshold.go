package threshold

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Func is the function a threshold applies to its name.
type Func uint8

// The functions.
const (
	P50 Func = iota
	P90
	P99
	P999
	Max
	Count
	Ratio
)

var funcNames = [...]string{"p50", "p90", "p99", "p999", "max", "count", "ratio"}

// quantiles are those of the latency functions; max is the 1.0 quantile.
var quantiles = [...]float64{0.50, 0.90, 0.99, 0.999, 1}

// String returns the function's name as written, such as "p99".
func (f Func) String() string {
	if int(f) < len(funcNames) {
		return funcNames[f]
	}
	return fmt.Sprintf("func(%d)", uint8(f))
}

// IsLatency reports whether f takes a latency name.
func (f Func) IsLatency() bool { return f <= Max }

// Quantile returns the quantile of a latency function, 1 for max.
func (f Func) Quantile() float64 {
	if f.IsLatency() {
		return quantiles[f]
	}
	return 0
}

// Op is a comparison operator.
type Op uint8

// The operators.
const (
	Less Op = iota
	LessEqual
	Greater
	GreaterEqual
	Equal
	NotEqual
)

var opNames = [...]string{"<", "<=", ">", ">=", "==", "!="}

// String returns the operator as written.
func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Holds reports whether got op want.
func (o Op) Holds(got, want float64) bool {
	switch o {
	case Less:
		return got < want
	case LessEqual:
		return got <= want
	case Greater:
		return got > want
	case GreaterEqual:
		return got >= want
	case Equal:
		return got == want
	case NotEqual:
		return got != want
	}
	return false
}

// ParseOp reads an operator: < <= > >= == or !=.
func ParseOp(s string) (Op, error) {
	for i, n := range opNames {
		if n == s {
			return Op(i), nil
		}
	}
	return 0, fmt.Errorf("operator %q: want < <= > >= == or !=", s)
}

// Threshold is one parsed expression. The zero value is not a valid
// threshold; make one with [Parse].
type Threshold struct {
	// Func is the function, Name its argument.
	Func Func
	Name string
	// Op compares the observed value with Value.
	Op Op
	// Value is the bound: nanoseconds for a latency, a count, or a
	// fraction for ratio (a percentage is stored divided by 100).
	Value float64
	// Text is the bound as written, such as "200ms" or "1%".
	Text string
}

// String returns the threshold in canonical form, which [Parse] reads
// back to the same value: "p99(vend_to_credit) < 200ms".
func (t Threshold) String() string {
	return fmt.Sprintf("%s(%s) %s %s", t.Func, t.Name, t.Op, t.Text)
}

// Wanted returns the comparison the threshold asks for, such as "< 200ms".
func (t Threshold) Wanted() string { return t.Op.String() + " " + t.Text }

// Source provides the values thresholds are evaluated against. Count
// returns a count by name; Latency returns the quantile (0 to 1, 1 being
// the maximum) of a latency distribution. Both report false when they
// have no value: an unknown name, or no sample at all.
type Source interface {
	Count(name string) (int64, bool)
	Latency(name string, quantile float64) (time.Duration, bool)
}

// ErrNoData reports a threshold the source has no value for; it cannot
// hold.
var ErrNoData = errors.New("no data")

// Result is a threshold evaluated against a source.
type Result struct {
	Threshold Threshold
	// Got is the observed value, written like the bound: "143ms", "12"
	// or "0.0042". It is empty when Err is set.
	Got string
	// Value is the observed value in the unit of Threshold.Value.
	Value float64
	// Pass reports whether the threshold holds.
	Pass bool
	// Err, wrapping [ErrNoData], says why there was nothing to compare;
	// Pass is false then.
	Err error
}

// Eval evaluates the threshold against src.
func (t Threshold) Eval(src Source) Result {
	r := Result{Threshold: t}
	switch {
	case t.Func.IsLatency():
		d, ok := src.Latency(t.Name, t.Func.Quantile())
		if !ok {
			r.Err = fmt.Errorf("%s(%s): %w: no samples", t.Func, t.Name, ErrNoData)
			return r
		}
		r.Value, r.Got = float64(d), formatDuration(d)
	case t.Func == Count:
		n, ok := src.Count(t.Name)
		if !ok {
			r.Err = fmt.Errorf("count(%s): %w: not reported", t.Name, ErrNoData)
			return r
		}
		r.Value, r.Got = float64(n), strconv.FormatInt(n, 10)
	default:
		n, ok := src.Count(t.Name)
		vended, vok := src.Count(TokensVended)
		switch {
		case !ok:
			r.Err = fmt.Errorf("ratio(%s): %w: not reported", t.Name, ErrNoData)
			return r
		case !vok || vended == 0:
			r.Err = fmt.Errorf("ratio(%s): %w: no tokens vended", t.Name, ErrNoData)
			return r
		}
		r.Value = float64(n) / float64(vended)
		r.Got = strconv.FormatFloat(r.Value, 'g', 4, 64)
	}
	r.Pass = t.Op.Holds(r.Value, t.Value)
	return r
}

// formatDuration writes d with at most three significant figures in the
// largest of the units s, ms and us that keeps it at least 1, else in ns.
func formatDuration(d time.Duration) string {
	units := []struct {
		name string
		size time.Duration
	}{{"s", time.Second}, {"ms", time.Millisecond}, {"us", time.Microsecond}}
	for _, u := range units {
		if d >= u.size {
			return formatFigure(float64(d)/float64(u.size)) + u.name
		}
	}
	return strconv.FormatInt(int64(d), 10) + "ns"
}

// formatFigure writes v (at least 1) with three significant figures, or
// as a whole number when it has more digits than that.
func formatFigure(v float64) string {
	prec := 0
	switch {
	case v < 10:
		prec = 2
	case v < 100:
		prec = 1
	}
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if prec > 0 {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
