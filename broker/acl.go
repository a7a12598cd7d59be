package broker

import (
	"strings"

	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/protocol/wire"
)

// identity is who an authenticated client is: a meter with its DRN, or an
// account with its role.
type identity struct {
	role Role
	// drn is the meter's DRN; empty for an account.
	drn string
}

// mayPublish reports whether the client may publish to topic, with the
// retain flag as given. Only status messages are retained: a retained token
// would be entered again at every reconnect.
func mayPublish(id identity, topic string, retained bool) bool {
	drn, kind, ok := meterTopic(topic)
	if !ok || drn == "+" {
		return false
	}
	if retained && kind != wire.KindStatus {
		return false
	}
	switch id.role {
	case roleMeter:
		return drn == id.drn && kind != wire.KindToken
	case RoleVendor:
		return kind == wire.KindToken
	default:
		return false
	}
}

// maySubscribe reports whether the client may subscribe to filter. mochi
// also asks it, with the topic name, before delivering each message.
//
// A meter may read only its own token topic, exactly. Accounts may read the
// kinds of their role, for one meter or for all of them with a single-level
// wildcard, directly or through a shared subscription ([MQTT-4.8.2]).
func maySubscribe(id identity, filter string) bool {
	if id.role == roleMeter {
		return filter == wire.Topic(id.drn, wire.KindToken)
	}
	filter, ok := unshare(filter)
	if !ok {
		return false
	}
	_, kind, ok := meterTopic(filter)
	if !ok {
		return false
	}
	switch id.role {
	case RoleVendor:
		return kind == wire.KindResult || kind == wire.KindStatus
	case RoleAnalytics:
		return kind == wire.KindResult || kind == wire.KindTelemetry || kind == wire.KindStatus
	default:
		return false
	}
}

// meterTopic splits a topic or filter of the contract. The DRN segment is
// either a valid DRN or, in a filter, the single-level wildcard "+".
func meterTopic(topic string) (drn string, kind wire.Kind, ok bool) {
	drn, kind, err := wire.ParseTopic(topic)
	if err != nil {
		return "", "", false
	}
	if drn != "+" && sts.ValidateDRN(drn) != nil {
		return "", "", false
	}
	return drn, kind, true
}

// unshare strips the $share/{group}/ prefix of a shared subscription.
func unshare(filter string) (string, bool) {
	rest, shared := strings.CutPrefix(filter, "$share/")
	if !shared {
		return filter, true
	}
	group, rest, ok := strings.Cut(rest, "/")
	if !ok || group == "" || strings.ContainsAny(group, "+#") {
		return "", false
	}
	return rest, true
}

// mayUseClientID reports whether the client identifier fits the identity:
// a meter's is its DRN ([MQTT-3.1.3-9] lets the broker refuse others), and
// an account may not take one that looks like a DRN, because taking a
// meter's identifier would take over the meter's session.
func mayUseClientID(id identity, clientID string) bool {
	if id.role == roleMeter {
		return clientID == id.drn
	}
	return sts.ValidateDRN(clientID) != nil
}
