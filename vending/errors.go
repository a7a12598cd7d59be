package vending

import (
	"errors"
	"fmt"
)

// Sentinel errors callers branch on. Errors returned by the service wrap
// them, or are a [*FieldError] or [*RuleError].
var (
	// ErrUnknownMeter reports a DRN that is not in the fleet.
	ErrUnknownMeter = errors.New("unknown meter")
	// ErrUnknownVend reports a vend ID the ledger does not hold.
	ErrUnknownVend = errors.New("unknown vend")
	// ErrIdempotencyConflict reports an idempotency key reused with a
	// different request.
	ErrIdempotencyConflict = errors.New("idempotency key reused with a different request")
	// ErrFleetConflict reports a fleet registration that contradicts a
	// meter or tariff the service already has.
	ErrFleetConflict = errors.New("conflicts with the registered fleet")
	// ErrNoVendingKey reports a meter whose DKGA has no key in the store.
	ErrNoVendingKey = errors.New("no vending key for the meter's DKGA")
	// ErrNothingToResend reports a resend for a meter that has no token.
	ErrNothingToResend = errors.New("no token to resend")
)

// FieldError is bad input: the field it is about and what is wrong. The
// HTTP API answers it with 400 and names the field.
type FieldError struct {
	// Field is the JSON field or header, such as "amount" or
	// "meters[3].sgc".
	Field string
	// Err says what is wrong.
	Err error
}

// Error returns "field: problem".
func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *FieldError) Unwrap() error { return e.Err }

// fieldErr returns a FieldError for field with a formatted message.
func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// inField prefixes the field of a FieldError with a parent, as in
// "meters[3]" + "sgc"; other errors become a FieldError of the parent.
func inField(parent string, err error) error {
	if err == nil {
		return nil
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return &FieldError{Field: parent + "." + fe.Field, Err: fe.Err}
	}
	return &FieldError{Field: parent, Err: err}
}

// Rule names a vending rule that refused a request. Each is a stable,
// bounded identifier used in API errors, metrics and the summary.
type Rule string

// The rules a vend can break.
const (
	// RuleKeyExpired: the TID would be past the key's KEN (PROTOCOL.md
	// §4); the vendor must not generate the token. Checked first.
	RuleKeyExpired Rule = "key_expired"
	// RuleDDTK: credit to a meter holding a default key (DDTK), which
	// the meter would refuse with ddtk_error.
	RuleDDTK Rule = "ddtk"
	// RuleTIDExhausted: the vendor's clock is past the last minute its
	// base date can express; a key change with roll-over is due.
	RuleTIDExhausted Rule = "tid_exhausted"
	// RuleBeforeBaseDate: the vendor's clock is before the meter's base
	// date, so no TID exists.
	RuleBeforeBaseDate Rule = "before_base_date"
	// RuleKeyChangePending: a key change set is in flight; tokens under
	// either key could fail until the meter answers it.
	RuleKeyChangePending Rule = "key_change_pending"
	// RuleBelowMinimum: the amount buys less than the token resolution
	// of 0.1 units.
	RuleBelowMinimum Rule = "below_minimum"
	// RuleAboveMaximum: the credit exceeds what one token can carry.
	RuleAboveMaximum Rule = "above_maximum"
)

// Rules lists every rule, for initialising counters.
var Rules = []Rule{RuleKeyExpired, RuleDDTK, RuleTIDExhausted, RuleBeforeBaseDate,
	RuleKeyChangePending, RuleBelowMinimum, RuleAboveMaximum}

// RuleError is a request refused by a vending rule. The HTTP API answers
// it with 422 (409 for [RuleKeyChangePending]) and names the rule.
type RuleError struct {
	// Rule is the rule that refused the request.
	Rule Rule
	// Err explains the refusal.
	Err error
}

// Error returns "rule: explanation".
func (e *RuleError) Error() string { return string(e.Rule) + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *RuleError) Unwrap() error { return e.Err }

func ruleErr(r Rule, format string, args ...any) *RuleError {
	return &RuleError{Rule: r, Err: fmt.Errorf(format, args...)}
}

// Delivery errors.
var (
	// ErrNoDelivery reports a resend to a vendor without a publisher.
	ErrNoDelivery = errors.New("this vendor does not deliver tokens over MQTT")
	// ErrPublish reports a publication the broker did not take.
	ErrPublish = errors.New("publish failed")
)
