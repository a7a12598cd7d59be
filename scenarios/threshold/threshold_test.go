package threshold

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Threshold
	}{
		{"p99 in ms", "p99(vend_to_credit) < 200ms",
			Threshold{Func: P99, Name: "vend_to_credit", Op: Less, Value: 200e6, Text: "200ms"}},
		{"count equal", "count(tokens_lost) == 0",
			Threshold{Func: Count, Name: "tokens_lost", Op: Equal, Value: 0, Text: "0"}},
		{"outcome count", "count(crc_error) >= 10",
			Threshold{Func: Count, Name: "crc_error", Op: GreaterEqual, Value: 10, Text: "10"}},
		{"ratio fraction", "ratio(tokens_rejected) < 0.01",
			Threshold{Func: Ratio, Name: "tokens_rejected", Op: Less, Value: 0.01, Text: "0.01"}},
		{"ratio percent", "ratio(tokens_rejected)<=1%",
			Threshold{Func: Ratio, Name: "tokens_rejected", Op: LessEqual, Value: 0.01,
				Text: "1%"}},
		{"no spaces", "p50(vend_to_issue)>1.5s",
			Threshold{Func: P50, Name: "vend_to_issue", Op: Greater, Value: 1.5e9, Text: "1.5s"}},
		{"spaces everywhere", "  max ( issue_to_credit )  !=  250us ",
			Threshold{Func: Max, Name: "issue_to_credit", Op: NotEqual, Value: 250e3,
				Text: "250us"}},
		{"p999 ns", "p999(vend_to_credit) <= 900ns",
			Threshold{Func: P999, Name: "vend_to_credit", Op: LessEqual, Value: 900,
				Text: "900ns"}},
		{"p90 micro sign", "p90(vend_to_credit) < 5µs",
			Threshold{Func: P90, Name: "vend_to_credit", Op: Less, Value: 5e3, Text: "5µs"}},
		{"keypad_locked outcome", "count(keypad_locked) > 0",
			Threshold{Func: Count, Name: "keypad_locked", Op: Greater, Value: 0, Text: "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tt.in, diff)
			}
			again, err := Parse(got.String())
			if err != nil || again != got {
				t.Errorf("Parse(%q.String()=%q) = %+v, %v", tt.in, got.String(), again, err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		col  int
		msg  string
	}{
		{"empty", "", 1, "want a function"},
		{"unknown function", "p95(vend_to_credit) < 1ms", 1, `unknown function "p95"`},
		{"no paren", "p99 vend_to_credit < 1ms", 5, `want '('`},
		{"no name", "count() == 0", 7, "want a name"},
		{"unknown count", "count(tokens_eaten) == 0", 7, `unknown count "tokens_eaten"`},
		{"latency as count", "count(vend_to_credit) == 0", 7, "is a latency"},
		{"count as latency", "p99(tokens_lost) < 1ms", 5, "is a count"},
		{"unknown latency", "p99(vend_to_bed) < 1ms", 5, `unknown latency "vend_to_bed"`},
		{"no close paren", "count(tokens_lost == 0", 19, `want ')'`},
		{"single equals", "count(tokens_lost) = 0", 20, "want == to compare"},
		{"no operator", "count(tokens_lost) 0", 20, "want an operator"},
		{"no value", "count(tokens_lost) ==", 22, "want a value"},
		{"duration without unit", "p99(vend_to_credit) < 200", 26, "want a duration unit"},
		{"duration bad unit", "p99(vend_to_credit) < 2m", 24, "want a duration unit"},
		{"count with fraction", "count(tokens_lost) < 0.5", 22, "whole number"},
		{"count with unit", "count(tokens_lost) < 5ms", 22, "whole number"},
		{"ratio above one", "ratio(tokens_lost) < 2", 22, "above 1"},
		{"percent above 100", "ratio(tokens_lost) < 200%", 22, "above 100%"},
		{"ratio unit", "ratio(tokens_lost) < 0.1s", 25, "number or a percentage"},
		{"not a number", "count(tokens_lost) < abc", 22, "is not a number"},
		{"negative", "count(tokens_lost) > -1", 22, "is not a number"},
		{"trailing", "count(tokens_lost) == 0 and more", 25, "unexpected"},
		{"upper case", "P99(vend_to_credit) < 1ms", 1, "want a function"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.in)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error = %v, want a *SyntaxError", tt.in, err)
			}
			if se.Col != tt.col || !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("Parse(%q) = column %d %q, want column %d containing %q",
					tt.in, se.Col, se.Msg, tt.col, tt.msg)
			}
		})
	}
}

