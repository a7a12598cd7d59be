package sts

import "fmt"

// Outcome is what a meter reports for a token it was given. Every part of
// the product uses this one table: meters produce it, the vendor records it,
// analytics counts it and scenarios assert on it.
type Outcome uint8

// The outcomes, in the order a meter checks for them (IEC 62055-41 §7.1.4
// and §7.3, PROTOCOL.md §10).
const (
	// Accept: the token was processed.
	Accept Outcome = iota
	// FormatError: the input is not 20 digits below 2^66.
	FormatError
	// RangeError: a field value is outside what the meter allows.
	RangeError
	// FunctionError: the meter does not support the token's class or
	// sub-class, such as a water token at an electricity meter.
	FunctionError
	// CRCError: the check failed after decryption: another meter's token,
	// a typing error, or a key that is not the meter's.
	CRCError
	// OldError: the TID is older than every TID the meter remembers.
	OldError
	// UsedError: the TID is one the meter has already accepted.
	UsedError
	// KeyExpiredError: the TID is past the key's expiry number.
	KeyExpiredError
	// DDTKError: a credit token while the meter holds a default key.
	DDTKError
	// KeyTypeError: the key change would break the key-type rules.
	KeyTypeError
	// OverflowError: the credit would overflow the register.
	OverflowError
	// MfrCodeError: a test token for another manufacturer's meters.
	MfrCodeError
	// KCTPending: a key change section was stored; the set is not complete.
	KCTPending
	// KeypadLocked: the keypad is locked after repeated rejections; the
	// token was not processed.
	KeypadLocked

	numOutcomes
)

var outcomeNames = [numOutcomes]string{
	Accept:          "accept",
	FormatError:     "format_error",
	RangeError:      "range_error",
	FunctionError:   "function_error",
	CRCError:        "crc_error",
	OldError:        "old_error",
	UsedError:       "used_error",
	KeyExpiredError: "key_expired_error",
	DDTKError:       "ddtk_error",
	KeyTypeError:    "key_type_error",
	OverflowError:   "overflow_error",
	MfrCodeError:    "mfr_code_error",
	KCTPending:      "kct_pending",
	KeypadLocked:    "keypad_locked",
}

// Outcomes returns every outcome in table order, for initialising counters.
func Outcomes() []Outcome {
	out := make([]Outcome, numOutcomes)
	for i := range out {
		out[i] = Outcome(i)
	}
	return out
}

// String returns the outcome's name, such as "crc_error".
func (o Outcome) String() string {
	if o < numOutcomes {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// Accepted reports whether the meter took the token: [Accept], or
// [KCTPending] for a stored key change section.
func (o Outcome) Accepted() bool { return o == Accept || o == KCTPending }

// ParseOutcome returns the outcome with the given name.
func ParseOutcome(name string) (Outcome, error) {
	for i, n := range outcomeNames {
		if n == name {
			return Outcome(i), nil
		}
	}
	return 0, fmt.Errorf("unknown outcome %q", name)
}

// MarshalText implements encoding.TextMarshaler.
func (o Outcome) MarshalText() ([]byte, error) {
	if o >= numOutcomes {
		return nil, fmt.Errorf("marshal outcome %d: unknown", uint8(o))
	}
	return []byte(outcomeNames[o]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (o *Outcome) UnmarshalText(b []byte) error {
	v, err := ParseOutcome(string(b))
	if err != nil {
		return err
	}
	*o = v
	return nil
}
