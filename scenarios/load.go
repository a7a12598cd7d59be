package scenarios

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stsfleet/stsfleet/meter"
	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/scenarios/threshold"
)

// maxFileSize bounds a scenario file.
const maxFileSize = 1 << 20

// LoadFile reads and validates a scenario file. Errors about the file's
// content are [*InvalidError] values naming the line and field.
func LoadFile(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load scenario: %w", err)
	}
	return Parse(filepath.Base(path), data)
}

// Parse validates a scenario document against [Schema], then checks what
// the schema cannot say (exactly one action per step, thresholds, meter
// references), and returns the scenario. file names the document in
// errors. Errors are [*InvalidError] values.
func Parse(file string, data []byte) (*Scenario, error) {
	inv := &InvalidError{File: file}
	if len(data) > maxFileSize {
		inv.Problems = []Problem{{Msg: fmt.Sprintf("file larger than %d bytes", maxFileSize)}}
		return nil, inv
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		inv.Problems = []Problem{yamlProblem(err)}
		return nil, inv
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		inv.Problems = []Problem{{Line: 1, Column: 1, Msg: "empty file: want a scenario"}}
		return nil, inv
	}
	problems, err := validateSchema(&doc)
	if err != nil {
		return nil, fmt.Errorf("parse scenario %s: %w", file, err)
	}
	if len(problems) > 0 {
		inv.Problems = problems
		return nil, inv
	}
	d := &decoder{doc: &doc}
	s := d.scenario()
	if len(d.problems) > 0 {
		inv.Problems = d.problems[:min(len(d.problems), maxProblems)]
		return nil, inv
	}
	s.File = file
	return s, nil
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// yamlProblem turns a YAML syntax error into a problem with its line.
func yamlProblem(err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	p := Problem{Line: 1, Column: 1, Msg: "not YAML: " + msg}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
	}
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		p.Msg = te.Errors[0]
	}
	return p
}

// decoder turns a schema-valid document into a Scenario, collecting the
// problems the schema cannot see.
type decoder struct {
	doc      *yaml.Node
	problems []Problem
}

func (d *decoder) fail(path []string, format string, args ...any) {
	d.problems = append(d.problems, problemAt(d.doc, path, fmt.Sprintf(format, args...)))
}

// node returns the node at path, or nil.
func (d *decoder) node(path ...string) *yaml.Node {
	n := d.doc.Content[0]
	for _, seg := range path {
		if n = child(n, seg); n == nil {
			return nil
		}
		n = resolveAlias(n)
	}
	return n
}

func (d *decoder) str(path ...string) (string, bool) {
	n := d.node(path...)
	if n == nil {
		return "", false
	}
	return n.Value, true
}

func (d *decoder) int(path ...string) (int, bool) {
	s, ok := d.str(path...)
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
	if err != nil {
		d.fail(path, "%q: want a whole number", s)
		return 0, false
	}
	return v, true
}

func (d *decoder) duration(path ...string) (time.Duration, bool) {
	s, ok := d.str(path...)
	if !ok {
		return 0, false
	}
	v, err := parseDuration(s)
	if err != nil {
		d.fail(path, "%v", err)
		return 0, false
	}
	return v, true
}

// weights reads a map of names to weights, in file order.
func (d *decoder) weights(path ...string) map[string]int {
	n := d.node(path...)
	if n == nil {
		return nil
	}
	out := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		if v, ok := d.int(append(path, k)...); ok {
			out[k] = v
		}
	}
	return out
}

// keys returns the keys of the mapping at path, in file order.
func (d *decoder) keys(path ...string) []string {
	n := d.node(path...)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	var out []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, n.Content[i].Value)
	}
	return out
}

