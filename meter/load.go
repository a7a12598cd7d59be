package meter

import (
	"time"
)

// The consumption model. Demand is piecewise constant over slots of
// slotLength on the local clock, so integrating it is a sum of
// rate × duration products, done in integers: one Milli of service is
// 0.1 Wh = 360 W·s (or 0.1 L = 1 L/h for 360 s), so demand accrues in
// W·ns and every nsPerMilli of it is one Milli. What is left over carries
// to the next step; nothing is ever rounded away.

const (
	slotLength  = 15 * time.Minute
	slotsPerDay = int64(24 * time.Hour / slotLength)
	// nsPerMilli is one Milli of service in W·ns (and L/h·ns).
	nsPerMilli = 360 * uint64(time.Second)
)

// profiles are the demand of a typical household by local hour: W for
// electricity, L/h for water and gas.
var profiles = [...][24]uint16{
	Electricity: {
		180, 160, 150, 150, 160, 220, 450, 650, 600, 350, 300, 300,
		320, 300, 280, 300, 350, 550, 800, 950, 900, 700, 450, 260,
	},
	Water: {
		1, 1, 1, 1, 2, 4, 25, 40, 30, 12, 10, 10,
		14, 10, 8, 8, 12, 25, 30, 28, 20, 12, 6, 3,
	},
	Gas: {
		0, 0, 0, 0, 0, 10, 80, 120, 90, 20, 15, 30,
		90, 60, 15, 10, 20, 100, 180, 200, 120, 50, 15, 5,
	},
}

// loadModel is the resolved consumption model of one meter.
type loadModel struct {
	seed   uint64
	offset int64
	rate   uint32
	scale  uint32
	noise  uint32
	kind   LoadKind
	util   Utility
}

func newLoadModel(u Utility, l Load) loadModel {
	return loadModel{
		seed:   l.Seed,
		offset: int64(l.UTCOffset),
		rate:   l.Rate,
		scale:  l.Scale,
		noise:  l.Noise,
		kind:   l.Kind,
		util:   u,
	}
}

// slot returns the index of the local slot holding instant t.
func (l *loadModel) slot(t int64) int64 {
	local := t + l.offset
	s := local / int64(slotLength)
	if local%int64(slotLength) < 0 {
		s--
	}
	return s
}

// slotEnd returns the instant the slot holding t ends.
func (l *loadModel) slotEnd(t int64) int64 {
	return (l.slot(t)+1)*int64(slotLength) - l.offset
}

// demand returns the demand during the slot holding t.
func (l *loadModel) demand(t int64) uint32 {
	switch l.kind {
	case LoadNone:
		return 0
	case LoadConstant:
		return l.rate
	}
	s := l.slot(t)
	day := s / slotsPerDay
	if s%slotsPerDay < 0 {
		day--
	}
	hour := (s - day*slotsPerDay) / (slotsPerDay / 24)
	// Permille factors: the day's level (800 to 1200) and the slot's
	// noise (1000 ± noise).
	dayLevel := 800 + mix(l.seed, uint64(day)^0xda7)%401
	n := uint64(l.noise)
	noise := 1000 - n + mix(l.seed, uint64(s))%(2*n+1)
	v := uint64(profiles[l.util][hour]) * uint64(l.scale) * dayLevel * noise
	return uint32(v / 1_000_000_000)
}

// mix is the SplitMix64 finaliser of seed and x: cheap, stateless and
// reproducible, so the profile needs no stored random state.
func mix(seed, x uint64) uint64 {
	z := seed + x*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// seedOf derives a non-zero seed from a DRN (FNV-1a).
func seedOf(drn string) uint64 {
	h := uint64(0xcbf29ce484222325)
	for i := 0; i < len(drn); i++ {
		h ^= uint64(drn[i])
		h *= 0x100000001b3
	}
	return h | 1
}

// Advance runs consumption up to the simulated time now. It is exact for
// any step: demand is integrated slot by slot, and the relay opens at the
// instant the credit runs out. A time before the last one seen is ignored.
func (m *Meter) Advance(now time.Time) { m.advanceTo(m.clamp(now)) }

func (m *Meter) advanceTo(t int64) {
	for m.last < t {
		m.last = m.step(m.last, t)
	}
}

// step runs the meter from `from` towards `to` while nothing changes:
// within one slot and up to the end of a trip. It returns where it stopped.
func (m *Meter) step(from, to int64) int64 {
	if m.open&openTrip != 0 {
		if from >= m.tripUntil {
			// Recovery: reconnect and look at the demand again.
			m.setOpen(openTrip, false, from)
		} else {
			to = min(to, m.tripUntil)
		}
	}
	if m.open != 0 {
		return to
	}
	if m.enforceLimit(from); m.open != 0 {
		return from
	}
	end := min(to, m.load.slotEnd(from))
	m.consume(m.load.demand(from), from, end)
	return end
}

// consume draws rate over [from, to) from the credit, opening the relay at
// the instant the credit is gone.
func (m *Meter) consume(rate uint32, from, to int64) {
	if rate == 0 {
		return
	}
	acc := uint64(rate)*uint64(to-from) + m.demandRem
	due := Milli(acc / nsPerMilli)
	avail := m.available()
	if due < avail {
		m.draw(due)
		m.demandRem = acc % nsPerMilli
		return
	}
	need := uint64(avail)*nsPerMilli - m.demandRem
	at := from + int64((need+uint64(rate)-1)/uint64(rate))
	m.draw(avail)
	m.demandRem = 0
	m.setOpen(openNoCredit, true, at)
}

// available returns the service the credit still buys, in Milli: the units
// register, then what the currency register pays for.
func (m *Meter) available() Milli {
	return m.units.Remaining + m.currency.Remaining/Milli(m.price)
}

// draw takes q Milli of service from the units register first, then buys
// the rest from the currency register. The caller keeps q ≤ available().
func (m *Meter) draw(q Milli) {
	u := min(q, m.units.Remaining)
	m.units.spend(u)
	if rest := q - u; rest > 0 {
		m.currency.spend(rest * Milli(m.price))
	}
	m.delivered += q
}

// Demand returns the demand of the premises at the simulated time the
// meter was last advanced to, in W (or L/h), whether or not the relay lets
// it through.
func (m *Meter) Demand() uint32 { return m.load.demand(m.last) }
