package scenarios

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stsfleet/stsfleet/meter"
	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/scenarios/threshold"
)

// Defaults of a scenario file's optional fields.
const (
	// DefaultSpeed is the simulated seconds per wall second.
	DefaultSpeed = 60
	// DefaultTimeout is how long a step waits for the meters' results.
	DefaultTimeout = 10 * time.Second
	// DefaultSeed seeds a fleet without a seed.
	DefaultSeed = 1
)

// DefaultStart is the simulated start of a fleet without one.
var DefaultStart = time.Date(2026, time.March, 2, 8, 0, 0, 0, time.UTC)

// Scenario is a parsed, validated scenario file.
type Scenario struct {
	// File is the file name the scenario was read from.
	File string
	// Name and Description say what the scenario is.
	Name, Description string
	// Fleet is the fleet it runs on.
	Fleet FleetSpec
	// Speed is simulated seconds per wall second.
	Speed float64
	// Timeout is how long a step waits for results, in wall time.
	Timeout time.Duration
	// Thresholds must hold over the whole run.
	Thresholds []threshold.Threshold
	// Steps run in order.
	Steps []Step
}

// FleetSpec describes a scenario's fleet. Every field has its default
// applied.
type FleetSpec struct {
	// Meters is the number of meters.
	Meters int
	// Mix, Profiles and KeyTypes are weights by utility, by EA/DKGA
	// profile (ea07-dkga02 ...) and by key type (ditk ... dctk).
	Mix, Profiles, KeyTypes map[string]int
	// Seed seeds the DRNs, the vending keys and the random choices.
	Seed uint64
	// KEN is the key expiry number.
	KEN uint8
	// BaseDate is the base date of the TIDs.
	BaseDate sts.BaseDate
	// Start is the simulated start time.
	Start time.Time
	// FlatPrice, when not empty, replaces the default tariffs with one
	// flat price per unit for each utility, in Currency.
	FlatPrice, Currency string
	// TIDMemory is the TID memory depth; 0 is the meter's default.
	TIDMemory int
	// Lockout is the keypad lock-out policy.
	Lockout meter.Lockout
	// Load is the consumption model.
	Load meter.LoadKind
}

// Step kinds, the action keys of a step.
const (
	KindVend       = "vend"
	KindReplay     = "replay"
	KindWrongMeter = "wrong_meter"
	KindTamper     = "tamper"
	KindBruteForce = "brute_force"
	KindOldTID     = "old_tid"
	KindForge      = "forge"
	KindKeyChange  = "key_change"
	KindDuplicate  = "duplicate"
	KindSpoof      = "spoof"
	KindOffline    = "offline"
	KindOnline     = "online"
	KindRestart    = "restart"
	KindWait       = "wait"
)

// stepKinds lists the action keys in the order the documentation gives.
var stepKinds = []string{KindVend, KindReplay, KindWrongMeter, KindTamper, KindBruteForce,
	KindOldTID, KindForge, KindKeyChange, KindDuplicate, KindSpoof, KindOffline, KindOnline,
	KindRestart, KindWait}

// Step is one action of a scenario and what must hold after it. Which
// parameters apply depends on Kind; the others are zero.
type Step struct {
	// Index is the step's position, from 0; Line its line in the file.
	Index, Line int
	// Name is the step's name, or its kind when the file gives none.
	Name string
	// Kind is the action: one of the Kind constants.
	Kind string
	// Meters selects the meters the step acts on.
	Meters Targets

	// Units and Amount (with Currency) are a vend's credit or money, or
	// a forged token's units.
	Units, Amount, Currency string
	// Token is the accepted token a replay types again: last or first.
	Token string
	// Digit is the 1-based digit a tamper changes; 0 picks one.
	Digit int
	// Tokens and Seed drive a brute force.
	Tokens int
	Seed   uint64
	// Age is how long before now an old_tid or forged token was issued.
	Age time.Duration
	// PreviousKey makes a forged token under the key before the last
	// key change.
	PreviousKey bool
	// KeyChange is a key change campaign's request.
	KeyChange KeyChangeSpec
	// Publish lists what a spoofing client sends: token, result.
	Publish []string
	// Down is how long a restarted fleet stays down, in wall time.
	Down time.Duration
	// Sim and Wall are the durations of a wait.
	Sim, Wall time.Duration

	// Expect is what must hold once the step's results are in.
	Expect Expect
}

// KeyChangeSpec is the new key identity of a key change campaign; nil
// fields keep the meter's current value.
type KeyChangeSpec struct {
	SGC      *string
	TI, KRN  *int
	KT, KEN  *int
	BaseDate *int
	RO       *bool
}

// Targets selects meters of the fleet: all of them, the first Count, the
// first Fraction of them (rounded up), or named ones (DRNs, or #i for the
// i-th meter of the fleet, from 0).
type Targets struct {
	All      bool
	Count    int
	Fraction float64
	Refs     []string
}

// String describes the selection as a file writes it.
func (t Targets) String() string {
	switch {
	case t.Count > 0:
		return strconv.Itoa(t.Count)
	case t.Fraction > 0:
		return strconv.FormatFloat(t.Fraction*100, 'g', -1, 64) + "%"
	case len(t.Refs) > 0:
		return strings.Join(t.Refs, ",")
	}
	return "all"
}

