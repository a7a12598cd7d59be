package scenarios

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// keyTypes are the key type names of a file, by value.
var keyTypes = []string{"ditk", "ddtk", "dutk", "dctk"}

func (d *decoder) step(i int, n *yaml.Node) Step {
	idx := strconv.Itoa(i)
	s := Step{Index: i, Line: n.Line}
	var kinds []string
	for _, k := range d.keys("steps", idx) {
		if slices.Contains(stepKinds, k) {
			kinds = append(kinds, k)
		}
	}
	switch len(kinds) {
	case 0:
		d.fail([]string{"steps", idx}, "no action: want one of %s", strings.Join(stepKinds, ", "))
		return s
	case 1:
	default:
		d.fail([]string{"steps", idx, kinds[1]}, "a step takes one action, this one has %s",
			strings.Join(kinds, " and "))
		return s
	}
	s.Kind = kinds[0]
	s.Name = s.Kind
	if v, ok := d.str("steps", idx, "name"); ok && v != "" {
		s.Name = v
	}
	p := []string{"steps", idx, s.Kind}
	s.Meters = d.targets(append(p, "meters"))
	d.params(&s, p)
	s.Expect = d.expect([]string{"steps", idx, "expect"})
	if s.Expect.FalseAccepts != nil && s.Kind != KindBruteForce {
		d.fail([]string{"steps", idx, "expect", "false_accepts"}, "applies to brute_force "+
			"steps only")
	}
	return s
}

// params reads the action's parameters.
func (d *decoder) params(s *Step, p []string) {
	at := func(k string) []string { return append(slices.Clone(p), k) }
	switch s.Kind {
	case KindVend:
		s.Units, _ = d.str(at("units")...)
		s.Amount, _ = d.str(at("amount")...)
		s.Currency, _ = d.str(at("currency")...)
		switch {
		case s.Units == "" && s.Amount == "":
			d.fail(p, "want units or amount")
		case s.Units != "" && s.Amount != "":
			d.fail(at("amount"), "give units or amount, not both")
		case s.Currency != "" && s.Amount == "":
			d.fail(at("currency"), "goes with amount")
		}
	case KindReplay:
		s.Token = "last"
		if v, ok := d.str(at("token")...); ok {
			s.Token = v
		}
	case KindTamper:
		s.Digit, _ = d.int(at("digit")...)
	case KindBruteForce:
		s.Tokens, _ = d.int(at("tokens")...)
		if v, ok := d.str(at("seed")...); ok {
			s.Seed, _ = strconv.ParseUint(v, 10, 64)
		}
	case KindOldTID:
		s.Age = defaultOldAge
		if v, ok := d.duration(at("age")...); ok {
			s.Age = v
		}
	case KindForge:
		s.Units = "1.0"
		if v, ok := d.str(at("units")...); ok {
			s.Units = v
		}
		s.Age, _ = d.duration(at("age")...)
		k, _ := d.str(at("key")...)
		s.PreviousKey = k == "previous"
	case KindKeyChange:
		s.KeyChange = d.keyChange(p)
	case KindSpoof:
		s.Publish = []string{"token", "result"}
		if n := d.node(at("publish")...); n != nil {
			s.Publish = nil
			for _, c := range n.Content {
				s.Publish = append(s.Publish, c.Value)
			}
		}
	case KindRestart:
		s.Down, _ = d.duration(at("down")...)
		s.Units, _ = d.str(at("units")...)
	case KindWait:
		s.Sim, _ = d.duration(at("sim")...)
		s.Wall, _ = d.duration(at("wall")...)
	}
	if s.Units != "" {
		if _, err := sts.ParseDecimal(s.Units, 1); err != nil {
			d.fail(at("units"), "%q: want a decimal with at most one place, such as 5.0",
				s.Units)
		}
	}
}

func (d *decoder) keyChange(p []string) KeyChangeSpec {
	at := func(k string) []string { return append(slices.Clone(p), k) }
	var k KeyChangeSpec
	intp := func(name string) *int {
		if v, ok := d.int(at(name)...); ok {
			return &v
		}
		return nil
	}
	if v, ok := d.str(at("sgc")...); ok {
		k.SGC = &v
	}
	k.TI, k.KRN, k.KEN, k.BaseDate = intp("ti"), intp("krn"), intp("ken"), intp("base_date")
	if v, ok := d.str(at("kt")...); ok {
		kt := slices.Index(keyTypes, v)
		k.KT = &kt
	}
	if v, ok := d.str(at("ro")...); ok {
		ro := v == "true"
		k.RO = &ro
	}
	if k.SGC == nil && k.TI == nil && k.KRN == nil && k.KT == nil && k.KEN == nil &&
		k.BaseDate == nil {
		d.fail(p, "a key change needs a new sgc, ti, krn, kt, ken or base_date")
	}
	return k
}

