package scenarios

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"gopkg.in/yaml.v3"
)

// Schema is the JSON Schema of the scenario format (draft 2020-12). Every
// file is validated against it before anything starts.
//
//go:embed schema.json
var Schema []byte

const schemaURL = "https://stsfleet.invalid/schemas/scenario.json"

var compiledSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema))
	if err != nil {
		return nil, fmt.Errorf("scenario schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("scenario schema: %w", err)
	}
	return c.Compile(schemaURL)
})

// ErrInvalid reports a scenario file that cannot run. Load's errors are
// [*InvalidError] values wrapping it.
var ErrInvalid = errors.New("invalid scenario")

// Problem is one fault in a scenario file, with where it is.
type Problem struct {
	// Line and Column are 1-based; 0 when the fault has no place, such
	// as an empty file.
	Line, Column int
	// Field is the path of the field at fault, such as
	// "steps[2].vend.units"; empty for the document itself.
	Field string
	// Msg says what is wrong.
	Msg string
}

// InvalidError lists the problems of a scenario file.
type InvalidError struct {
	File     string
	Problems []Problem
}

func (e *InvalidError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s:%d:%d: ", e.File, p.Line, p.Column)
		if p.Field != "" {
			b.WriteString(p.Field + ": ")
		}
		b.WriteString(p.Msg)
	}
	return b.String()
}

// Unwrap returns [ErrInvalid].
func (e *InvalidError) Unwrap() error { return ErrInvalid }

// maxProblems bounds the problems reported for one file.
const maxProblems = 10

// validateSchema checks the document against [Schema] and maps each fault
// to the line of the YAML node it concerns.
func validateSchema(doc *yaml.Node) ([]Problem, error) {
	sch, err := compiledSchema()
	if err != nil {
		return nil, err
	}
	inst, err := jsonValue(doc)
	if err != nil {
		return []Problem{problemAt(doc, nil, err.Error())}, nil
	}
	err = sch.Validate(inst)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil, err
	}
	var leaves []*jsonschema.ValidationError
	collectLeaves(ve, &leaves)
	printer := message.NewPrinter(language.English)
	var out []Problem
	for _, l := range leaves {
		out = append(out, leafProblem(doc, l, printer))
	}
	slices.SortStableFunc(out, func(a, b Problem) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	out = slices.CompactFunc(out, func(a, b Problem) bool { return a == b })
	return out[:min(len(out), maxProblems)], nil
}

// collectLeaves gathers the innermost errors: those that say what is
// wrong rather than which branch failed.
func collectLeaves(e *jsonschema.ValidationError, out *[]*jsonschema.ValidationError) {
	// A property name's error is about the key: its causes are located
	// in the name, not in the document.
	if _, names := e.ErrorKind.(*kind.PropertyNames); names || len(e.Causes) == 0 {
		*out = append(*out, e)
		return
	}
	for _, c := range e.Causes {
		collectLeaves(c, out)
	}
}

func leafProblem(doc *yaml.Node, e *jsonschema.ValidationError, p *message.Printer) Problem {
	path := e.InstanceLocation
	msg := e.ErrorKind.LocalizedString(p)
	switch k := e.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		// Point at the first unknown key itself.
		if len(k.Properties) > 0 {
			pr := problemAt(doc, append(slices.Clone(path), k.Properties[0]), "")
			pr.Msg = fmt.Sprintf("unknown field %q", k.Properties[0])
			if len(k.Properties) > 1 {
				pr.Msg += fmt.Sprintf(" (and %d more)", len(k.Properties)-1)
			}
			pr.Line, pr.Column = keyPosition(doc, path, k.Properties[0])
			return pr
		}
	case *kind.Required:
		msg = "missing required field " + quoteAll(k.Missing)
	case *kind.PropertyNames:
		pr := problemAt(doc, path, fmt.Sprintf("%q is not allowed here", k.Property))
		var leaves []*jsonschema.ValidationError
		for _, c := range e.Causes {
			collectLeaves(c, &leaves)
		}
		if len(leaves) > 0 {
			pr.Msg += ": " + leaves[0].ErrorKind.LocalizedString(p)
		}
		// The error's instance location is not reliable for property
		// names: find the key in the document instead.
		if kpath, ok := findKey(doc, k.Property); ok {
			pr.Field = fieldName(kpath[:len(kpath)-1])
			pr.Line, pr.Column = keyPosition(doc, kpath[:len(kpath)-1], k.Property)
		}
		return pr
	}
	return problemAt(doc, path, msg)
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