func TestParseLong(t *testing.T) {
	_, err := Parse("count(tokens_lost) == " + strings.Repeat("9", 500))
	var se *SyntaxError
	if !errors.As(err, &se) || len(se.Error()) > 2*maxExprLen {
		t.Errorf("long input: %v", err)
	}
}

func TestNamesExtend(t *testing.T) {
	n := DefaultNames()
	if _, err := n.Parse("count(bench_errors) == 0"); err == nil {
		t.Fatal("an unknown name parsed")
	}
	n.Counts = append(n.Counts, "bench_errors")
	if _, err := n.Parse("count(bench_errors) == 0"); err != nil {
		t.Errorf("an added name did not parse: %v", err)
	}
}

func TestEval(t *testing.T) {
	src := Static{
		Counts: map[string]int64{"tokens_vended": 200, "tokens_rejected": 3,
			"tokens_lost": 0, "crc_error": 12, "used_error": 0},
		Latencies: map[string][]time.Duration{
			"vend_to_credit": {5 * time.Millisecond, 9 * time.Millisecond, 143 * time.Millisecond,
				2 * time.Millisecond},
		},
	}
	tests := []struct {
		in     string
		pass   bool
		got    string
		noData bool
	}{
		{"p99(vend_to_credit) < 200ms", true, "143ms", false},
		{"p99(vend_to_credit) < 100ms", false, "143ms", false},
		{"p50(vend_to_credit) <= 5ms", true, "5ms", false},
		{"max(vend_to_credit) == 143ms", true, "143ms", false},
		{"count(tokens_lost) == 0", true, "0", false},
		{"count(crc_error) >= 10", true, "12", false},
		{"count(crc_error) < 10", false, "12", false},
		{"count(used_error) != 0", false, "0", false},
		{"ratio(tokens_rejected) < 0.01", false, "0.015", false},
		{"ratio(tokens_rejected) < 2%", true, "0.015", false},
		{"ratio(crc_error) > 0.05", true, "0.06", false},
		{"p99(issue_to_credit) < 1s", false, "", true},
		{"count(tokens_pending) == 0", false, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r := MustParse(tt.in).Eval(src)
			if r.Pass != tt.pass || r.Got != tt.got || errors.Is(r.Err, ErrNoData) != tt.noData {
				t.Errorf("Eval = pass %v got %q err %v; want pass %v got %q no data %v",
					r.Pass, r.Got, r.Err, tt.pass, tt.got, tt.noData)
			}
		})
	}
}

func TestEvalRatioNoVends(t *testing.T) {
	src := Static{Counts: map[string]int64{"tokens_vended": 0, "tokens_lost": 0}}
	r := MustParse("ratio(tokens_lost) < 0.01").Eval(src)
	if r.Pass || !errors.Is(r.Err, ErrNoData) {
		t.Errorf("ratio with nothing vended = %+v, want no data", r)
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0ns"},
		{999, "999ns"},
		{1500, "1.5us"},
		{143 * time.Millisecond, "143ms"},
		{12345 * time.Microsecond, "12.3ms"},
		{1500 * time.Second, "1500s"},
	}
	for _, tt := range tests {
		if got := formatDuration(tt.d); got != tt.want {
			t.Errorf("formatDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestQuantile(t *testing.T) {
	var samples []time.Duration
	for i := 100; i >= 1; i-- {
		samples = append(samples, time.Duration(i))
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50}, {0.9, 90}, {0.99, 99}, {0.999, 100}, {1, 100}, {0, 1}} {
		if got, _ := Quantile(samples, tt.q); got != tt.want {
			t.Errorf("Quantile(1..100, %v) = %d, want %d", tt.q, got, tt.want)
		}
	}
	if samples[0] != 100 {
		t.Error("Quantile sorted its input")
	}
	if _, ok := Quantile(nil, 0.5); ok {
		t.Error("Quantile of no samples reported a value")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"p99(vend_to_credit) < 200ms", "count(tokens_lost) == 0",
		"ratio(tokens_rejected) < 1%", "max ( x ) >= 1", "count(crc_error)>=10", "", "(",
		"p50(vend_to_issue) != 0.000001s", "ratio(tokens_lost) < ."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		th, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Col < 1 || se.Col > len(s)+1 {
				t.Fatalf("Parse(%q) error %v: want a *SyntaxError inside the input", s, err)
			}
			return
		}
		again, err := Parse(th.String())
		if err != nil || again != th {
			t.Fatalf("Parse(%q) = %+v, reparse of %q = %+v, %v", s, th, th.String(), again, err)
		}
	})
}
