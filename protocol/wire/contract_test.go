package wire_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/protocol/wire"
	"gopkg.in/yaml.v3"
)

// docsPath is the contract document the package embeds a copy of.
const docsPath = "../../docs/asyncapi.yaml"

// readDoc loads docs/asyncapi.yaml as a generic tree.
func readDoc(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatalf("read the contract: %v", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("parse the contract: %v", err)
	}
	return doc
}

// at walks the tree along a JSON pointer such as
// "#/components/schemas/Status" and follows a $ref it ends on.
func at(t *testing.T, doc map[string]any, pointer string) map[string]any {
	t.Helper()
	var node any = doc
	for _, part := range strings.Split(strings.TrimPrefix(pointer, "#/"), "/") {
		m, ok := node.(map[string]any)
		if !ok {
			t.Fatalf("%s: %q is not under an object", pointer, part)
		}
		node = m[part]
	}
	m, ok := node.(map[string]any)
	if !ok {
		t.Fatalf("%s: not an object", pointer)
	}
	if ref, ok := m["$ref"].(string); ok {
		return at(t, doc, ref)
	}
	return m
}

func TestEmbeddedContractIsCurrent(t *testing.T) {
	data, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, wire.AsyncAPI) {
		t.Fatal("protocol/wire/asyncapi.yaml differs from docs/asyncapi.yaml: " +
			"run go generate ./protocol/wire")
	}
}

// payloads maps each topic kind to the Go type of its payload.
var payloads = map[wire.Kind]reflect.Type{
	wire.KindToken:     reflect.TypeFor[wire.TokenMessage](),
	wire.KindResult:    reflect.TypeFor[wire.ResultMessage](),
	wire.KindTelemetry: reflect.TypeFor[wire.Telemetry](),
	wire.KindStatus:    reflect.TypeFor[wire.Status](),
}

// channelOf returns the channel whose address is the kind's topic.
func channelOf(t *testing.T, doc map[string]any, k wire.Kind) (string, map[string]any) {
	t.Helper()
	for id, ch := range doc["channels"].(map[string]any) {
		ch := ch.(map[string]any)
		if ch["address"] == wire.Topic("{drn}", k) {
			return id, ch
		}
	}
	t.Fatalf("no channel has the address %s", wire.Topic("{drn}", k))
	return "", nil
}

// payloadSchema returns the payload schema of the kind's single message.
func payloadSchema(t *testing.T, doc map[string]any, k wire.Kind) map[string]any {
	t.Helper()
	id, ch := channelOf(t, doc, k)
	msgs := ch["messages"].(map[string]any)
	if len(msgs) != 1 {
		t.Fatalf("channel %s has %d messages, want 1", id, len(msgs))
	}
	for _, m := range msgs {
		return at(t, doc, m.(map[string]any)["$ref"].(string)+"/payload")
	}
	return nil
}

func TestEveryKindIsAChannel(t *testing.T) {
	doc := readDoc(t)
	for _, k := range wire.Kinds {
		t.Run(string(k), func(t *testing.T) {
			id, ch := channelOf(t, doc, k)
			params, _ := ch["parameters"].(map[string]any)
			if _, ok := params["drn"]; !ok {
				t.Errorf("channel %s does not declare the drn parameter", id)
			}
			if _, ok := payloads[k]; !ok {
				t.Errorf("kind %s has no Go payload type in this test", k)
			}
		})
	}
}

// goJSONFields returns the JSON names of a struct's fields and whether each
// may be left out (omitempty or omitzero).
func goJSONFields(typ reflect.Type) map[string]reflect.StructField {
	fields := map[string]reflect.StructField{}
	for f := range typ.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		fields[name] = f
	}
	return fields
}

func optional(f reflect.StructField) bool {
	_, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
	return slices.Contains(strings.Split(opts, ","), "omitempty") ||
		slices.Contains(strings.Split(opts, ","), "omitzero")
}

// jsonType is the schema type and format a Go field must have.
func jsonType(typ reflect.Type) (kind, format string) {
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	switch {
	case typ == reflect.TypeFor[time.Time]():
		return "string", "date-time"
	case typ.Kind() == reflect.String:
		return "string", ""
	case typ.Kind() == reflect.Bool:
		return "boolean", ""
	case typ.Kind() == reflect.Float64:
		return "number", ""
	case reflect.Int <= typ.Kind() && typ.Kind() <= reflect.Uint64:
		return "integer", ""
	}
	return "unknown " + typ.String(), ""
}

