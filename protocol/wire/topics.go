package wire

import (
	"fmt"
	"strings"
)

// Version is the version segment of every topic and subject.
const Version = "v1"

// TopicRoot is the prefix of every MQTT topic of the contract.
const TopicRoot = "sts/" + Version + "/meters/"

// Kind is the last segment of a meter topic: what the message is.
type Kind string

// The per-meter topics: sts/v1/meters/{drn}/{kind}.
const (
	// KindToken carries tokens from the vendor to one meter (QoS 1).
	KindToken Kind = "token"
	// KindResult carries the meter's outcome for each token (QoS 1).
	KindResult Kind = "result"
	// KindTelemetry carries cumulative readings (QoS 0 by default).
	KindTelemetry Kind = "telemetry"
	// KindStatus is the retained online/offline state, with a last will.
	KindStatus Kind = "status"
)

// Kinds lists every per-meter topic kind.
var Kinds = []Kind{KindToken, KindResult, KindTelemetry, KindStatus}

// Topic returns the topic of kind k for the meter with this DRN.
func Topic(drn string, k Kind) string { return TopicRoot + drn + "/" + string(k) }

// TopicFilter returns the filter that matches kind k for every meter.
func TopicFilter(k Kind) string { return TopicRoot + "+/" + string(k) }

// SharedResultFilter is the shared subscription through which vendors split
// the result stream between them ([MQTT-4.8.2]).
const SharedResultFilter = "$share/vendors/" + TopicRoot + "+/result"

// ParseTopic splits a meter topic into the DRN and kind.
func ParseTopic(topic string) (drn string, k Kind, err error) {
	rest, ok := strings.CutPrefix(topic, TopicRoot)
	if !ok {
		return "", "", fmt.Errorf("parse topic %q: not under %s", topic, TopicRoot)
	}
	drn, kind, ok := strings.Cut(rest, "/")
	if !ok || drn == "" || strings.Contains(kind, "/") {
		return "", "", fmt.Errorf("parse topic %q: want %s{drn}/{kind}", topic, TopicRoot)
	}
	for _, known := range Kinds {
		if Kind(kind) == known {
			return drn, known, nil
		}
	}
	return "", "", fmt.Errorf("parse topic %q: unknown kind %q", topic, kind)
}
