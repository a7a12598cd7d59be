package meter

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"time"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// never is the "no deadline" value of the lock-out and trip timers.
const never = math.MinInt64

// KeyIdentity names the decoder key a meter holds, without the key.
type KeyIdentity struct {
	KRN         uint8        `json:"krn"`
	KeyType     uint8        `json:"kt"`
	KEN         uint8        `json:"ken"`
	TariffIndex uint8        `json:"ti"`
	SGC         uint32       `json:"sgc"`
	EA          sts.EA       `json:"ea"`
	BaseDate    sts.BaseDate `json:"base_date"`
}

// Relay is the state of the supply relay.
type Relay struct {
	// Closed reports whether supply flows.
	Closed bool `json:"closed"`
	// Reason says why the relay is open; [RelayClosed] when it is not.
	Reason RelayReason `json:"reason"`
	// Since is when the relay last opened or closed.
	Since time.Time `json:"since"`
}

// Snapshot is the telemetry view of a meter: registers, totals, relay and
// key identity. It holds no key.
type Snapshot struct {
	DRN     string  `json:"drn"`
	Utility Utility `json:"utility"`
	// At is the simulated time the meter was last advanced to.
	At time.Time `json:"at"`
	// Units and Currency are the two credit registers with their totals.
	Units    Register `json:"units"`
	Currency Register `json:"currency"`
	// Delivered is all service supplied, in Milli of the units register's
	// unit, whether paid from units or from currency.
	Delivered Milli `json:"delivered"`
	// Demand is the premises' demand at At in W (or L/h).
	Demand uint32 `json:"demand"`
	Relay  Relay  `json:"relay"`
	Tamper bool   `json:"tamper"`
	// PowerLimit and PhaseUnbalanceLimit are in W; 0 means none.
	PowerLimit          uint32      `json:"power_limit"`
	PhaseUnbalanceLimit uint32      `json:"phase_unbalance_limit"`
	Key                 KeyIdentity `json:"key"`
	// KeyChangeSections is the number of sections of an incomplete key
	// change set held.
	KeyChangeSections int  `json:"key_change_sections"`
	KeypadLocked      bool `json:"keypad_locked"`
	// TIDs is the number of TIDs remembered, OldestTID the smallest.
	TIDs      int    `json:"tids"`
	OldestTID uint32 `json:"oldest_tid"`
}

// Snapshot returns the meter's state at the time it was last advanced to;
// call [Meter.Advance] first for a current view. It changes nothing.
func (m *Meter) Snapshot() Snapshot {
	s := Snapshot{
		DRN:       m.drn,
		Utility:   m.util,
		At:        m.Now(),
		Units:     m.units,
		Currency:  m.currency,
		Delivered: m.delivered,
		Demand:    m.Demand(),
		Relay: Relay{
			Closed: m.open == 0,
			Reason: m.open.reason(),
			Since:  time.Unix(0, m.relaySince).UTC(),
		},
		Tamper:              m.tamper,
		PowerLimit:          m.powerLimit,
		PhaseUnbalanceLimit: m.unbalanceLimit,
		Key:                 m.keyIdentity(),
		KeypadLocked:        m.last < m.lockedUntil,
		TIDs:                len(m.tids),
	}
	if m.kc != nil && m.last-m.kc.since < int64(m.kcTimeout) {
		s.KeyChangeSections = bits.OnesCount8(m.kc.have)
	}
	if len(m.tids) > 0 {
		s.OldestTID = m.tids[0]
	}
	return s
}

func (m *Meter) keyIdentity() KeyIdentity {
	return KeyIdentity{KRN: m.krn, KeyType: m.kt, KEN: m.ken, TariffIndex: m.ti, SGC: m.sgc,
		EA: m.ea, BaseDate: m.base}
}

// stateVersion is the version of the [State] layout.
const stateVersion = 1