func (d *decoder) scenario() *Scenario {
	s := &Scenario{Speed: DefaultSpeed, Timeout: DefaultTimeout}
	s.Name, _ = d.str("name")
	s.Description, _ = d.str("description")
	if v, ok := d.str("speed"); ok {
		s.Speed, _ = strconv.ParseFloat(v, 64)
	}
	if v, ok := d.duration("timeout"); ok {
		s.Timeout = v
	}
	s.Fleet = d.fleet()
	if n := d.node("thresholds"); n != nil {
		for i := range n.Content {
			s.Thresholds = append(s.Thresholds, d.threshold(i, n.Content[i])...)
		}
	}
	steps := d.node("steps")
	for i := range steps.Content {
		s.Steps = append(s.Steps, d.step(i, steps.Content[i]))
	}
	return s
}

// threshold parses one expression and points a syntax error at its
// column within the file.
func (d *decoder) threshold(i int, n *yaml.Node) []threshold.Threshold {
	t, err := threshold.Parse(n.Value)
	if err == nil {
		return []threshold.Threshold{t}
	}
	p := Problem{Line: n.Line, Column: n.Column, Field: fmt.Sprintf("thresholds[%d]", i),
		Msg: err.Error()}
	var se *threshold.SyntaxError
	if errors.As(err, &se) {
		p.Msg = fmt.Sprintf("column %d of %q: %s", se.Col, n.Value, se.Msg)
		if n.Style == 0 || n.Style == yaml.FlowStyle {
			p.Column = n.Column + se.Col - 1
		} else if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 &&
			!strings.ContainsAny(n.Value, "\\'\"") {
			p.Column = n.Column + se.Col
		}
	}
	d.problems = append(d.problems, p)
	return nil
}

func (d *decoder) fleet() FleetSpec {
	f := FleetSpec{Seed: DefaultSeed, KEN: 255, BaseDate: sts.DefaultBaseDate,
		Start: DefaultStart, Load: meter.LoadProfile}
	f.Meters, _ = d.int("fleet", "meters")
	f.Mix = d.weights("fleet", "mix")
	f.Profiles = d.weights("fleet", "profiles")
	f.KeyTypes = d.weights("fleet", "key_types")
	for _, w := range []struct {
		name string
		m    map[string]int
	}{{"mix", f.Mix}, {"profiles", f.Profiles}, {"key_types", f.KeyTypes}} {
		if w.m != nil && sum(w.m) == 0 {
			d.fail([]string{"fleet", w.name}, "weights add up to 0: give one a positive weight")
		}
	}
	if v, ok := d.str("fleet", "seed"); ok {
		f.Seed, _ = strconv.ParseUint(v, 10, 64)
	}
	if v, ok := d.int("fleet", "ken"); ok {
		f.KEN = uint8(v)
	}
	if v, ok := d.str("fleet", "base_date"); ok {
		f.BaseDate, _ = sts.ParseBaseDate(v)
	}
	if v, ok := d.str("fleet", "start"); ok {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			d.fail([]string{"fleet", "start"}, "%q: want RFC 3339, such as "+
				"2026-03-02T08:00:00Z", v)
		}
		f.Start = t.UTC()
	}
	if _, err := sts.TIDAt(f.Start, f.BaseDate); err != nil {
		d.fail([]string{"fleet", "start"}, "no TID of base date %s at the start: %v",
			f.BaseDate, err)
	}
	if v, ok := d.str("fleet", "tariff", "price"); ok {
		f.FlatPrice = v
		f.Currency = "KES"
		if c, ok := d.str("fleet", "tariff", "currency"); ok {
			f.Currency = c
		}
	}
	f.TIDMemory, _ = d.int("fleet", "tid_memory")
	if v, ok := d.int("fleet", "lockout", "attempts"); ok {
		f.Lockout.Attempts = v
		f.Lockout.Period, _ = d.duration("fleet", "lockout", "period")
	}
	if v, ok := d.str("fleet", "load"); ok {
		var k meter.LoadKind
		if err := k.UnmarshalText([]byte(v)); err == nil {
			f.Load = k
		}
	}
	return f
}

func sum(m map[string]int) int {
	t := 0
	for _, v := range m {
		t += v
	}
	return t
}