func TestSchemasMatchGoTypes(t *testing.T) {
	doc := readDoc(t)
	for _, k := range wire.Kinds {
		t.Run(string(k), func(t *testing.T) {
			schema := payloadSchema(t, doc, k)
			if schema["additionalProperties"] != false {
				t.Error("additionalProperties is not false; decoders refuse unknown fields")
			}
			var required []string
			for _, r := range schema["required"].([]any) {
				required = append(required, r.(string))
			}
			props := schema["properties"].(map[string]any)

			var wantRequired, wantProps []string
			for name, f := range goJSONFields(payloads[k]) {
				wantProps = append(wantProps, name)
				if !optional(f) {
					wantRequired = append(wantRequired, name)
				}
				p, ok := props[name].(map[string]any)
				if !ok {
					continue
				}
				if ref, ok := p["$ref"].(string); ok {
					p = at(t, doc, ref)
				}
				kind, format := jsonType(f.Type)
				if p["type"] != kind || (format != "" && p["format"] != format) {
					t.Errorf("property %s: type %v format %v, want %s %s (Go %s)",
						name, p["type"], p["format"], kind, format, f.Type)
				}
			}
			var gotProps []string
			for name := range props {
				gotProps = append(gotProps, name)
			}
			sorted := cmp.Transformer("sort", func(s []string) []string {
				return slices.Sorted(slices.Values(s))
			})
			if diff := cmp.Diff(wantProps, gotProps, sorted); diff != "" {
				t.Errorf("properties (-Go +schema):\n%s", diff)
			}
			if diff := cmp.Diff(wantRequired, required, sorted); diff != "" {
				t.Errorf("required (-Go +schema):\n%s", diff)
			}
		})
	}
}

func enumOf(t *testing.T, schema map[string]any) []string {
	t.Helper()
	var out []string
	for _, v := range schema["enum"].([]any) {
		out = append(out, v.(string))
	}
	return out
}

func TestEnumsMatchGo(t *testing.T) {
	doc := readDoc(t)
	var outcomes []string
	for _, o := range sts.Outcomes() {
		outcomes = append(outcomes, o.String())
	}
	telemetry := func(field string) map[string]any {
		return at(t, doc, "#/components/schemas/Telemetry/properties/"+field)
	}
	tests := []struct {
		name   string
		schema map[string]any
		want   []string
	}{
		{"outcome", at(t, doc, "#/components/schemas/ResultMessage/properties/outcome"), outcomes},
		{"relay", telemetry("relay"), wire.Relays},
		{"relay_reason", telemetry("relay_reason"), wire.RelayReasons},
		{"utility", telemetry("utility"), wire.Utilities},
		{"unit", telemetry("unit"), wire.RegisterUnits},
		{"state", at(t, doc, "#/components/schemas/Status/properties/state"), wire.States},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, enumOf(t, tt.schema)); diff != "" {
				t.Errorf("enum (-Go +schema):\n%s", diff)
			}
		})
	}
}

func TestOperations(t *testing.T) {
	doc := readDoc(t)
	tests := []struct {
		kind     wire.Kind
		qos      int
		retained bool
	}{
		{wire.KindToken, 1, false},
		{wire.KindResult, 1, false},
		{wire.KindTelemetry, 0, false},
		{wire.KindStatus, 1, true},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			id, _ := channelOf(t, doc, tt.kind)
			var sends, receives int
			for name, op := range doc["operations"].(map[string]any) {
				op := op.(map[string]any)
				if op["channel"].(map[string]any)["$ref"] != "#/channels/"+id {
					continue
				}
				mqtt := op["bindings"].(map[string]any)["mqtt"].(map[string]any)
				switch op["action"] {
				case "send":
					sends++
					if mqtt["qos"] != tt.qos || mqtt["retain"] != tt.retained {
						t.Errorf("%s: qos %v retain %v, want %d %v",
							name, mqtt["qos"], mqtt["retain"], tt.qos, tt.retained)
					}
				case "receive":
					receives++
				}
			}
			if sends != 1 || receives == 0 {
				t.Errorf("%d send and %d receive operations, want 1 and some", sends, receives)
			}
		})
	}
}

func TestLastWill(t *testing.T) {
	doc := readDoc(t)
	will := at(t, doc, "#/servers/broker/bindings/mqtt/lastWill")
	want := map[string]any{
		"topic":   wire.Topic("{drn}", wire.KindStatus),
		"qos":     1,
		"message": string(wire.OfflineWill),
		"retain":  true,
	}
	if diff := cmp.Diff(want, will); diff != "" {
		t.Errorf("last will (-want +doc):\n%s", diff)
	}
	if err := wire.ValidatePayload(wire.KindStatus, wire.OfflineWill); err != nil {
		t.Errorf("the offline will: %v", err)
	}
}