// problemAt makes a problem about the node at path.
func problemAt(doc *yaml.Node, path []string, msg string) Problem {
	n := lookup(doc, path)
	pr := Problem{Field: fieldName(path), Msg: msg}
	if n != nil {
		pr.Line, pr.Column = n.Line, n.Column
	}
	return pr
}

// fieldName writes a path as steps[2].vend.units.
func fieldName(path []string) string {
	var b strings.Builder
	for _, seg := range path {
		if _, err := strconv.Atoi(seg); err == nil {
			b.WriteString("[" + seg + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteString(".")
		}
		b.WriteString(seg)
	}
	return b.String()
}

// lookup follows a JSON pointer's segments through a YAML document and
// returns the deepest node it reaches: the node at path, or the closest
// parent that exists.
func lookup(doc *yaml.Node, path []string) *yaml.Node {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, seg := range path {
		next := child(n, seg)
		if next == nil {
			return n
		}
		n = next
	}
	return n
}

func child(n *yaml.Node, seg string) *yaml.Node {
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == seg {
				return n.Content[i+1]
			}
		}
	case yaml.SequenceNode:
		i, err := strconv.Atoi(seg)
		if err == nil && i >= 0 && i < len(n.Content) {
			return n.Content[i]
		}
	}
	return nil
}

// findKey returns the path of the first mapping key with this name, in
// document order.
func findKey(doc *yaml.Node, name string) ([]string, bool) {
	var walk func(n *yaml.Node, path []string, depth int) ([]string, bool)
	walk = func(n *yaml.Node, path []string, depth int) ([]string, bool) {
		if depth > maxDepth {
			return nil, false
		}
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				if p, ok := walk(c, path, depth+1); ok {
					return p, true
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				p := append(slices.Clone(path), k)
				if k == name {
					return p, true
				}
				if q, ok := walk(n.Content[i+1], p, depth+1); ok {
					return q, true
				}
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				if p, ok := walk(c, append(slices.Clone(path), strconv.Itoa(i)), depth+1); ok {
					return p, true
				}
			}
		}
		return nil, false
	}
	return walk(doc, nil, 0)
}

// keyPosition returns the line and column of a key of the mapping at path.
func keyPosition(doc *yaml.Node, path []string, key string) (int, int) {
	m := resolveAlias(lookup(doc, path))
	if m.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == key {
				return m.Content[i].Line, m.Content[i].Column
			}
		}
	}
	return m.Line, m.Column
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// maxDepth bounds the nesting of a document, against hostile input.
const maxDepth = 64

// jsonValue converts a YAML document to the values encoding/json would
// produce, so that the schema sees what the file says: numbers keep their
// literal digits, timestamps stay strings.
func jsonValue(doc *yaml.Node) (any, error) {
	n := doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil, errors.New("empty document")
		}
		n = n.Content[0]
	}
	budget := maxNodes
	return convert(n, 0, &budget)
}

// maxNodes bounds the values a document expands to, aliases included, so
// that a file of nested aliases cannot take the memory of the machine.
const maxNodes = 200_000

func convert(n *yaml.Node, depth int, budget *int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("line %d: nested deeper than %d levels", n.Line, maxDepth)
	}
	if *budget--; *budget < 0 {
		return nil, fmt.Errorf("line %d: the document expands to more than %d values",
			n.Line, maxNodes)
	}
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a key must be a plain name", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: field %q given twice", k.Line, k.Value)
			}
			v, err := convert(n.Content[i+1], depth+1, budget)
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := convert(c, depth+1, budget)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		return scalar(n), nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

func scalar(n *yaml.Node) any {
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		var b bool
		if n.Decode(&b) == nil {
			return b
		}
	case "!!int", "!!float":
		v := strings.ReplaceAll(n.Value, "_", "")
		if _, err := strconv.ParseFloat(v, 64); err == nil {
			return json.Number(v)
		}
		var i int64
		if n.Decode(&i) == nil {
			return json.Number(strconv.FormatInt(i, 10))
		}
	}
	return n.Value
}
