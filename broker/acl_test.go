package broker

import (
	"testing"

	"github.com/stsfleet/stsfleet/protocol/wire"
)

// Valid DRNs (Luhn check digit last) for the ACL tables.
const (
	drnA = "04040404040"
	drnB = "04000000010"
)

func TestACLMeterDRNsAreValid(t *testing.T) {
	for _, d := range []string{drnA, drnB} {
		if _, _, ok := meterTopic(wire.Topic(d, wire.KindToken)); !ok {
			t.Fatalf("test DRN %s is not a valid DRN", d)
		}
	}
}

func TestMayPublish(t *testing.T) {
	meterA := identity{role: roleMeter, drn: drnA}
	vendor := identity{role: RoleVendor}
	analytics := identity{role: RoleAnalytics}
	tests := []struct {
		name     string
		id       identity
		topic    string
		retained bool
		want     bool
	}{
		{"meter own result", meterA, wire.Topic(drnA, wire.KindResult), false, true},
		{"meter own telemetry", meterA, wire.Topic(drnA, wire.KindTelemetry), false, true},
		{"meter own status retained", meterA, wire.Topic(drnA, wire.KindStatus), true, true},
		{"meter own token", meterA, wire.Topic(drnA, wire.KindToken), false, false},
		{"meter as another meter", meterA, wire.Topic(drnB, wire.KindResult), false, false},
		{"meter retained telemetry", meterA, wire.Topic(drnA, wire.KindTelemetry), true, false},
		{"meter outside the contract", meterA, "sts/v1/other", false, false},
		{"meter to $SYS", meterA, "$SYS/broker/uptime", false, false},
		{"vendor token", vendor, wire.Topic(drnB, wire.KindToken), false, true},
		{"vendor retained token", vendor, wire.Topic(drnB, wire.KindToken), true, false},
		{"vendor token to a non-DRN", vendor, wire.Topic("12345", wire.KindToken), false, false},
		{"vendor token to a wildcard", vendor, wire.TopicFilter(wire.KindToken), false, false},
		{"vendor result", vendor, wire.Topic(drnB, wire.KindResult), false, false},
		{"analytics anything", analytics, wire.Topic(drnB, wire.KindResult), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mayPublish(tt.id, tt.topic, tt.retained); got != tt.want {
				t.Errorf("mayPublish(%s %s, %q, retained=%v) = %v, want %v",
					tt.id.role, tt.id.drn, tt.topic, tt.retained, got, tt.want)
			}
		})
	}
}

func TestMaySubscribe(t *testing.T) {
	meterA := identity{role: roleMeter, drn: drnA}
	vendor := identity{role: RoleVendor}
	analytics := identity{role: RoleAnalytics}
	tests := []struct {
		name   string
		id     identity
		filter string
		want   bool
	}{
		{"meter own token", meterA, wire.Topic(drnA, wire.KindToken), true},
		{"meter other token", meterA, wire.Topic(drnB, wire.KindToken), false},
		{"meter all tokens", meterA, wire.TopicFilter(wire.KindToken), false},
		{"meter own result", meterA, wire.Topic(drnA, wire.KindResult), false},
		{"meter everything", meterA, "#", false},
		{"meter shared own token", meterA, "$share/g/" + wire.Topic(drnA, wire.KindToken), false},
		{"vendor results", vendor, wire.TopicFilter(wire.KindResult), true},
		{"vendor shared results", vendor, wire.SharedResultFilter, true},
		{"vendor one meter's result", vendor, wire.Topic(drnB, wire.KindResult), true},
		{"vendor status", vendor, wire.TopicFilter(wire.KindStatus), true},
		{"vendor telemetry", vendor, wire.TopicFilter(wire.KindTelemetry), false},
		{"vendor tokens", vendor, wire.TopicFilter(wire.KindToken), false},
		{"vendor every kind", vendor, wire.TopicRoot + "+/+", false},
		{"vendor multi-level", vendor, wire.TopicRoot + "#", false},
		{"vendor shared without group", vendor,
			"$share//" + wire.TopicFilter(wire.KindResult), false},
		{"vendor $SYS", vendor, "$SYS/#", false},
		{"analytics telemetry", analytics, wire.TopicFilter(wire.KindTelemetry), true},
		{"analytics shared telemetry", analytics,
			"$share/a/" + wire.TopicFilter(wire.KindTelemetry), true},
		{"analytics results", analytics, wire.TopicFilter(wire.KindResult), true},
		{"analytics status", analytics, wire.TopicFilter(wire.KindStatus), true},
		{"analytics tokens", analytics, wire.TopicFilter(wire.KindToken), false},
		{"analytics non-DRN", analytics, wire.Topic("abc", wire.KindTelemetry), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := maySubscribe(tt.id, tt.filter); got != tt.want {
				t.Errorf("maySubscribe(%s %s, %q) = %v, want %v",
					tt.id.role, tt.id.drn, tt.filter, got, tt.want)
			}
		})
	}
}

func TestMayUseClientID(t *testing.T) {
	meterA := identity{role: roleMeter, drn: drnA}
	vendor := identity{role: RoleVendor}
	tests := []struct {
		name     string
		id       identity
		clientID string
		want     bool
	}{
		{"meter its DRN", meterA, drnA, true},
		{"meter another DRN", meterA, drnB, false},
		{"meter empty", meterA, "", false},
		{"vendor its own", vendor, "vendor-1", true},
		{"vendor empty (assigned)", vendor, "", true},
		{"vendor a meter's DRN", vendor, drnB, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mayUseClientID(tt.id, tt.clientID); got != tt.want {
				t.Errorf("mayUseClientID(%s, %q) = %v, want %v",
					tt.id.role, tt.clientID, got, tt.want)
			}
		})
	}
}