// Resolve returns the indexes into the fleet's DRNs of the selected
// meters, in fleet order for counts and fractions, in the file's order
// for references.
func (t Targets) Resolve(drns []string) ([]int, error) {
	n := len(drns)
	switch {
	case t.Count > 0:
		if t.Count > n {
			return nil, fmt.Errorf("meters: %d, but the fleet has %d", t.Count, n)
		}
		return seq(t.Count), nil
	case t.Fraction > 0:
		k := int(t.Fraction*float64(n) + 0.999999)
		return seq(min(max(k, 1), n)), nil
	case len(t.Refs) > 0:
		out := make([]int, 0, len(t.Refs))
		for _, r := range t.Refs {
			i, err := resolveRef(r, drns)
			if err != nil {
				return nil, err
			}
			out = append(out, i)
		}
		return out, nil
	}
	return seq(n), nil
}

func resolveRef(r string, drns []string) (int, error) {
	if idx, ok := strings.CutPrefix(r, "#"); ok {
		i, err := strconv.Atoi(idx)
		if err != nil || i < 0 || i >= len(drns) {
			return 0, fmt.Errorf("meters: %s: the fleet has meters #0 to #%d", r, len(drns)-1)
		}
		return i, nil
	}
	for i, d := range drns {
		if d == r {
			return i, nil
		}
	}
	return 0, fmt.Errorf("meters: %s is not a meter of the fleet", r)
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// Expect is what must hold after a step. Nil and empty fields check
// nothing.
type Expect struct {
	// Outcomes are checks of the step's result counts by outcome name,
	// "total" for all of them, in file order.
	Outcomes []NamedCount
	// Credited checks the credit the step added to the registers.
	Credited *CreditCheck
	// VendorRefusals are checks of the requests the vendor refused in
	// the step, by rule; an empty Name is all rules together.
	VendorRefusals []NamedCount
	// ACLRefusals checks the broker's refusals during the step.
	ACLRefusals *Count
	// Delivered checks the tokens queued for an absent meter that
	// reached it in the step; All means every one so far.
	Delivered    *Count
	DeliveredAll bool
	// DoubleCredits checks the tokens credited more than once so far.
	DoubleCredits *Count
	// FalseAccepts bounds a brute force's random tokens that added
	// credit by a multiple of the expected number.
	FalseAccepts *float64
}

// empty reports whether the expectation checks nothing.
func (e *Expect) empty() bool {
	return len(e.Outcomes) == 0 && e.Credited == nil && len(e.VendorRefusals) == 0 &&
		e.ACLRefusals == nil && e.Delivered == nil && !e.DeliveredAll &&
		e.DoubleCredits == nil && e.FalseAccepts == nil
}

// Count is a check of a count: an operator and a number, "== 4" or
// ">= 10".
type Count struct {
	Op threshold.Op
	N  int64
}

// String writes the check, such as "== 4".
func (c Count) String() string { return c.Op.String() + " " + strconv.FormatInt(c.N, 10) }

// Holds reports whether got satisfies the check.
func (c Count) Holds(got int64) bool { return c.Op.Holds(float64(got), float64(c.N)) }

// NamedCount is a count check of one name: an outcome or a rule.
type NamedCount struct {
	Name string
	Count
}

// CreditCheck is a check of the credit a step added. Exactly one form is
// set: Sold (each meter was credited what the vendor sold it in the step),
// Each (each targeted meter), or Total and Meters.
type CreditCheck struct {
	Sold bool
	// Each, Total and the values of Meters are decimals in the meter's
	// unit, such as "5.0".
	Each, Total string
	// Meters are by reference: a DRN or #i.
	Meters [][2]string
}

// parseCount reads a count check as the schema allows it: a number or
// "op number".
func parseCount(s string) (Count, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, "0123456789")
	if i < 0 {
		return Count{}, fmt.Errorf("count %q: want a number or a comparison such as >= 10", s)
	}
	op := threshold.Equal
	if i > 0 {
		var err error
		if op, err = threshold.ParseOp(strings.TrimSpace(s[:i])); err != nil {
			return Count{}, err
		}
	}
	n, err := strconv.ParseInt(s[i:], 10, 64)
	if err != nil {
		return Count{}, fmt.Errorf("count %q: %w", s, err)
	}
	return Count{Op: op, N: n}, nil
}

// parseDuration reads a duration as Go writes it, with d for days.
func parseDuration(s string) (time.Duration, error) {
	var total time.Duration
	rest := s
	for rest != "" {
		i := strings.IndexFunc(rest, func(r rune) bool {
			return (r < '0' || r > '9') && r != '.'
		})
		if i <= 0 {
			return 0, fmt.Errorf("duration %q: want a number and a unit, such as 31m", s)
		}
		j := i
		for j < len(rest) && (rest[j] < '0' || rest[j] > '9') {
			j++
		}
		num, unit := rest[:i], rest[i:j]
		rest = rest[j:]
		if unit == "d" {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil || v > 100_000 {
				return 0, fmt.Errorf("duration %q: bad number of days", s)
			}
			total += time.Duration(v * float64(24*time.Hour))
			continue
		}
		d, err := time.ParseDuration(num + unit)
		if err != nil {
			return 0, fmt.Errorf("duration %q: %w", s, err)
		}
		total += d
	}
	return total, nil
}
