package meter

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// ErrConfig reports a [Config] or [State] that cannot make a meter.
var ErrConfig = errors.New("invalid meter config")

// Defaults applied by [New] to zero [Config] fields.
const (
	// DefaultTIDMemory is the number of TIDs a meter remembers.
	DefaultTIDMemory = 50
	// DefaultManufactureAge is how long before installation a meter was
	// made when Config.Manufactured is zero.
	DefaultManufactureAge = 30 * 24 * time.Hour
	// DefaultKeyChangeTimeout is how long a meter keeps an incomplete key
	// change set.
	DefaultKeyChangeTimeout = 10 * time.Minute
	// DefaultLockoutPeriod is how long the keypad stays locked.
	DefaultLockoutPeriod = 30 * time.Minute
	// DefaultCreditLimit is the capacity of a units register in base units:
	// 999 999.9 kWh or m³, what an 8-digit display shows.
	DefaultCreditLimit = 9_999_999
	// DefaultCurrencyLimit is the capacity of a currency register in base
	// units of 0.00001: 1 000 000 000 currency units.
	DefaultCurrencyLimit = 100_000_000_000_000
	// DefaultPrice is the price of one base unit of the service (0.1 kWh
	// or 0.1 m³) in 0.00001 currency units: 25 currency units per kWh or m³.
	DefaultPrice = 250_000
	// DefaultTripRecovery is how long the relay stays open after the
	// power limit trips it before the meter tries to reconnect.
	DefaultTripRecovery = 5 * time.Minute
	// DefaultLoadRate is the demand of a constant load: 1 kW or 1000 L/h.
	DefaultLoadRate = 1000
	// DefaultNoise is the per-slot noise of the load profile in permille.
	DefaultNoise = 300
)

// Limits on configuration values.
const (
	maxTIDMemory = 4096
	maxLoadRate  = 1_000_000
)

