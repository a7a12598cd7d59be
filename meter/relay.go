package meter

import (
	"fmt"
	"time"
)

// openReasons is the set of reasons the supply relay is open; it is closed
// when the set is empty.
type openReasons uint8

const (
	openNoCredit openReasons = 1 << iota
	openTrip
	openTamper
)

// RelayReason says why the supply relay is open.
type RelayReason uint8

// Relay reasons, in priority order when several hold.
const (
	// RelayClosed: the relay is closed and supply flows.
	RelayClosed RelayReason = iota
	// RelayTamper: a tamper was detected; a ClearTamper token closes it.
	RelayTamper
	// RelayNoCredit: the credit ran out; credit closes it.
	RelayNoCredit
	// RelayPowerLimit: demand exceeded the maximum power limit; the
	// meter reconnects after Config.TripRecovery and trips again while
	// the demand stays above the limit.
	RelayPowerLimit
)

var relayReasonNames = [...]string{"closed", "tamper", "no_credit", "power_limit"}

// String returns the reason's name, such as "no_credit".
func (r RelayReason) String() string {
	if int(r) < len(relayReasonNames) {
		return relayReasonNames[r]
	}
	return fmt.Sprintf("RelayReason(%d)", uint8(r))
}

// MarshalText implements encoding.TextMarshaler.
func (r RelayReason) MarshalText() ([]byte, error) {
	if int(r) >= len(relayReasonNames) {
		return nil, fmt.Errorf("marshal relay reason %d: unknown", uint8(r))
	}
	return []byte(r.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *RelayReason) UnmarshalText(b []byte) error {
	for i, n := range relayReasonNames {
		if n == string(b) {
			*r = RelayReason(i)
			return nil
		}
	}
	return fmt.Errorf("relay reason %q: unknown", b)
}

func (o openReasons) reason() RelayReason {
	switch {
	case o&openTamper != 0:
		return RelayTamper
	case o&openNoCredit != 0:
		return RelayNoCredit
	case o&openTrip != 0:
		return RelayPowerLimit
	}
	return RelayClosed
}

// setOpen adds or removes one reason at time t, noting when the relay
// changes between open and closed.
func (m *Meter) setOpen(r openReasons, on bool, t int64) {
	was := m.open == 0
	if on {
		m.open |= r
	} else {
		m.open &^= r
	}
	if (m.open == 0) != was {
		m.relaySince = t
	}
}

// updateSupply brings the credit and tamper reasons in line with the
// registers and the tamper flag, after anything that changed them.
func (m *Meter) updateSupply(t int64) {
	m.setOpen(openNoCredit, m.available() == 0, t)
	m.setOpen(openTamper, m.tamper && !m.tamperKeeps, t)
	m.enforceLimit(t)
}

// enforceLimit trips a closed relay at once when the demand exceeds the
// power limit.
func (m *Meter) enforceLimit(t int64) {
	if m.open == 0 && m.powerLimit > 0 && m.load.demand(t) > m.powerLimit {
		m.tripUntil = t + int64(m.tripRecovery)
		m.setOpen(openTrip, true, t)
	}
}

// resetTrip ends a power-limit trip at once, after the limit changed, and
// checks the demand against the new limit.
func (m *Meter) resetTrip(t int64) {
	m.tripUntil = never
	m.setOpen(openTrip, false, t)
	m.enforceLimit(t)
}

// SetTamper raises the tamper flag at the simulated time now, as a cover or
// terminal switch would. Unless Config.TamperKeepsSupply is set the relay
// opens; only a ClearTamper token lowers the flag.
func (m *Meter) SetTamper(now time.Time) {
	t := m.clamp(now)
	m.advanceTo(t)
	m.tamper = true
	m.updateSupply(t)
}

// Supplying reports whether the relay is closed and supply flows.
func (m *Meter) Supplying() bool { return m.open == 0 }
