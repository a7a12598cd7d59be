package threshold

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// SyntaxError is an expression that does not parse. Col is the 1-based
// byte column of the fault in Expr, so that a caller that read the
// expression from a file can point at it.
type SyntaxError struct {
	Expr string
	Col  int
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("threshold %q: column %d: %s", e.Expr, e.Col, e.Msg)
}

// maxExprLen bounds the input, so that a hostile file cannot make an error
// message of unbounded length.
const maxExprLen = 256

// Parse reads an expression with the [DefaultNames].
func Parse(s string) (Threshold, error) {
	n := DefaultNames()
	return n.Parse(s)
}

// MustParse is [Parse] for expressions fixed in a program; it panics on an
// error.
func MustParse(s string) Threshold {
	t, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return t
}

// Parse reads an expression, accepting the names in n. Errors are
// [*SyntaxError] values.
func (n *Names) Parse(s string) (Threshold, error) {
	p := parser{src: s, names: n}
	if len(s) > maxExprLen {
		return Threshold{}, p.fail(maxExprLen+1, "longer than %d characters", maxExprLen)
	}
	return p.parse()
}

type parser struct {
	src   string
	pos   int
	names *Names
}

func (p *parser) fail(pos int, format string, args ...any) error {
	expr := p.src
	if len(expr) > maxExprLen {
		expr = expr[:maxExprLen] + "..."
	}
	return &SyntaxError{Expr: expr, Col: pos + 1, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) skipSpace() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
}

// word reads a run of lower-case letters, digits and underscores.
func (p *parser) word() string {
	start := p.pos
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c != '_' && (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			break
		}
		p.pos++
	}
	return p.src[start:p.pos]
}

func (p *parser) expect(c byte, what string) error {
	p.skipSpace()
	if p.pos >= len(p.src) || p.src[p.pos] != c {
		return p.fail(p.pos, "want %q %s", c, what)
	}
	p.pos++
	return nil
}

func (p *parser) parse() (Threshold, error) {
	var t Threshold
	p.skipSpace()
	start := p.pos
	fn := p.word()
	f, ok := parseFunc(fn)
	if !ok {
		if fn == "" {
			return t, p.fail(start, "want a function: %s", strings.Join(funcNames[:], ", "))
		}
		return t, p.fail(start, "unknown function %q: want %s", fn,
			strings.Join(funcNames[:], ", "))
	}
	t.Func = f
	if err := p.expect('(', "after "+fn); err != nil {
		return t, err
	}
	if err := p.name(&t); err != nil {
		return t, err
	}
	if err := p.expect(')', "after the name"); err != nil {
		return t, err
	}
	if err := p.op(&t); err != nil {
		return t, err
	}
	if err := p.value(&t); err != nil {
		return t, err
	}
	p.skipSpace()
	if p.pos < len(p.src) {
		return t, p.fail(p.pos, "unexpected %q after the value", p.src[p.pos:])
	}
	return t, nil
}

func parseFunc(s string) (Func, bool) {
	for i, n := range funcNames {
		if n == s {
			return Func(i), true
		}
	}
	return 0, false
}

func (p *parser) name(t *Threshold) error {
	p.skipSpace()
	start := p.pos
	t.Name = p.word()
	switch {
	case t.Name == "":
		return p.fail(start, "want a name inside %s( )", t.Func)
	case t.Func.IsLatency() && !p.names.isLatency(t.Name):
		if p.names.isCount(t.Name) {
			return p.fail(start, "%s is a count: use count(%s) or ratio(%s)", t.Name,
				t.Name, t.Name)
		}
		return p.fail(start, "unknown latency %q: want %s", t.Name,
			strings.Join(p.names.Latencies, ", "))
	case !t.Func.IsLatency() && !p.names.isCount(t.Name):
		if p.names.isLatency(t.Name) {
			return p.fail(start, "%s is a latency: use p50, p90, p99, p999 or max", t.Name)
		}
		return p.fail(start, "unknown count %q", t.Name)
	}
	return nil
}

func (p *parser) op(t *Threshold) error {
	p.skipSpace()
	rest := p.src[p.pos:]
	// Two-character operators first, so that "<=" is not read as "<".
	for _, o := range []Op{LessEqual, GreaterEqual, Equal, NotEqual, Less, Greater} {
		if strings.HasPrefix(rest, o.String()) {
			t.Op = o
			p.pos += len(o.String())
			return nil
		}
	}
	if strings.HasPrefix(rest, "=") {
		return p.fail(p.pos, "want == to compare, not =")
	}
	return p.fail(p.pos, "want an operator: < <= > >= == !=")
}

func (p *parser) value(t *Threshold) error {
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.src) && strings.IndexByte(" \t", p.src[p.pos]) < 0 {
		p.pos++
	}
	t.Text = p.src[start:p.pos]
	if t.Text == "" {
		return p.fail(start, "want a value after %s", t.Op)
	}
	num, unit := splitNumber(t.Text)
	if num == "" {
		return p.fail(start, "%q is not a number", t.Text)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsInf(v, 0) {
		return p.fail(start, "%q is not a number", num)
	}
	switch {
	case t.Func.IsLatency():
		size, ok := durationUnit(unit)
		if !ok {
			return p.fail(start+len(num), "want a duration unit after %s: ns, us, ms or s", num)
		}
		t.Value = v * float64(size)
		if t.Value > math.MaxInt64 {
			return p.fail(start, "%s is too long a duration", t.Text)
		}
	case t.Func == Count:
		if unit != "" || strings.Contains(num, ".") {
			return p.fail(start, "count(%s) compares with a whole number, not %q", t.Name,
				t.Text)
		}
		t.Value = v
	default:
		return p.ratioValue(t, v, unit, start)
	}
	return nil
}

func (p *parser) ratioValue(t *Threshold, v float64, unit string, start int) error {
	switch unit {
	case "":
		if v > 1 {
			return p.fail(start, "ratio %s above 1: write a fraction such as 0.01, or a "+
				"percentage such as 1%%", t.Text)
		}
		t.Value = v
	case "%":
		if v > 100 {
			return p.fail(start, "percentage %s above 100%%", t.Text)
		}
		t.Value = v / 100
	default:
		return p.fail(start+len(t.Text)-len(unit), "ratio(%s) compares with a number or "+
			"a percentage, not %q", t.Name, t.Text)
	}
	return nil
}

// splitNumber splits "200ms" into "200" and "ms": an unsigned decimal
// number and what follows it.
func splitNumber(s string) (num, unit string) {
	i, dot := 0, false
	for i < len(s) {
		c := s[i]
		if c == '.' && !dot {
			dot = true
		} else if c < '0' || c > '9' {
			break
		}
		i++
	}
	if i == 0 || s[:i] == "." {
		return "", s
	}
	return s[:i], s[i:]
}

func durationUnit(u string) (time.Duration, bool) {
	switch u {
	case "ns":
		return time.Nanosecond, true
	case "us", "µs":
		return time.Microsecond, true
	case "ms":
		return time.Millisecond, true
	case "s":
		return time.Second, true
	}
	return 0, false
}