// Config is the identity, keys and behaviour of one virtual meter. The zero
// value of every field but DRN and Key has a documented meaning; [New] fills
// in the defaults. JSON field names are those of the persisted [State].
type Config struct {
	// DRN is the decoder reference number: 11 digits (2-digit
	// manufacturer code) or 13 (4-digit code), the last a Luhn check
	// digit. Required.
	DRN string `json:"drn"`
	// MfrCode is the manufacturer code the meter compares class 1 tokens
	// with: at most 99 for an 11-digit DRN, 9999 for a 13-digit one. Zero
	// means the DRN's leading digits ([sts.MfrCodeOfDRN]).
	MfrCode uint16 `json:"mfr_code,omitempty"`
	// SGC is the supply group code, 0 to 999999.
	SGC uint32 `json:"sgc"`
	// TariffIndex is the tariff index of the key, 0 to 99.
	TariffIndex uint8 `json:"ti"`
	// KRN is the key revision number, 1 to 9. Zero means 1.
	KRN uint8 `json:"krn,omitempty"`
	// KeyType is the type of the decoder key, 0 to 3 ([sts.KeyTypeDITK]
	// and so on). Zero is DITK, the key a meter leaves the factory with.
	KeyType uint8 `json:"kt"`
	// KEN is the key expiry number. Nil means 255, no expiry; 0 refuses
	// every TID from 65 536 minutes (about 45 days) after the base date.
	KEN *uint8 `json:"ken,omitempty"`
	// BaseDate is the base date TIDs count from. Zero means
	// [sts.DefaultBaseDate].
	BaseDate sts.BaseDate `json:"base_date,omitempty"`
	// EA is the encryption algorithm, [sts.EA07] or [sts.EA11]. Zero
	// means EA07.
	EA sts.EA `json:"ea,omitempty"`
	// Key is the decoder key: 8 bytes for EA07, 16 for EA11. Required.
	// New copies it.
	Key []byte `json:"key"`
	// Tables are the STA tables for EA07. Nil means the sample tables.
	// They are not serialised; [Restore] takes them as an argument.
	Tables *sts.Tables `json:"-"`
	// Utility decides the credit sub-classes the meter takes. Zero is
	// electricity.
	Utility Utility `json:"utility"`
	// TIDMemory is how many TIDs the meter remembers, 1 to 4096. Zero
	// means [DefaultTIDMemory].
	TIDMemory int `json:"tid_memory,omitempty"`
	// Manufactured is the manufacture time whose TID pre-fills the TID
	// memory as a floor: older tokens are old_error. Zero means
	// [DefaultManufactureAge] before the installation time given to New;
	// a time at or before the base date gives floor 0.
	Manufactured time.Time `json:"manufactured,omitzero"`
	// BothTestSubClasses makes the meter take class 1 tokens of both
	// sub-classes, not only the one for its code length.
	BothTestSubClasses bool `json:"both_test_subclasses,omitempty"`
	// SupportsTariffRate makes the meter accept SetTariffRate tokens and
	// store their value; otherwise they are function_error.
	SupportsTariffRate bool `json:"supports_tariff_rate,omitempty"`
	// SupportsWaterFactor makes the meter accept SetWaterMeterFactor
	// tokens and store their value; otherwise they are function_error.
	SupportsWaterFactor bool `json:"supports_water_factor,omitempty"`
	// KeyChangeTimeout is how long, from its first section, an incomplete
	// key change set is kept. Zero means [DefaultKeyChangeTimeout].
	KeyChangeTimeout time.Duration `json:"key_change_timeout,omitempty"`
	// Lockout locks the keypad after repeated rejections. The zero value
	// never locks.
	Lockout Lockout `json:"lockout,omitzero"`
	// CreditLimit is the capacity of the units register in base units
	// (0.1 kWh or 0.1 m³); credit beyond it is overflow_error. Zero means
	// [DefaultCreditLimit].
	CreditLimit uint64 `json:"credit_limit,omitempty"`
	// CurrencyLimit is the capacity of the currency register in base units
	// of 0.00001. Zero means [DefaultCurrencyLimit].
	CurrencyLimit uint64 `json:"currency_limit,omitempty"`
	// Price is what one base unit of the service (0.1 kWh or 0.1 m³)
	// costs from the currency register, in 0.00001 currency units: 25
	// per kWh is 250000. Zero means [DefaultPrice].
	Price uint64 `json:"price,omitempty"`
	// InitialCredit is credit in the units register at installation, in
	// base units; it counts as credited. Zero means none, and the relay
	// starts open.
	InitialCredit uint64 `json:"initial_credit,omitempty"`
	// PowerLimit is the maximum demand in W (or L/h for water and gas)
	// before the relay trips. Zero means no limit.
	PowerLimit uint32 `json:"power_limit,omitempty"`
	// TripRecovery is how long the relay stays open after a power-limit
	// trip before the meter reconnects and checks the demand again, at
	// least a second. Zero means [DefaultTripRecovery].
	TripRecovery time.Duration `json:"trip_recovery,omitempty"`
	// TamperKeepsSupply keeps the relay closed while the tamper flag is
	// raised. By default a tamper opens the relay until a ClearTamper
	// token.
	TamperKeepsSupply bool `json:"tamper_keeps_supply,omitempty"`
	// Load is the consumption model. The zero value is the utility's
	// daily profile seeded from the DRN.
	Load Load `json:"load,omitzero"`
}

// Lockout configures the keypad lock-out after consecutive rejections.
type Lockout struct {
	// Attempts is the number of consecutive rejected tokens that locks
	// the keypad, 0 to 255. Zero never locks.
	Attempts int `json:"attempts,omitempty"`
	// Period is how long the keypad stays locked. Zero means
	// [DefaultLockoutPeriod].
	Period time.Duration `json:"period,omitempty"`
}

// LoadKind selects a consumption model.
type LoadKind uint8

// Consumption models.
const (
	// LoadProfile follows the utility's daily profile, scaled per meter,
	// with reproducible noise.
	LoadProfile LoadKind = iota
	// LoadConstant draws Load.Rate all the time.
	LoadConstant
	// LoadNone draws nothing: a meter used only for tokens.
	LoadNone
)

var loadKindNames = [...]string{"profile", "constant", "none"}

// String returns "profile", "constant" or "none".
func (k LoadKind) String() string {
	if int(k) < len(loadKindNames) {
		return loadKindNames[k]
	}
	return fmt.Sprintf("LoadKind(%d)", uint8(k))
}

