package meter

import (
	"fmt"
	"time"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// Meter is one virtual STS prepaid meter. Create it with [New] or
// [Restore]. A Meter is not safe for concurrent use: one goroutine owns it
// and calls every method.
type Meter struct {
	cipher sts.BlockCipher
	tables *sts.Tables
	drn    string
	// tids is the TID memory, sorted ascending, capacity the depth.
	tids []uint32
	// kc holds the sections of an incomplete key change set, nil when
	// none is pending.
	kc *keyChangeSet

	units, currency Register
	delivered       Milli
	// demandRem is demand not yet a whole Milli, in W·ns (or L/h·ns).
	demandRem uint64
	// price is the cost of one Milli of service in Milli of currency.
	price         uint64
	creditLimit   Milli
	currencyLimit Milli

	// Times are Unix nanoseconds on the simulated clock.
	last        int64
	relaySince  int64
	tripUntil   int64
	lockedUntil int64

	kcTimeout    time.Duration
	lockPeriod   time.Duration
	tripRecovery time.Duration

	load loadModel

	key            [16]byte
	sgc            uint32
	powerLimit     uint32
	unbalanceLimit uint32
	tariffRate     uint16
	waterFactor    uint16
	mfr            uint16
	ea             sts.EA
	base           sts.BaseDate
	kt, krn, ken   uint8
	ti             uint8
	util           Utility
	open           openReasons
	rejects        uint8
	lockAttempts   uint8

	mfr4            bool
	bothTest        bool
	tariffSupported bool
	factorSupported bool
	tamperKeeps     bool
	tamper          bool
}

// Result is what the meter reports for one token.
type Result struct {
	// Outcome is the meter's answer.
	Outcome sts.Outcome
	// Decoded reports whether the token decrypted with a matching CRC, so
	// that Class and SubClass are known.
	Decoded bool
	// Class and SubClass of a decoded token.
	Class    sts.Class
	SubClass uint8
	// TID of a decoded token that carries one, else 0.
	TID uint32
	// Credited is the credit an accepted class 0 token added to the
	// register of its sub-class.
	Credited Milli
	// ClearedUnits and ClearedCurrency are what an accepted ClearCredit
	// token removed from the units and currency registers.
	ClearedUnits, ClearedCurrency Milli
	// Display is what an accepted class 1 token shows.
	Display Display
	// Sections is the number of key change sections held after a key
	// change section: 1 to 3 for kct_pending, 0 once the set took effect.
	Sections int
}

// New makes a meter from cfg, installed at the simulated time now: the TID
// memory holds the manufacture floor, the units register cfg.InitialCredit,
// and consumption starts at now. Errors wrap [ErrConfig].
func New(cfg Config, now time.Time) (*Meter, error) {
	c, err := cfg.resolved()
	if err != nil {
		return nil, err
	}
	m, err := build(c)
	if err != nil {
		return nil, err
	}
	t := now.UnixNano()
	m.last, m.relaySince = t, t

	made := c.Manufactured
	if made.IsZero() {
		made = now.Add(-DefaultManufactureAge)
	}
	m.tids = append(m.tids, floorTID(made, m.base))

	m.units.Remaining = Milli(c.InitialCredit) * milli
	m.units.Credited = m.units.Remaining
	m.updateSupply(t)
	return m, nil
}

// build makes a meter with the identity and behaviour of a resolved config
// and empty dynamic state.
func build(c Config) (*Meter, error) {
	m := &Meter{
		tables:          c.Tables,
		tripUntil:       never,
		lockedUntil:     never,
		drn:             c.DRN,
		tids:            make([]uint32, 0, c.TIDMemory),
		price:           c.Price,
		creditLimit:     Milli(c.CreditLimit) * milli,
		currencyLimit:   Milli(c.CurrencyLimit) * milli,
		kcTimeout:       c.KeyChangeTimeout,
		lockPeriod:      c.Lockout.Period,
		tripRecovery:    c.TripRecovery,
		load:            newLoadModel(c.Utility, c.Load),
		sgc:             c.SGC,
		powerLimit:      c.PowerLimit,
		mfr:             c.MfrCode,
		ea:              c.EA,
		base:            c.BaseDate,
		kt:              c.KeyType,
		krn:             c.KRN,
		ken:             *c.KEN,
		ti:              c.TariffIndex,
		util:            c.Utility,
		lockAttempts:    uint8(c.Lockout.Attempts),
		mfr4:            len(c.DRN) == 13,
		bothTest:        c.BothTestSubClasses,
		tariffSupported: c.SupportsTariffRate,
		factorSupported: c.SupportsWaterFactor,
		tamperKeeps:     c.TamperKeepsSupply,
	}
	if m.tables == nil && m.ea == sts.EA07 {
		m.tables = sts.SampleTables()
	}
	if err := m.setKey(c.Key); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return m, nil
}

// setKey installs a decoder key of the meter's algorithm.
func (m *Meter) setKey(key []byte) error {
	c, err := sts.NewCipher(m.ea, key, m.tables)
	if err != nil {
		return err
	}
	m.cipher = c
	m.key = [16]byte{}
	copy(m.key[:], key)
	return nil
}

// floorTID is the TID of the manufacture time: 0 before the base date,
// the last TID after its range.
func floorTID(made time.Time, base sts.BaseDate) uint32 {
	if !made.After(base.Time()) {
		return 0
	}
	if made.After(base.Last()) {
		return sts.MaxTID
	}
	tid, _ := sts.TIDAt(made, base)
	return tid
}

// DRN returns the meter's decoder reference number.
func (m *Meter) DRN() string { return m.drn }

// Utility returns the service the meter supplies.
func (m *Meter) Utility() Utility { return m.util }

// Now returns the simulated time the meter has been advanced to.
func (m *Meter) Now() time.Time { return time.Unix(0, m.last).UTC() }

// Enter processes a token typed at the simulated time now. The meter first
// advances its consumption to now, then checks the keypad lock and the
// token in the order of PROTOCOL.md §10 (see the package documentation).
// Enter never panics; every input yields one of the outcomes of
// [sts.Outcome].
func (m *Meter) Enter(token string, now time.Time) Result {
	t := m.clamp(now)
	m.advanceTo(t)
	if t < m.lockedUntil {
		return Result{Outcome: sts.KeypadLocked}
	}
	r := m.process(token, t)
	m.countForLockout(r.Outcome, t)
	return r
}

// clamp converts now to Unix nanoseconds, holding the clock at the last
// time seen when now lies before it: simulated time never runs back.
func (m *Meter) clamp(now time.Time) int64 {
	return max(now.UnixNano(), m.last)
}

// countForLockout counts consecutive rejections and locks the keypad when
// they reach the configured number.
func (m *Meter) countForLockout(o sts.Outcome, t int64) {
	if m.lockAttempts == 0 {
		return
	}
	if o.Accepted() {
		m.rejects = 0
		return
	}
	m.rejects++
	if m.rejects >= m.lockAttempts {
		m.rejects = 0
		m.lockedUntil = t + int64(m.lockPeriod)
	}
}

// process runs the checks of one token up to its class handler.
func (m *Meter) process(token string, t int64) Result {
	// 1. Format.
	tok, err := sts.ParseToken(token)
	if err != nil {
		return Result{Outcome: sts.FormatError}
	}

	// 2. Class: class 3 is reserved and no meter implements it.
	class := tok.Class()
	if class == sts.ClassReserved {
		return Result{Outcome: sts.FunctionError}
	}

	// 3. Decrypt (classes 0 and 2) and 4. CRC: another meter's token, a
	// typing error or a token under another key all end here.
	f, ok, err := sts.Decode(m.cipher, tok)
	if err != nil || !ok {
		return Result{Outcome: sts.CRCError}
	}
	r := Result{Decoded: true, Class: f.Class, SubClass: f.SubClass}
	if f.HasTID() {
		r.TID = f.TID
	}

	switch f.Class {
	case sts.ClassCredit:
		m.credit(&f, &r, t)
	case sts.ClassTest:
		m.test(&f, &r)
	default:
		if f.IsKeyChange() {
			m.keyChange(&f, m.cipher.DecryptBlock(tok.Block()), &r, t)
		} else {
			m.manage(&f, &r, t)
		}
	}
	return r
}

// checkTID applies the TID and KEN checks of classes 0 and 2 (IEC 62055-41
// §7.3.7, PROTOCOL.md §4): older than the whole memory, already used, then
// past the key's expiry number.
func (m *Meter) checkTID(tid uint32) sts.Outcome {
	if o := m.tidOutcome(tid); o != sts.Accept {
		return o
	}
	if sts.KeyExpired(tid, m.ken) {
		return sts.KeyExpiredError
	}
	return sts.Accept
}
