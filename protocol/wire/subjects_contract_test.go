package wire

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// contractDoc returns the embedded contract as plain maps.
func contractDoc(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(AsyncAPI, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func mapAt(t *testing.T, v any, path ...string) map[string]any {
	t.Helper()
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("contract: %s is not an object", strings.Join(path, "."))
		}
		v = m[p]
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("contract: no object at %s", strings.Join(path, "."))
	}
	return m
}

// natsMessages maps every NATS channel to its message in components.
var natsMessages = map[Channel]string{
	ChannelResult:    "Result",
	ChannelTelemetry: "Telemetry",
	ChannelFinal:     "Telemetry",
	ChannelVend:      "VendEvent",
}

func TestNATSChannelsAreDeclared(t *testing.T) {
	doc := contractDoc(t)
	channels := mapAt(t, doc, "channels")
	operations := mapAt(t, doc, "operations")
	if _, ok := mapAt(t, doc, "servers")["nats"]; !ok {
		t.Fatal("contract declares no nats server")
	}
	for _, c := range Channels {
		t.Run(string(c), func(t *testing.T) {
			address := SubjectRoot + string(c) + ".{partition}.{drn}"
			var id string
			for name, ch := range channels {
				if ch.(map[string]any)["address"] == address {
					id = name
				}
			}
			if id == "" {
				t.Fatalf("no channel has the address %s", address)
			}
			ch := mapAt(t, channels, id)
			params := mapAt(t, ch, "parameters")
			for _, p := range []string{"partition", "drn"} {
				if _, ok := params[p]; !ok {
					t.Errorf("channel %s lacks the %s parameter", id, p)
				}
			}
			servers, _ := ch["servers"].([]any)
			if len(servers) != 1 || servers[0].(map[string]any)["$ref"] != "#/servers/nats" {
				t.Errorf("channel %s servers = %v, want the nats server only", id, servers)
			}
			msgs := mapAt(t, ch, "messages")
			if len(msgs) != 1 {
				t.Fatalf("channel %s has %d messages, want 1", id, len(msgs))
			}
			for _, m := range msgs {
				want := "#/components/messages/" + natsMessages[c]
				if ref := m.(map[string]any)["$ref"]; ref != want {
					t.Errorf("channel %s message = %v, want %s", id, ref, want)
				}
			}
			sends, receives := 0, 0
			for _, op := range operations {
				op := op.(map[string]any)
				if op["channel"].(map[string]any)["$ref"] != "#/channels/"+id {
					continue
				}
				switch op["action"] {
				case "send":
					sends++
				case "receive":
					receives++
				}
			}
			if sends != 1 || receives != 1 {
				t.Errorf("%d send and %d receive operations, want 1 and 1", sends, receives)
			}
		})
	}
}

func TestVendEventSchemaMatchesGo(t *testing.T) {
	doc := contractDoc(t)
	schema := mapAt(t, doc, "components", "schemas", "VendEvent")
	if schema["additionalProperties"] != false {
		t.Error("additionalProperties is not false; DecodeVend refuses unknown fields")
	}
	var props, required, wantProps []string
	for name := range mapAt(t, schema, "properties") {
		props = append(props, name)
	}
	for _, r := range schema["required"].([]any) {
		required = append(required, r.(string))
	}
	for f := range reflect.TypeFor[VendEvent]().Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		wantProps = append(wantProps, name)
	}
	sorted := cmp.Transformer("sort", func(s []string) []string {
		return slices.Sorted(slices.Values(s))
	})
	if diff := cmp.Diff(wantProps, props, sorted); diff != "" {
		t.Errorf("properties (-Go +schema):\n%s", diff)
	}
	// Every field is required: DecodeVend checks each.
	if diff := cmp.Diff(wantProps, required, sorted); diff != "" {
		t.Errorf("required (-Go +schema):\n%s", diff)
	}
	units := mapAt(t, schema, "properties", "utility")["enum"]
	var got []string
	for _, u := range units.([]any) {
		got = append(got, u.(string))
	}
	if diff := cmp.Diff(Utilities, got); diff != "" {
		t.Errorf("utility enum (-Go +schema):\n%s", diff)
	}
}

var sampleVend = VendEvent{
	VendID: "v-9", Meter: "04000000010", Utility: UtilityWater, Units: "3.5",
	Unit: UnitM3, Amount: "120.00", Currency: "KES", TokenAmount: "87.50",
	OtherCharges: "32.50", TID: 1 << 20,
	IssuedAt: time.Date(2026, 12, 4, 8, 0, 0, 125_000_000, time.UTC),
	SimTime:  time.Date(2026, 12, 10, 6, 30, 0, 0, time.UTC),
}

// TestVendEventsMatchTheContract checks vend events as the vendor marshals
// them against the document's schema, and that the schema and DecodeVend
// refuse the same broken ones.
func TestVendEventsMatchTheContract(t *testing.T) {
	data, err := json.Marshal(sampleVend)
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateMessage("VendEvent", data); err != nil {
		t.Errorf("a marshalled vend event: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*VendEvent)
	}{
		{"no vend id", func(e *VendEvent) { e.VendID = "" }},
		{"meter not a DRN", func(e *VendEvent) { e.Meter = "04-0" }},
		{"unknown utility", func(e *VendEvent) { e.Utility = "steam" }},
		{"unit unknown", func(e *VendEvent) { e.Unit = "litre" }},
		{"negative units", func(e *VendEvent) { e.Units = "-1" }},
		{"float amount", func(e *VendEvent) { e.Amount = "1e2" }},
		{"no currency", func(e *VendEvent) { e.Currency = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := sampleVend
			tc.edit(&e)
			data, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if err := ValidateMessage("VendEvent", data); !errors.Is(err, ErrInvalidPayload) {
				t.Errorf("schema accepted it: %v", err)
			}
			if _, err := DecodeVend(data); err == nil {
				t.Error("DecodeVend accepted it")
			}
		})
	}
}
