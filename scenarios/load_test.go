package scenarios

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const validHead = "name: t\ndescription: d\nfleet: {meters: 4}\n"

func TestParseValid(t *testing.T) {
	doc := validHead + `speed: 120
timeout: 2s
thresholds: ["count(tokens_lost) == 0", "p99(vend_to_credit) < 200ms"]
steps:
  - name: buy
    vend: {meters: 50%, units: 5.0}
    expect:
      outcomes: {accept: 2, crc_error: ">= 1"}
      credited: {each: "5.0"}
      vendor_refusals: 0
  - brute_force: {meters: ["#0"], tokens: 10, seed: 3}
    expect: {false_accepts: {within: 5}}
  - key_change: {meters: 1, ti: 2, krn: 2, kt: dutk, ro: false}
  - wait: {sim: 1d2h}
`
	s, err := Parse("t.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if s.Speed != 120 || s.Timeout != 2*time.Second || len(s.Thresholds) != 2 ||
		len(s.Steps) != 4 {
		t.Fatalf("scenario = %+v", s)
	}
	st := s.Steps[0]
	if st.Name != "buy" || st.Kind != KindVend || st.Units != "5.0" || st.Meters.Fraction != 0.5 {
		t.Errorf("step 0 = %+v", st)
	}
	wantOutcomes := []NamedCount{{Name: "accept", Count: Count{Op: 4, N: 2}},
		{Name: "crc_error", Count: Count{Op: 3, N: 1}}}
	if diff := cmp.Diff(wantOutcomes, st.Expect.Outcomes); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if s.Steps[1].Meters.Refs[0] != "#0" || s.Steps[1].Tokens != 10 ||
		*s.Steps[1].Expect.FalseAccepts != 5 {
		t.Errorf("step 1 = %+v", s.Steps[1])
	}
	kc := s.Steps[2].KeyChange
	if *kc.TI != 2 || *kc.KRN != 2 || *kc.KT != 2 || *kc.RO || kc.SGC != nil {
		t.Errorf("key change = %+v", kc)
	}
	if s.Steps[3].Sim != 26*time.Hour {
		t.Errorf("wait = %v", s.Steps[3].Sim)
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name, doc string
		line, col int
		field     string
		msg       string
	}{
		{"empty", "", 1, 1, "", "empty file"},
		{"not yaml", "name: [\n", 1, 1, "", "not YAML"},
		{"missing steps", validHead, 1, 1, "", `missing required field "steps"`},
		{"unknown top field", validHead + "stepz: []\nsteps: [{wait: {sim: 1m}}]\n", 4, 1,
			"stepz", `unknown field "stepz"`},
		{"bad name", "name: Bad Name\ndescription: d\nfleet: {meters: 1}\nsteps: [{wait: {sim: 1m}}]\n",
			1, 7, "name", "does not match pattern"},
		{"meters type", "name: t\ndescription: d\nfleet:\n  meters: \"4\"\nsteps: [{wait: {sim: 1m}}]\n",
			4, 11, "fleet.meters", "want integer"},
		{"no action", validHead + "steps:\n  - name: nothing\n", 5, 5, "steps[0]", "no action"},
		{"two actions", validHead + "steps:\n  - wait: {sim: 1m}\n    replay: {}\n", 6, 13,
			"steps[0].replay", "one action"},
		{"bad outcome", validHead + "steps:\n  - replay: {}\n    expect:\n      outcomes: {acept: 1}\n",
			7, 18, "steps[0].expect.outcomes", "acept"},
		{"vend without amount", validHead + "steps:\n  - vend: {meters: all}\n", 5, 11,
			"steps[0].vend", "want units or amount"},
		{"bad drn", validHead + "steps:\n  - replay: {meters: [\"12345678901\"]}\n", 5, 23,
			"steps[0].replay.meters[0]", "check digit"},
		{"threshold", validHead + "thresholds:\n  - count(tokens) == 0\nsteps: [{wait: {sim: 1m}}]\n",
			5, 11, "thresholds[0]", `unknown count "tokens"`},
		{"bad duration", validHead + "steps:\n  - wait: {sim: 5 minutes}\n", 5, 17,
			"steps[0].wait.sim", "does not match pattern"},
		{"false accepts elsewhere", validHead + "steps:\n  - replay: {}\n    expect: {false_accepts: {within: 1}}\n",
			6, 29, "steps[0].expect.false_accepts", "brute_force"},
		{"start before base", "name: t\ndescription: d\nfleet: {meters: 1, start: \"2010-01-01T00:00:00Z\"}\n" +
			"steps: [{wait: {sim: 1m}}]\n", 3, 27, "fleet.start", "before base date"},
		{"percent", validHead + "steps:\n  - replay: {meters: 150%}\n", 5, 22,
			"steps[0].replay.meters", "at most 100"},
		{"duplicate key", validHead + "steps: [{wait: {sim: 1m}}]\nsteps: []\n", 1, 1, "",
			"given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tt.doc))
			var inv *InvalidError
			if !errors.As(err, &inv) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse error = %v, want an *InvalidError", err)
			}
			p := inv.Problems[0]
			if p.Line != tt.line || p.Column != tt.col || p.Field != tt.field ||
				!strings.Contains(p.Msg, tt.msg) {
				t.Errorf("problem = %d:%d %q %q, want %d:%d %q containing %q", p.Line,
					p.Column, p.Field, p.Msg, tt.line, tt.col, tt.field, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "t.yaml:") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestTargets(t *testing.T) {
	drns := []string{"47000000001", "47000000002", "47000000003", "47000000004"}
	tests := []struct {
		name string
		t    Targets
		want []int
		err  bool
	}{
		{"all", Targets{All: true}, []int{0, 1, 2, 3}, false},
		{"count", Targets{Count: 2}, []int{0, 1}, false},
		{"too many", Targets{Count: 5}, nil, true},
		{"fraction rounds up", Targets{Fraction: 0.3}, []int{0, 1}, false},
		{"tiny fraction", Targets{Fraction: 0.01}, []int{0}, false},
		{"refs", Targets{Refs: []string{"#3", "47000000002"}}, []int{3, 1}, false},
		{"index out of range", Targets{Refs: []string{"#4"}}, nil, true},
		{"unknown drn", Targets{Refs: []string{"47000000009"}}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.t.Resolve(drns)
			if (err != nil) != tt.err {
				t.Fatalf("Resolve error = %v, want error %v", err, tt.err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Resolve (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseCountAndDuration(t *testing.T) {
	for in, want := range map[string]string{"4": "== 4", ">= 10": ">= 10", "<3": "< 3",
		"!= 0": "!= 0"} {
		c, err := parseCount(in)
		if err != nil || c.String() != want {
			t.Errorf("parseCount(%q) = %v, %v; want %s", in, c, err, want)
		}
	}
	if _, err := parseCount("=> 3"); err == nil {
		t.Error("parseCount accepted =>")
	}
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour,
		"1d12h": 36 * time.Hour, "31m": 31 * time.Minute, "250ms": 250 * time.Millisecond} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseDuration("5"); err == nil {
		t.Error("parseDuration accepted a number without unit")
	}
}

func TestShippedParse(t *testing.T) {
	all, err := Shipped()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 15 {
		t.Errorf("%d shipped scenarios, want at least 15", len(all))
	}
	for _, s := range all {
		if s.File != s.Name+".yaml" {
			t.Errorf("scenario %s is in %s", s.Name, s.File)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(validHead + "steps: [{wait: {sim: 1m}}]\n"))
	f.Add([]byte(validHead + "steps:\n  - vend: {units: 5.0}\n    expect: {outcomes: {accept: 4}}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("- - - -\n"))
	f.Add([]byte(validHead + "thresholds: [\"ratio(tokens_lost) < 1%\"]\nsteps: [{replay: {meters: 0.5}}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("f.yaml", data)
		if err != nil {
			var inv *InvalidError
			if !errors.As(err, &inv) || len(inv.Problems) == 0 {
				t.Fatalf("Parse error %v: want an *InvalidError with problems", err)
			}
			return
		}
		if len(s.Steps) == 0 || s.Fleet.Meters < 1 {
			t.Fatalf("Parse accepted %+v", s)
		}
	})
}