// TestExamples validates every example of the document, and decodes it.
func TestExamples(t *testing.T) {
	doc := readDoc(t)
	decoders := map[string]func([]byte) error{
		"Token":     func(b []byte) error { _, err := wire.DecodeToken(b); return err },
		"Result":    func(b []byte) error { _, err := wire.DecodeResult(b); return err },
		"Telemetry": func(b []byte) error { _, err := wire.DecodeTelemetry(b); return err },
		"Status":    func(b []byte) error { var s wire.Status; return wire.Decode(b, &s) },
		"VendEvent": func(b []byte) error { _, err := wire.DecodeVend(b); return err },
	}
	for name, m := range doc["components"].(map[string]any)["messages"].(map[string]any) {
		examples, _ := m.(map[string]any)["examples"].([]any)
		if len(examples) == 0 {
			t.Errorf("message %s has no example", name)
		}
		for _, ex := range examples {
			ex := ex.(map[string]any)
			t.Run(name+"/"+ex["name"].(string), func(t *testing.T) {
				data, err := json.Marshal(ex["payload"])
				if err != nil {
					t.Fatal(err)
				}
				if err := wire.ValidateMessage(name, data); err != nil {
					t.Error(err)
				}
				if dec := decoders[name]; dec == nil {
					t.Errorf("no decoder for %s in this test", name)
				} else if err := dec(data); err != nil {
					t.Errorf("decode: %v", err)
				}
			})
		}
	}
}

func intp(v int) *int { return &v }

var (
	wall = time.Date(2026, 12, 4, 8, 0, 0, 125_000_000, time.UTC)
	sim  = time.Date(2026, 12, 10, 6, 30, 0, 0, time.UTC)
)

// validSamples are payloads as the product's senders marshal them.
var validSamples = []struct {
	name string
	kind wire.Kind
	v    any
}{
	{"token", wire.KindToken, wire.TokenMessage{VendID: "v-1",
		Token: "56672741387431289470", Attempt: 1, IssuedAt: wall, SimTime: sim}},
	{"token redelivered", wire.KindToken, wire.TokenMessage{VendID: "v-1",
		Token: "56672741387431289470", Attempt: 3, IssuedAt: wall, SimTime: sim}},
	{"result accepted", wire.KindResult, wire.ResultMessage{VendID: "v-1",
		Token: "56672741387431289470", Outcome: sts.Accept.String(), Class: intp(0),
		SubClass: intp(0), Credited: "25.4", Unit: wire.UnitKWh, SimTime: sim, SentAt: wall}},
	{"result keypad crc error", wire.KindResult, wire.ResultMessage{
		Token: "12345678901234567890", Outcome: sts.CRCError.String(), Credited: "0",
		Unit: wire.UnitM3, SimTime: sim, SentAt: wall}},
	{"result format error", wire.KindResult, wire.ResultMessage{Token: "123",
		Outcome: sts.FormatError.String(), Credited: "0", Unit: "KES", SimTime: sim,
		SentAt: wall}},
	{"telemetry closed", wire.KindTelemetry, wire.Telemetry{DRN: "04000000010",
		Utility: wire.UtilityElectricity, Unit: wire.UnitKWh, Seq: 1, Credited: "100",
		Consumed: "61.25", Cleared: "0", Remaining: "38.75", Relay: wire.RelayClosed,
		LoadW: 850.5, SimTime: sim, SentAt: wall}},
	{"telemetry open final", wire.KindTelemetry, wire.Telemetry{DRN: "0400000000101",
		Utility: wire.UtilityWater, Unit: wire.UnitM3, Seq: 1 << 40, Credited: "3.5",
		Consumed: "3.5", Cleared: "0", Remaining: "0", Relay: wire.RelayOpen,
		RelayReason: wire.RelayReasonNoCredit, Tamper: true, Final: true, SimTime: sim,
		SentAt: wall}},
	{"status online", wire.KindStatus, wire.Status{State: wire.StateOnline, At: wall}},
	{"status will", wire.KindStatus, wire.Status{State: wire.StateOffline}},
}

func TestValidPayloads(t *testing.T) {
	for _, tt := range validSamples {
		t.Run(tt.name, func(t *testing.T) {
			data, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if err := wire.ValidatePayload(tt.kind, data); err != nil {
				t.Errorf("%s: %v", data, err)
			}
		})
	}
}