// targets reads a step's meters; absent means all.
func (d *decoder) targets(path []string) Targets {
	n := d.node(path...)
	if n == nil {
		return Targets{All: true}
	}
	switch {
	case n.Kind == yaml.SequenceNode:
		var t Targets
		for i, c := range n.Content {
			if !strings.HasPrefix(c.Value, "#") {
				if err := sts.ValidateDRN(c.Value); err != nil {
					d.fail(append(slices.Clone(path), strconv.Itoa(i)), "%v", err)
				}
			}
			t.Refs = append(t.Refs, c.Value)
		}
		return t
	case n.Value == "all":
		return Targets{All: true}
	case strings.HasSuffix(n.Value, "%"):
		v, _ := strconv.ParseFloat(strings.TrimSuffix(n.Value, "%"), 64)
		if v <= 0 || v > 100 {
			d.fail(path, "%s: want a percentage above 0 and at most 100", n.Value)
		}
		return Targets{Fraction: v / 100}
	case n.ShortTag() == "!!int":
		v, _ := strconv.Atoi(n.Value)
		return Targets{Count: v}
	}
	v, _ := strconv.ParseFloat(n.Value, 64)
	return Targets{Fraction: v}
}

func (d *decoder) expect(p []string) Expect {
	var e Expect
	at := func(k ...string) []string { return append(slices.Clone(p), k...) }
	for _, name := range d.keys(at("outcomes")...) {
		if c, ok := d.count(at("outcomes", name)); ok {
			e.Outcomes = append(e.Outcomes, NamedCount{Name: name, Count: c})
		}
	}
	d.credited(&e, at("credited"))
	if n := d.node(at("vendor_refusals")...); n != nil {
		if n.Kind == yaml.MappingNode {
			for _, rule := range d.keys(at("vendor_refusals")...) {
				if c, ok := d.count(at("vendor_refusals", rule)); ok {
					e.VendorRefusals = append(e.VendorRefusals, NamedCount{Name: rule, Count: c})
				}
			}
		} else if c, ok := d.count(at("vendor_refusals")); ok {
			e.VendorRefusals = append(e.VendorRefusals, NamedCount{Count: c})
		}
	}
	e.ACLRefusals = d.countp(at("acl_refusals"))
	if v, ok := d.str(at("delivered")...); ok && v == "all" {
		e.DeliveredAll = true
	} else {
		e.Delivered = d.countp(at("delivered"))
	}
	e.DoubleCredits = d.countp(at("double_credits"))
	if v, ok := d.str(at("false_accepts", "within")...); ok {
		f, _ := strconv.ParseFloat(v, 64)
		e.FalseAccepts = &f
	}
	return e
}

func (d *decoder) count(path []string) (Count, bool) {
	v, ok := d.str(path...)
	if !ok {
		return Count{}, false
	}
	c, err := parseCount(v)
	if err != nil {
		d.fail(path, "%v", err)
		return Count{}, false
	}
	return c, true
}

func (d *decoder) countp(path []string) *Count {
	if c, ok := d.count(path); ok {
		return &c
	}
	return nil
}

func (d *decoder) credited(e *Expect, path []string) {
	n := d.node(path...)
	if n == nil {
		return
	}
	c := &CreditCheck{}
	e.Credited = c
	if n.Kind == yaml.ScalarNode {
		if n.Value == "sold" {
			c.Sold = true
		} else {
			c.Each = d.decimal(path, n.Value)
		}
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i].Value, n.Content[i+1].Value
		dec := d.decimal(append(slices.Clone(path), k), v)
		switch k {
		case "each":
			c.Each = dec
		case "total":
			c.Total = dec
		default:
			c.Meters = append(c.Meters, [2]string{k, dec})
		}
	}
	if c.Each != "" && (c.Total != "" || len(c.Meters) > 0) {
		d.fail(path, "each cannot go with total or named meters")
	}
}

// decimal checks a credit decimal: up to five places, the currency scale.
func (d *decoder) decimal(path []string, v string) string {
	if _, err := sts.ParseDecimal(v, sts.CurrencyScale); err != nil {
		d.fail(path, "%q: want a decimal such as 5.0", v)
	}
	return v
}

// defaultOldAge is how long before now an old_tid token was issued: past
// the default manufacture floor of 30 days.
const defaultOldAge = 90 * 24 * time.Hour
