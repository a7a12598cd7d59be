package vending

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// Profile is a pairing of encryption algorithm and key generation
// algorithm a meter can be made with.
type Profile string

// The profiles offered.
const (
	// ProfileEA07DKGA02 is STA with a DES-derived key, the workhorse of
	// meters in the field.
	ProfileEA07DKGA02 Profile = "ea07-dkga02"
	// ProfileEA07DKGA04 is STA with an HMAC-SHA-256-derived key.
	ProfileEA07DKGA04 Profile = "ea07-dkga04"
	// ProfileEA11DKGA04 is MISTY1 with a 128-bit HMAC-SHA-256-derived
	// key, the edition 3 choice.
	ProfileEA11DKGA04 Profile = "ea11-dkga04"
)

func (p Profile) algorithms() (sts.EA, sts.DKGA, bool) {
	switch p {
	case ProfileEA07DKGA02:
		return sts.EA07, sts.DKGA02, true
	case ProfileEA07DKGA04:
		return sts.EA07, sts.DKGA04, true
	case ProfileEA11DKGA04:
		return sts.EA11, sts.DKGA04, true
	}
	return 0, 0, false
}

// Defaults of [FleetConfig].
const (
	// DefaultMfrCode is the manufacturer code of generated meters.
	DefaultMfrCode = 47
	// DefaultSGC is the supply group code of generated meters.
	DefaultSGC = "100001"
)

// DefaultMix is the utility mix of a generated fleet: 80 % electricity,
// 15 % water, 5 % gas.
var DefaultMix = map[Utility]int{Electricity: 80, Water: 15, Gas: 5}

// DefaultProfiles is the key mix of a generated fleet: most meters on
// EA07/DKGA02, a share on EA11/DKGA04.
var DefaultProfiles = map[Profile]int{ProfileEA07DKGA02: 70, ProfileEA11DKGA04: 30}

// FleetConfig describes a fleet to generate. Everything but the vending
// keys follows from it deterministically: the same config gives the same
// DRNs, utilities and profiles.
type FleetConfig struct {
	// Meters is the number of meters, at least 1.
	Meters int
	// Mix weighs the utilities; meters are split in these proportions
	// (largest remainder) and shuffled. Nil means [DefaultMix].
	Mix map[Utility]int
	// Profiles weighs the EA/DKGA pairings the same way. Nil means
	// [DefaultProfiles].
	Profiles map[Profile]int
	// Seed seeds the generator; any value, zero included, is a seed.
	Seed uint64
	// MfrCode is the manufacturer code: 2 digits give 11-digit DRNs, 4
	// digits 13-digit ones. Zero means [DefaultMfrCode].
	MfrCode uint16
	// SGC is the supply group code. Empty means [DefaultSGC].
	SGC string
	// TI is the tariff index of every key, 0 to 99. Zero is 00.
	TI uint8
	// KEN is the key expiry number. Zero means 255, never expiring.
	KEN uint8
	// BaseDate is the base date. Zero means [sts.DefaultBaseDate].
	BaseDate sts.BaseDate
	// Tariffs are the tariffs; each meter gets the first one for its
	// utility. Nil means [DefaultTariffs].
	Tariffs []Tariff
	// Random is the source of the vending keys. Nil means crypto/rand.
	Random io.Reader
}

// Fleet is a generated fleet: what a utility and a manufacturer between
// them hold for it.
type Fleet struct {
	// Definition is the fleet definition, without keys.
	Definition *Definition
	// Keys is the vending key store, one key per DKGA.
	Keys *KeyStore
	// Injection is every meter's decoder key, derived from Keys.
	Injection Injection
}

// File names written by [Fleet.Write].
const (
	FleetFile     = "fleet.json"
	KeyStoreFile  = "vending-keys.json"
	InjectionFile = "injection.json"
)