func TestInvalidPayloads(t *testing.T) {
	const token = `"vend_id":"v","token":"56672741387431289470","attempt":1,` +
		`"issued_at":"2026-12-04T08:00:00Z","sim_time":"2026-12-10T06:30:00Z"`
	const result = `"token":"1","outcome":"accept","credited":"1","unit":"kWh",` +
		`"sim_time":"2026-12-10T06:30:00Z","sent_at":"2026-12-04T08:00:00Z"`
	const telemetry = `"drn":"04000000010","utility":"gas","unit":"m3","seq":1,` +
		`"credited":"1","consumed":"1","cleared":"0","remaining":"0","load_w":0,` +
		`"tamper":false,"sim_time":"2026-12-10T06:30:00Z","sent_at":"2026-12-04T08:00:00Z"`
	tests := []struct {
		name string
		kind wire.Kind
		data string
	}{
		{"not JSON", wire.KindStatus, `{"state":`},
		{"not an object", wire.KindStatus, `["online"]`},
		{"unknown state", wire.KindStatus, `{"state":"asleep"}`},
		{"state missing", wire.KindStatus, `{}`},
		{"unknown field", wire.KindStatus, `{"state":"online","why":"x"}`},
		{"bad time", wire.KindStatus, `{"state":"online","at":"2026-12-04 08:00"}`},
		{"token of 19 digits", wire.KindToken, `{` + strings.Replace(token,
			`"56672741387431289470"`, `"5667274138743128947"`, 1) + `}`},
		{"token with letters", wire.KindToken, `{` + strings.Replace(token,
			`"56672741387431289470"`, `"5667274138743128947x"`, 1) + `}`},
		{"attempt 0", wire.KindToken, `{` + strings.Replace(token, `"attempt":1`,
			`"attempt":0`, 1) + `}`},
		{"attempt as text", wire.KindToken, `{` + strings.Replace(token, `"attempt":1`,
			`"attempt":"1"`, 1) + `}`},
		{"empty vend id", wire.KindToken, `{` + strings.Replace(token, `"vend_id":"v"`,
			`"vend_id":""`, 1) + `}`},
		{"unknown outcome", wire.KindResult, `{` + strings.Replace(result, `"accept"`,
			`"accepted"`, 1) + `}`},
		{"negative credit", wire.KindResult, `{` + strings.Replace(result, `"credited":"1"`,
			`"credited":"-1"`, 1) + `}`},
		{"credit as number", wire.KindResult, `{` + strings.Replace(result, `"credited":"1"`,
			`"credited":1`, 1) + `}`},
		{"class 4", wire.KindResult, `{` + result + `,"class":4}`},
		{"unknown unit", wire.KindResult, `{` + strings.Replace(result, `"kWh"`,
			`"Wh"`, 1) + `}`},
		{"relay missing", wire.KindTelemetry, `{` + telemetry + `}`},
		{"relay half open", wire.KindTelemetry, `{` + telemetry + `,"relay":"ajar"}`},
		{"reason while closed", wire.KindTelemetry, `{` + telemetry +
			`,"relay":"closed","relay_reason":"tamper"}`},
		{"drn of 12 digits", wire.KindTelemetry, `{` + strings.Replace(telemetry,
			`"04000000010"`, `"040000000101"`, 1) + `,"relay":"open"}`},
		{"negative load", wire.KindTelemetry, `{` + strings.Replace(telemetry,
			`"load_w":0`, `"load_w":-1`, 1) + `,"relay":"open"}`},
		{"negative seq", wire.KindTelemetry, `{` + strings.Replace(telemetry,
			`"seq":1`, `"seq":-1`, 1) + `,"relay":"open"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := wire.ValidatePayload(tt.kind, []byte(tt.data))
			if !errors.Is(err, wire.ErrInvalidPayload) {
				t.Errorf("%s: %v, want %v", tt.data, err, wire.ErrInvalidPayload)
			}
		})
	}
	// The same base payloads, completed, are valid: the cases above fail
	// for the change they make.
	for kind, data := range map[wire.Kind]string{
		wire.KindToken:     `{` + token + `}`,
		wire.KindResult:    `{` + result + `}`,
		wire.KindTelemetry: `{` + telemetry + `,"relay":"open"}`,
	} {
		if err := wire.ValidatePayload(kind, []byte(data)); err != nil {
			t.Errorf("base %s payload: %v", kind, err)
		}
	}
}

func TestValidateUnknown(t *testing.T) {
	if err := wire.ValidatePayload("bogus", []byte(`{}`)); err == nil {
		t.Error("ValidatePayload accepted an unknown kind")
	}
	if err := wire.ValidateMessage("Bogus", []byte(`{}`)); err == nil {
		t.Error("ValidateMessage accepted an unknown message")
	}
}