// MarshalText implements encoding.TextMarshaler.
func (k LoadKind) MarshalText() ([]byte, error) {
	if int(k) >= len(loadKindNames) {
		return nil, fmt.Errorf("marshal load kind %d: unknown", uint8(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *LoadKind) UnmarshalText(b []byte) error {
	for i, n := range loadKindNames {
		if n == string(b) {
			*k = LoadKind(i)
			return nil
		}
	}
	return fmt.Errorf("load kind %q: want profile, constant or none", b)
}

// Load configures the consumption model. Demand is in W for electricity
// and in L/h for water and gas.
type Load struct {
	// Kind selects the model. Zero is [LoadProfile].
	Kind LoadKind `json:"kind,omitempty"`
	// Rate is the demand of a [LoadConstant] load, up to 1 000 000. Zero
	// means [DefaultLoadRate].
	Rate uint32 `json:"rate,omitempty"`
	// Scale multiplies the utility's typical household profile, in
	// permille. Zero means a value from 500 to 2000 drawn from the seed.
	Scale uint32 `json:"scale,omitempty"`
	// Noise is the half-width of the per-slot noise in permille, up to
	// 900. Zero means [DefaultNoise].
	Noise uint32 `json:"noise,omitempty"`
	// Seed makes the profile reproducible. Zero means a seed derived from
	// the DRN, so every meter differs.
	Seed uint64 `json:"seed,omitempty"`
	// UTCOffset is the local time offset of the daily profile, within a
	// day either way. Zero means UTC.
	UTCOffset time.Duration `json:"utc_offset,omitempty"`
}

// Utility is the service a meter supplies.
type Utility uint8

// Utilities.
const (
	Electricity Utility = iota
	Water
	Gas
)

var utilityNames = [...]string{"electricity", "water", "gas"}

// ParseUtility reads "electricity", "water" or "gas".
func ParseUtility(s string) (Utility, error) {
	for i, n := range utilityNames {
		if strings.EqualFold(n, s) {
			return Utility(i), nil
		}
	}
	return 0, fmt.Errorf("utility %q: want electricity, water or gas", s)
}

// String returns the utility's name.
func (u Utility) String() string {
	if u.valid() {
		return utilityNames[u]
	}
	return fmt.Sprintf("Utility(%d)", uint8(u))
}

func (u Utility) valid() bool { return int(u) < len(utilityNames) }

// MarshalText implements encoding.TextMarshaler.
func (u Utility) MarshalText() ([]byte, error) {
	if !u.valid() {
		return nil, fmt.Errorf("marshal utility %d: unknown", uint8(u))
	}
	return []byte(u.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (u *Utility) UnmarshalText(b []byte) error {
	v, err := ParseUtility(string(b))
	if err != nil {
		return err
	}
	*u = v
	return nil
}

// UnitSubClass returns the class 0 sub-class of the utility's credit in
// units: 0 electricity, 1 water, 2 gas (PROTOCOL.md §3.2).
func (u Utility) UnitSubClass() uint8 { return uint8(u) }

// CurrencySubClass returns the class 0 sub-class of the utility's credit in
// currency: 4, 5 or 6.
func (u Utility) CurrencySubClass() uint8 { return uint8(u) + sts.SubElectricityCurrency }

// Unit returns the unit of the utility's units register: "kWh" or "m3".
func (u Utility) Unit() string { return UnitOf(u.UnitSubClass()) }

// UnitOf returns the unit of the register of a credit sub-class: "kWh",
// "m3" or "min" for units, "" for the currency sub-classes 4 to 7, whose
// unit is the currency.
func UnitOf(subclass uint8) string {
	switch subclass {
	case sts.SubElectricity:
		return "kWh"
	case sts.SubWater, sts.SubGas:
		return "m3"
	case sts.SubTime:
		return "min"
	}
	return ""
}

// IsCurrency reports whether a credit sub-class counts currency.
func IsCurrency(subclass uint8) bool {
	return subclass >= sts.SubElectricityCurrency && subclass <= sts.SubTimeCurrency
}

// resolved is the validated configuration with its defaults applied.
func (c Config) resolved() (Config, error) {
	fail := func(format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	mfr, err := sts.MfrCodeOfDRN(c.DRN)
	if err != nil {
		return fail("drn: %v", err)
	}
	maxMfr := uint16(99)
	if len(c.DRN) == 13 {
		maxMfr = 9999
	}
	switch {
	case c.MfrCode == 0:
		c.MfrCode = mfr
	case c.MfrCode > maxMfr:
		return fail("mfr code %d: a %d-digit DRN has a code up to %d", c.MfrCode, len(c.DRN),
			maxMfr)
	}
	if c.SGC > 999_999 {
		return fail("sgc %d: want 6 digits", c.SGC)
	}
	if c.TariffIndex > 99 {
		return fail("tariff index %d: want 0 to 99", c.TariffIndex)
	}
	if c.KRN == 0 {
		c.KRN = 1
	}
	if c.KRN > 9 {
		return fail("krn %d: want 1 to 9", c.KRN)
	}
	if c.KeyType > 3 {
		return fail("key type %d: want 0 to 3", c.KeyType)
	}
	if c.KEN == nil {
		ken := uint8(255)
		c.KEN = &ken
	} else {
		ken := *c.KEN
		c.KEN = &ken
	}
	if c.BaseDate == 0 {
		c.BaseDate = sts.DefaultBaseDate
	}
	if !c.BaseDate.Valid() {
		return fail("base date %d: want 93, 14 or 35", uint8(c.BaseDate))
	}
	if c.EA == 0 {
		c.EA = sts.EA07
	}
	if c.EA != sts.EA07 && c.EA != sts.EA11 {
		return fail("encryption algorithm %s: want 07 or 11", c.EA)
	}
	if len(c.Key) != c.EA.KeyLen() {
		return fail("decoder key has %d bytes, EA%s wants %d", len(c.Key), c.EA, c.EA.KeyLen())
	}
	c.Key = append([]byte(nil), c.Key...)
	if !c.Utility.valid() {
		return fail("utility %d: unknown", uint8(c.Utility))
	}
	return c.resolveBehaviour()
}

// resolveBehaviour validates and defaults the fields past the identity.
func (c Config) resolveBehaviour() (Config, error) {
	fail := func(format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.TIDMemory == 0:
		c.TIDMemory = DefaultTIDMemory
	case c.TIDMemory < 0 || c.TIDMemory > maxTIDMemory:
		return fail("tid memory %d: want 1 to %d", c.TIDMemory, maxTIDMemory)
	}
	if c.KeyChangeTimeout < 0 || c.Lockout.Period < 0 || c.TripRecovery < 0 {
		return fail("negative duration")
	}
	if c.KeyChangeTimeout == 0 {
		c.KeyChangeTimeout = DefaultKeyChangeTimeout
	}
	if c.Lockout.Attempts < 0 || c.Lockout.Attempts > 255 {
		return fail("lockout attempts %d: want 0 to 255", c.Lockout.Attempts)
	}
	if c.Lockout.Period == 0 {
		c.Lockout.Period = DefaultLockoutPeriod
	}
	switch {
	case c.TripRecovery == 0:
		c.TripRecovery = DefaultTripRecovery
	case c.TripRecovery < time.Second:
		return fail("trip recovery %v: want at least 1s", c.TripRecovery)
	}
	if c.CreditLimit == 0 {
		c.CreditLimit = DefaultCreditLimit
	}
	if c.CurrencyLimit == 0 {
		c.CurrencyLimit = DefaultCurrencyLimit
	}
	// Registers count thousandths of a base unit in a uint64.
	if c.CreditLimit > maxRegister/milli || c.CurrencyLimit > maxRegister/milli {
		return fail("credit limit above %d base units", maxRegister/milli)
	}
	if c.InitialCredit > c.CreditLimit {
		return fail("initial credit %d above the credit limit %d", c.InitialCredit,
			c.CreditLimit)
	}
	if c.Price == 0 {
		c.Price = DefaultPrice
	}
	if c.Price > maxRegister/milli {
		return fail("price %d too large", c.Price)
	}
	return c.resolveLoad()
}

func (c Config) resolveLoad() (Config, error) {
	l := &c.Load
	if int(l.Kind) >= len(loadKindNames) {
		return Config{}, fmt.Errorf("%w: load kind %d: unknown", ErrConfig, l.Kind)
	}
	if l.Rate == 0 {
		l.Rate = DefaultLoadRate
	}
	if l.Noise == 0 {
		l.Noise = DefaultNoise
	}
	if l.UTCOffset < -24*time.Hour || l.UTCOffset > 24*time.Hour {
		return Config{}, fmt.Errorf("%w: load utc offset %v: want within a day", ErrConfig,
			l.UTCOffset)
	}
	if l.Rate > maxLoadRate || l.Noise > 900 || l.Scale > 100_000 {
		return Config{}, fmt.Errorf("%w: load rate %d, noise %d or scale %d too large",
			ErrConfig, l.Rate, l.Noise, l.Scale)
	}
	if l.Seed == 0 {
		l.Seed = seedOf(c.DRN)
	}
	if l.Scale == 0 {
		l.Scale = uint32(500 + mix(l.Seed, 0x5ca1e)%1501)
	}
	return c, nil
}
