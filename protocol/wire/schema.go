package wire

import (
	"bytes"
	_ "embed" // the contract document
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// AsyncAPI is docs/asyncapi.yaml, the contract document, as embedded in the
// package: a copy refreshed by go generate, which a test checks against the
// original.
//
//go:generate cp ../../docs/asyncapi.yaml asyncapi.yaml
//go:embed asyncapi.yaml
var AsyncAPI []byte

// ErrInvalidPayload reports a payload that does not match its schema in the
// contract document.
var ErrInvalidPayload = errors.New("payload does not match the contract")

// contractURL names the document inside the schema compiler.
const contractURL = "urn:stsfleet:asyncapi"

// contract is the compiled contract: a payload schema per message of
// components.messages, and the message of each meter topic kind.
type contract struct {
	messages map[string]*jsonschema.Schema
	kinds    map[Kind]string
}

var loadContract = sync.OnceValues(func() (*contract, error) { return compileContract(AsyncAPI) })

// ValidatePayload checks data against the schema of the messages of the
// meter topic of kind k in the contract document. The error wraps
// ErrInvalidPayload and says which rule failed. It is meant for tests of
// every component that sends: validating in production would cost more
// than decoding.
func ValidatePayload(k Kind, data []byte) error {
	c, err := loadContract()
	if err != nil {
		return fmt.Errorf("validate %s payload: %w", k, err)
	}
	name, ok := c.kinds[k]
	if !ok {
		return fmt.Errorf("validate %s payload: no channel of that kind in the contract", k)
	}
	return c.validate(name, data)
}

// ValidateMessage checks data against the payload schema of the message
// named name in the contract's components.messages, such as "Telemetry".
func ValidateMessage(name string, data []byte) error {
	c, err := loadContract()
	if err != nil {
		return fmt.Errorf("validate %s payload: %w", name, err)
	}
	return c.validate(name, data)
}

func (c *contract) validate(name string, data []byte) error {
	sch, ok := c.messages[name]
	if !ok {
		return fmt.Errorf("validate %s payload: no such message in the contract", name)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("validate %s payload: %w: not JSON: %w", name, ErrInvalidPayload, err)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("validate %s payload: %w: %w", name, ErrInvalidPayload, err)
	}
	return nil
}

// asyncAPIDoc is the part of an AsyncAPI 3 document the compiler reads.
type asyncAPIDoc struct {
	Channels map[string]struct {
		Address  string                       `yaml:"address"`
		Messages map[string]map[string]string `yaml:"messages"`
	} `yaml:"channels"`
	Components struct {
		Messages map[string]yaml.Node `yaml:"messages"`
	} `yaml:"components"`
}

// compileContract compiles the payload schema of every message of the
// document. AsyncAPI 3's default schema format is a superset of JSON Schema
// draft 7; references inside the document resolve against it.
func compileContract(doc []byte) (*contract, error) {
	var shape asyncAPIDoc
	if err := yaml.Unmarshal(doc, &shape); err != nil {
		return nil, fmt.Errorf("read contract: %w", err)
	}
	var tree any
	if err := yaml.Unmarshal(doc, &tree); err != nil {
		return nil, fmt.Errorf("read contract: %w", err)
	}
	// Through JSON, so that the compiler sees JSON's types.
	text, err := json.Marshal(tree)
	if err != nil {
		return nil, fmt.Errorf("read contract: %w", err)
	}
	root, err := jsonschema.UnmarshalJSON(bytes.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("read contract: %w", err)
	}

	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft7)
	comp.AssertFormat()
	if err := comp.AddResource(contractURL, root); err != nil {
		return nil, fmt.Errorf("read contract: %w", err)
	}
	c := &contract{messages: map[string]*jsonschema.Schema{}, kinds: map[Kind]string{}}
	for name := range shape.Components.Messages {
		sch, err := comp.Compile(contractURL + "#/components/messages/" + name + "/payload")
		if err != nil {
			return nil, fmt.Errorf("compile message %s: %w", name, err)
		}
		c.messages[name] = sch
	}
	for id, ch := range shape.Channels {
		kind, ok := strings.CutPrefix(ch.Address, TopicRoot+"{drn}/")
		if !ok {
			continue
		}
		if len(ch.Messages) != 1 {
			return nil, fmt.Errorf("channel %s: %d messages, want 1", id, len(ch.Messages))
		}
		for _, ref := range ch.Messages {
			name, ok := strings.CutPrefix(ref["$ref"], "#/components/messages/")
			if !ok || c.messages[name] == nil {
				return nil, fmt.Errorf("channel %s: message %q not in components", id, ref["$ref"])
			}
			c.kinds[Kind(kind)] = name
		}
	}
	return c, nil
}
