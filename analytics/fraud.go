package analytics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// Fraud kinds: what a rejected keypad entry says about the token typed. A
// token the vendor sent carries its vend ID and reaches the meter over
// MQTT; a result without a vend ID is a token someone typed at the keypad,
// and a rejected one is an attempt to get credit the meter refused. The
// meter cannot tell a tampered token from a mistyped one or from one made
// for another meter: all three fail the CRC, so they share one kind.
const (
	// fraudReplay: a token the meter already accepted (used_error).
	fraudReplay = iota
	// fraudOldToken: a token older than the meter's TID memory
	// (old_error).
	fraudOldToken
	// fraudInvalidToken: a token that does not decode for this meter:
	// tampered, mistyped, guessed or another meter's (crc_error,
	// format_error, function_error, range_error).
	fraudInvalidToken
	// fraudWrongKey: a token made with a key the meter must refuse
	// (key_expired_error, ddtk_error, key_type_error, mfr_code_error).
	fraudWrongKey
	// fraudLockedOut: a token typed while the keypad is locked after
	// repeated rejections (keypad_locked).
	fraudLockedOut

	numFraudKinds
)

// fraudKindNames are the values of the kind label, by fraud kind.
var fraudKindNames = [numFraudKinds]string{
	fraudReplay:       "replay",
	fraudOldToken:     "old_token",
	fraudInvalidToken: "invalid_token",
	fraudWrongKey:     "wrong_key",
	fraudLockedOut:    "locked_out",
}

// fraudKind returns the fraud kind of a keypad entry's outcome; ok is false
// for an outcome that is no attempt, such as accept or overflow_error.
func fraudKind(o sts.Outcome) (kind int, ok bool) {
	switch o {
	case sts.UsedError:
		return fraudReplay, true
	case sts.OldError:
		return fraudOldToken, true
	case sts.CRCError, sts.FormatError, sts.FunctionError, sts.RangeError:
		return fraudInvalidToken, true
	case sts.KeyExpiredError, sts.DDTKError, sts.KeyTypeError, sts.MfrCodeError:
		return fraudWrongKey, true
	case sts.KeypadLocked:
		return fraudLockedOut, true
	}
	return 0, false
}

// countAttemptLocked counts a keypad entry's outcome as a fraud attempt
// when it is one. The caller holds a.mu.
func (a *aggregator) countAttemptLocked(o sts.Outcome) {
	if k, ok := fraudKind(o); ok {
		a.counts.Attempts[k]++
	}
}

// fraudCollector exposes the fraud attempts as
// analytics_fraud_attempts_total, every kind from the start.
type fraudCollector struct {
	agg  *aggregator
	desc *prometheus.Desc
}

func newFraudCollector(agg *aggregator) *fraudCollector {
	return &fraudCollector{agg: agg, desc: prometheus.NewDesc("analytics_fraud_attempts_total",
		"Rejected tokens typed at a meter's keypad, by kind: replay, old_token, "+
			"invalid_token (tampered, mistyped, guessed or another meter's), wrong_key "+
			"or locked_out.", []string{"kind"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *fraudCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *fraudCollector) Collect(ch chan<- prometheus.Metric) {
	c.agg.mu.Lock()
	attempts := c.agg.counts.Attempts
	c.agg.mu.Unlock()
	for k, n := range attempts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n),
			fraudKindNames[k])
	}
}
