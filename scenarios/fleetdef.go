package scenarios

import (
	"io"
	"math/rand/v2"
	"slices"

	"github.com/stsfleet/stsfleet/vending"
)

// definition generates the fleet definition of a spec: the vendor's
// generator for DRNs, utilities and profiles, then the key types.
func definition(f *FleetSpec, seed uint64) (*vending.Definition, error) {
	cfg := vending.FleetConfig{Meters: f.Meters, Seed: seed, KEN: f.KEN, BaseDate: f.BaseDate}
	if f.KEN == 0 {
		// The generator reads 0 as "never expires"; a scenario means 0.
		cfg.KEN = 255
	}
	if f.Mix != nil {
		cfg.Mix = map[vending.Utility]int{}
		for k, v := range f.Mix {
			cfg.Mix[vending.Utility(k)] = v
		}
	}
	if f.Profiles != nil {
		cfg.Profiles = map[vending.Profile]int{}
		for k, v := range f.Profiles {
			cfg.Profiles[vending.Profile(k)] = v
		}
	}
	if f.FlatPrice != "" {
		for _, u := range vending.Utilities {
			cfg.Tariffs = append(cfg.Tariffs, vending.Tariff{Name: "flat-" + string(u),
				Utility: u, Currency: f.Currency, Blocks: []vending.Block{{Price: f.FlatPrice}}})
		}
	}
	def, err := vending.NewDefinition(cfg)
	if err != nil {
		return nil, err
	}
	kts := apportion(f.KeyTypes, len(def.Meters), seed)
	for i := range def.Meters {
		def.Meters[i].KEN = f.KEN
		if kts != nil {
			def.Meters[i].KT = kts[i]
		}
	}
	return def, def.Validate()
}

// apportion splits n meters between the key types in proportion to their
// weights (largest remainder) and shuffles them with the seed; nil weights
// give nil.
func apportion(weights map[string]int, n int, seed uint64) []uint8 {
	if weights == nil {
		return nil
	}
	names := make([]string, 0, len(weights))
	total := 0
	for k, w := range weights {
		names = append(names, k)
		total += w
	}
	slices.Sort(names)
	given := make([]int, len(names))
	rem := make([]int, len(names))
	left := n
	for i, k := range names {
		given[i], rem[i] = n*weights[k]/total, n*weights[k]%total
		left -= given[i]
	}
	order := seq(len(names))
	slices.SortStableFunc(order, func(a, b int) int { return rem[b] - rem[a] })
	for j := 0; left > 0; j++ {
		given[order[j%len(order)]]++
		left--
	}
	out := make([]uint8, 0, n)
	for i, k := range names {
		for range given[i] {
			out = append(out, uint8(slices.Index(keyTypes, k)))
		}
	}
	rand.New(rand.NewPCG(seed, 4)).Shuffle(len(out), func(i, j int) {
		out[i], out[j] = out[j], out[i]
	})
	return out
}

// seededReader is a deterministic byte stream for a fleet's vending keys,
// so that a scenario with a seed runs the same keys every time. These are
// simulation keys for a throw-away fleet, never a utility's.
func seededReader(def *vending.Definition, salt uint64) io.Reader {
	var seed [32]byte
	h := uint64(salt)
	for _, m := range def.Meters {
		for _, c := range []byte(m.DRN) {
			h = h*1099511628211 ^ uint64(c)
		}
	}
	for i := range 4 {
		v := h ^ uint64(i)*0x9e3779b97f4a7c15
		for j := range 8 {
			seed[i*8+j] = byte(v >> (8 * j))
		}
	}
	return rand.NewChaCha8(seed)
}