// NewFleet generates a fleet in memory: the definition, a key store with a
// fresh vending key for DKGA02 and DKGA04, and the injection derived from
// it.
func NewFleet(cfg FleetConfig) (*Fleet, error) {
	def, err := NewDefinition(cfg)
	if err != nil {
		return nil, err
	}
	ks, err := NewKeyStore(cfg.Random, sts.DKGA02, sts.DKGA04)
	if err != nil {
		return nil, fmt.Errorf("new fleet: %w", err)
	}
	inj, err := BuildInjection(def, ks)
	if err != nil {
		return nil, fmt.Errorf("new fleet: %w", err)
	}
	return &Fleet{Definition: def, Keys: ks, Injection: inj}, nil
}

// NewDefinition generates the definition part of [NewFleet], which needs
// no randomness beyond the seed.
func NewDefinition(cfg FleetConfig) (*Definition, error) {
	if cfg.Meters < 1 {
		return nil, fmt.Errorf("new fleet: %d meters: want at least 1", cfg.Meters)
	}
	if cfg.Mix == nil {
		cfg.Mix = DefaultMix
	}
	if cfg.Profiles == nil {
		cfg.Profiles = DefaultProfiles
	}
	if cfg.MfrCode == 0 {
		cfg.MfrCode = DefaultMfrCode
	}
	if cfg.SGC == "" {
		cfg.SGC = DefaultSGC
	}
	if cfg.KEN == 0 {
		cfg.KEN = 255
	}
	if cfg.BaseDate == 0 {
		cfg.BaseDate = sts.DefaultBaseDate
	}
	if cfg.Tariffs == nil {
		cfg.Tariffs = DefaultTariffs()
	}
	if cfg.MfrCode > 9999 {
		return nil, fmt.Errorf("new fleet: manufacturer code %d: want 2 or 4 digits", cfg.MfrCode)
	}
	utilities, err := apportion(cfg.Mix, cfg.Meters, rand.New(rand.NewPCG(cfg.Seed, 1)))
	if err != nil {
		return nil, fmt.Errorf("new fleet: mix: %w", err)
	}
	profiles, err := apportion(cfg.Profiles, cfg.Meters, rand.New(rand.NewPCG(cfg.Seed, 2)))
	if err != nil {
		return nil, fmt.Errorf("new fleet: profiles: %w", err)
	}
	tariffOf := map[Utility]string{}
	for _, t := range cfg.Tariffs {
		if tariffOf[t.Utility] == "" {
			tariffOf[t.Utility] = t.Name
		}
	}
	drns := newDRNs(cfg.MfrCode, cfg.Meters, rand.New(rand.NewPCG(cfg.Seed, 3)))
	def := &Definition{Version: DefinitionVersion, Tariffs: cfg.Tariffs,
		Meters: make([]Meter, cfg.Meters)}
	for i := range def.Meters {
		ea, dkga, ok := profiles[i].algorithms()
		if !ok {
			return nil, fmt.Errorf("new fleet: unknown profile %q", profiles[i])
		}
		u := utilities[i]
		if tariffOf[u] == "" {
			return nil, fmt.Errorf("new fleet: no tariff for %s meters", u)
		}
		def.Meters[i] = Meter{DRN: drns[i], Utility: u, MfrCode: cfg.MfrCode, SGC: cfg.SGC,
			TI: cfg.TI, KRN: 1, KT: sts.KeyTypeDUTK, KEN: cfg.KEN, BaseDate: cfg.BaseDate,
			EA: ea, DKGA: dkga, Tariff: tariffOf[u]}
	}
	if err := def.Validate(); err != nil {
		return nil, fmt.Errorf("new fleet: %w", err)
	}
	return def, nil
}