// State is the complete, serialisable form of a meter, decoder key
// included: what a meter keeps across a power cut. Persist it as a secret.
// [Restore] turns it back into a meter that behaves identically.
type State struct {
	Version int `json:"version"`
	// Config holds the meter's current identity and key (after any key
	// change) and its behaviour. Manufactured and InitialCredit are unused.
	Config Config `json:"config"`
	// Tables is the fingerprint of the STA tables of an EA07 meter.
	Tables string    `json:"sta_tables,omitempty"`
	At     time.Time `json:"at"`
	// TIDs is the TID memory, ascending.
	TIDs      []uint32 `json:"tids"`
	Units     Register `json:"units"`
	Currency  Register `json:"currency"`
	Delivered Milli    `json:"delivered"`
	// DemandRemainder is demand not yet a whole Milli, in W·ns.
	DemandRemainder     uint64    `json:"demand_remainder,omitempty"`
	RelaySince          time.Time `json:"relay_since"`
	TripUntil           time.Time `json:"trip_until,omitzero"`
	Tamper              bool      `json:"tamper,omitempty"`
	PhaseUnbalanceLimit uint32    `json:"phase_unbalance_limit,omitempty"`
	TariffRate          uint16    `json:"tariff_rate,omitempty"`
	WaterFactor         uint16    `json:"water_factor,omitempty"`
	// KeyChange is an incomplete key change set, nil when none.
	KeyChange   *KeyChangeState `json:"key_change,omitempty"`
	Rejects     int             `json:"rejects,omitempty"`
	LockedUntil time.Time       `json:"locked_until,omitzero"`
}

// KeyChangeState is an incomplete key change set.
type KeyChangeState struct {
	// Since is when its first section arrived.
	Since time.Time `json:"since"`
	// Sections are the plaintext blocks of the stored sections as 16 hex
	// digits. They carry parts of the new key.
	Sections []string `json:"sections"`
}

// State returns the complete state of the meter.
func (m *Meter) State() State {
	ken := m.ken
	s := State{
		Version: stateVersion,
		Config: Config{
			DRN: m.drn, MfrCode: m.mfr, SGC: m.sgc, TariffIndex: m.ti, KRN: m.krn,
			KeyType: m.kt, KEN: &ken, BaseDate: m.base, EA: m.ea,
			Key:     slices.Clone(m.key[:m.ea.KeyLen()]),
			Utility: m.util, TIDMemory: cap(m.tids),
			BothTestSubClasses: m.bothTest, SupportsTariffRate: m.tariffSupported,
			SupportsWaterFactor: m.factorSupported, KeyChangeTimeout: m.kcTimeout,
			Lockout:     Lockout{Attempts: int(m.lockAttempts), Period: m.lockPeriod},
			CreditLimit: m.creditLimit.Base(), CurrencyLimit: m.currencyLimit.Base(),
			Price: m.price, PowerLimit: m.powerLimit, TripRecovery: m.tripRecovery,
			TamperKeepsSupply: m.tamperKeeps,
			Load: Load{Kind: m.load.kind, Rate: m.load.rate, Scale: m.load.scale,
				Noise: m.load.noise, Seed: m.load.seed, UTCOffset: time.Duration(m.load.offset)},
		},
		At:                  m.Now(),
		TIDs:                slices.Clone(m.tids),
		Units:               m.units,
		Currency:            m.currency,
		Delivered:           m.delivered,
		DemandRemainder:     m.demandRem,
		RelaySince:          time.Unix(0, m.relaySince).UTC(),
		Tamper:              m.tamper,
		PhaseUnbalanceLimit: m.unbalanceLimit,
		TariffRate:          m.tariffRate,
		WaterFactor:         m.waterFactor,
		Rejects:             int(m.rejects),
	}
	if m.ea == sts.EA07 {
		s.Tables = m.tables.Fingerprint()
	}
	if m.open&openTrip != 0 {
		s.TripUntil = time.Unix(0, m.tripUntil).UTC()
	}
	if m.lockedUntil > m.last {
		s.LockedUntil = time.Unix(0, m.lockedUntil).UTC()
	}
	if m.kc != nil {
		ks := &KeyChangeState{Since: time.Unix(0, m.kc.since).UTC()}
		for i, b := range m.kc.blocks {
			if m.kc.have&(1<<i) != 0 {
				ks.Sections = append(ks.Sections, fmt.Sprintf("%016X", b))
			}
		}
		s.KeyChange = ks
	}
	return s
}