// apportion splits n items between the keys of weights in proportion
// (largest remainder, ties to the smaller key) and returns them shuffled
// with r.
func apportion[K ~string](weights map[K]int, n int, r *rand.Rand) ([]K, error) {
	keys := make([]K, 0, len(weights))
	total := 0
	for k, w := range weights {
		if w < 0 {
			return nil, fmt.Errorf("%s=%d: weights cannot be negative", k, w)
		}
		if w > 0 {
			keys = append(keys, k)
			total += w
		}
	}
	if total == 0 {
		return nil, errors.New("no positive weight")
	}
	slices.Sort(keys)
	counts := make([]int, len(keys))
	rem := make([]int, len(keys))
	given := 0
	for i, k := range keys {
		counts[i] = n * weights[k] / total
		rem[i] = n * weights[k] % total
		given += counts[i]
	}
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return rem[order[a]] > rem[order[b]] })
	for i := 0; given < n; i++ {
		counts[order[i%len(order)]]++
		given++
	}
	out := make([]K, 0, n)
	for i, k := range keys {
		for range counts[i] {
			out = append(out, k)
		}
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out, nil
}

// newDRNs draws n distinct DRNs: the manufacturer code, an 8-digit
// decoder serial number and the Luhn check digit (PROTOCOL.md §8.1).
func newDRNs(mfr uint16, n int, r *rand.Rand) []string {
	width := 2
	if mfr > 99 {
		width = 4
	}
	prefix := fmt.Sprintf("%0*d", width, mfr)
	seen := make(map[uint32]bool, n)
	out := make([]string, 0, n)
	for len(out) < n {
		dsn := r.Uint32N(100_000_000)
		if seen[dsn] {
			continue
		}
		seen[dsn] = true
		body := prefix + fmt.Sprintf("%08d", dsn)
		check, _ := sts.LuhnCheckDigit(body)
		out = append(out, body+string(check))
	}
	return out
}

// ParseMix reads a utility mix such as "electricity=80,water=15,gas=5".
func ParseMix(s string) (map[Utility]int, error) {
	w, err := parseWeights(s)
	if err != nil {
		return nil, fmt.Errorf("mix: %w", err)
	}
	out := map[Utility]int{}
	for k, v := range w {
		u, err := ParseUtility(k)
		if err != nil {
			return nil, fmt.Errorf("mix: %w", err)
		}
		out[u] = v
	}
	return out, nil
}

// ParseProfiles reads a key mix such as "ea07-dkga02=70,ea11-dkga04=30".
func ParseProfiles(s string) (map[Profile]int, error) {
	w, err := parseWeights(s)
	if err != nil {
		return nil, fmt.Errorf("profiles: %w", err)
	}
	out := map[Profile]int{}
	for k, v := range w {
		p := Profile(strings.ToLower(k))
		if _, _, ok := p.algorithms(); !ok {
			return nil, fmt.Errorf("profiles: %q: want %s, %s or %s", k, ProfileEA07DKGA02,
				ProfileEA07DKGA04, ProfileEA11DKGA04)
		}
		out[p] = v
	}
	return out, nil
}

func parseWeights(s string) (map[string]int, error) {
	out := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		name, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("%q: want name=weight", part)
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q: weight must be a whole number, 0 or more", part)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%q appears twice", name)
		}
		out[name] = n
	}
	return out, nil
}

// Write writes the three files of the fleet into dir: the definition
// (0644), the key store and the injection (both 0600), each atomically.
// Existing files are refused unless overwrite is set: replacing a key
// store orphans every meter made with it.
func (f *Fleet) Write(dir string, overwrite bool) (paths []string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("write fleet: %w", err)
	}
	paths = []string{filepath.Join(dir, FleetFile), filepath.Join(dir, KeyStoreFile),
		filepath.Join(dir, InjectionFile)}
	if !overwrite {
		for _, p := range paths {
			if _, err := os.Lstat(p); err == nil {
				return nil, fmt.Errorf("write fleet: %s exists: %w", p, os.ErrExist)
			}
		}
	}
	if err := f.Keys.Write(paths[1]); err != nil {
		return nil, fmt.Errorf("write fleet: %w", err)
	}
	if err := f.Injection.Write(paths[2]); err != nil {
		return nil, fmt.Errorf("write fleet: %w", err)
	}
	if err := f.Definition.Write(paths[0]); err != nil {
		return nil, fmt.Errorf("write fleet: %w", err)
	}
	return paths, nil
}