// Restore rebuilds a meter from its [State]. tables are the STA tables of
// an EA07 meter (nil means the sample tables); their fingerprint must match
// the one recorded. Errors wrap [ErrConfig].
func Restore(s State, tables *sts.Tables) (*Meter, error) {
	if s.Version != stateVersion {
		return nil, fmt.Errorf("%w: state version %d, want %d", ErrConfig, s.Version,
			stateVersion)
	}
	c := s.Config
	c.Tables, c.InitialCredit = tables, 0
	c, err := c.resolved()
	if err != nil {
		return nil, fmt.Errorf("restore meter: %w", err)
	}
	m, err := build(c)
	if err != nil {
		return nil, fmt.Errorf("restore meter: %w", err)
	}
	if m.ea == sts.EA07 && s.Tables != "" && s.Tables != m.tables.Fingerprint() {
		return nil, fmt.Errorf("%w: restore meter %s: state was made with STA tables %.12s, "+
			"given %.12s", ErrConfig, m.drn, s.Tables, m.tables.Fingerprint())
	}
	if err := m.restoreDynamic(&s); err != nil {
		return nil, fmt.Errorf("%w: restore meter %s: %w", ErrConfig, m.drn, err)
	}
	return m, nil
}

func (m *Meter) restoreDynamic(s *State) error {
	if len(s.TIDs) > cap(m.tids) {
		return fmt.Errorf("%d TIDs for a memory of %d", len(s.TIDs), cap(m.tids))
	}
	for i, tid := range s.TIDs {
		if tid > sts.MaxTID || i > 0 && tid <= s.TIDs[i-1] {
			return fmt.Errorf("tid memory not ascending 24-bit values at entry %d", i)
		}
	}
	m.tids = append(m.tids, s.TIDs...)
	if !s.Units.Balanced() || !s.Currency.Balanced() {
		return fmt.Errorf("registers do not balance")
	}
	if s.DemandRemainder >= nsPerMilli || s.Rejects < 0 || s.Rejects > 255 {
		return fmt.Errorf("demand remainder %d or rejects %d out of range",
			s.DemandRemainder, s.Rejects)
	}
	m.units, m.currency, m.delivered = s.Units, s.Currency, s.Delivered
	m.demandRem, m.tamper = s.DemandRemainder, s.Tamper
	m.unbalanceLimit, m.tariffRate, m.waterFactor = s.PhaseUnbalanceLimit, s.TariffRate,
		s.WaterFactor
	m.rejects = uint8(s.Rejects)
	m.last = s.At.UnixNano()
	if !s.LockedUntil.IsZero() {
		m.lockedUntil = s.LockedUntil.UnixNano()
	}
	if s.KeyChange != nil {
		if err := m.restoreKeyChange(s.KeyChange); err != nil {
			return err
		}
	}

	m.updateSupply(m.last)
	if !s.TripUntil.IsZero() {
		m.tripUntil = s.TripUntil.UnixNano()
		m.setOpen(openTrip, true, m.last)
	}
	m.relaySince = s.RelaySince.UnixNano()
	return nil
}

func (m *Meter) restoreKeyChange(ks *KeyChangeState) error {
	kc := &keyChangeSet{since: ks.Since.UnixNano()}
	for _, h := range ks.Sections {
		b, err := strconv.ParseUint(h, 16, 64)
		if err != nil {
			return fmt.Errorf("key change section %q: %w", h, err)
		}
		f, ok := sts.ParseBlock(sts.ClassManagement, b)
		i := sectionIndex(f.SubClass)
		if !ok || !f.IsKeyChange() || i >= m.keyChangeSections() {
			return fmt.Errorf("key change section %q is not a valid section", h)
		}
		kc.blocks[i] = b
		kc.have |= 1 << i
	}
	if kc.have != 0 {
		m.kc = kc
	}
	return nil
}
