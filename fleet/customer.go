package fleet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/stsfleet/stsfleet/meter"
	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/vending"
)

// PurchasePolicy is how the customers of the fleet buy credit: when the
// balance of a meter falls below a threshold of its utility, its customer
// buys an amount of money drawn from the utility's distribution, once at a
// time. The zero value uses [DefaultBelow] and [DefaultAmounts].
type PurchasePolicy struct {
	// Below is the balance, by utility, under which a customer buys.
	// A utility missing from the map takes its [DefaultBelow].
	Below map[vending.Utility]meter.Milli
	// Amounts draws the money paid, in the currency of the meter's
	// tariff, by utility. A utility missing from the map takes its
	// [DefaultAmounts].
	Amounts map[vending.Utility]Sampler
	// Off stops customers from buying: tokens reach the meters only from
	// outside (a vend through the vendor's API, a scenario).
	Off bool
}

// Sampler draws the money a customer pays for one purchase, as a decimal
// such as "200.00". A purchase model fitted from receipts is one; a
// [Choice] is the simplest. Each meter draws with its own *rand.Rand.
type Sampler interface {
	Sample(r *rand.Rand) string
}

// Timing is implemented by a [Sampler] that also knows when customers buy:
// once a balance falls below the threshold, the customer buys at the time
// BuyAt returns rather than at the next step. A purchase model fitted from
// receipts is one: people buy at their usual hours.
type Timing interface {
	// BuyAt returns the simulated time, not before low, at which a
	// customer whose balance fell low at low buys.
	BuyAt(r *rand.Rand, low time.Time) time.Time
}

// Choice draws one of its amounts, each equally likely; repeat an amount
// to weight it.
type Choice []string

// Sample implements [Sampler].
func (c Choice) Sample(r *rand.Rand) string { return c[r.IntN(len(c))] }

// ParseChoice reads amounts separated by commas, such as "100,200,500".
// Each is a money decimal with at most two decimals.
func ParseChoice(s string) (Choice, error) {
	var c Choice
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		if _, err := parseExact(a, 2); err != nil {
			return nil, fmt.Errorf("amount %q: %w", a, err)
		}
		c = append(c, a)
	}
	return c, nil
}

// ParseUnits reads a balance in kWh or m3, such as "2.5", as Milli.
func ParseUnits(s string) (meter.Milli, error) {
	// A Milli is 0.0001 of a kWh or m3.
	v, err := parseExact(s, 4)
	if err != nil {
		return 0, fmt.Errorf("units %q: %w", s, err)
	}
	return meter.Milli(v), nil
}

// parseExact reads a decimal with at most scale decimals, as a count of
// 10^-scale; unlike sts.ParseDecimal it refuses what it would round.
func parseExact(s string, scale int) (uint64, error) {
	if _, frac, ok := strings.Cut(s, "."); ok && len(frac) > scale {
		return 0, fmt.Errorf("more than %d decimals", scale)
	}
	return sts.ParseDecimal(s, scale)
}

// DefaultBelow is the balance under which customers buy, by utility:
// about half a day of a typical household's use.
var DefaultBelow = map[vending.Utility]meter.Milli{
	vending.Electricity: 30_000, // 3 kWh
	vending.Water:       1_000,  // 0.1 m3
	vending.Gas:         3_000,  // 0.3 m3
}

// DefaultAmounts are the money amounts customers pay, by utility, in the
// default tariffs' currency: small top-ups are the most common.
var DefaultAmounts = map[vending.Utility]Sampler{
	vending.Electricity: Choice{"100", "200", "200", "500", "500", "1000"},
	vending.Water:       Choice{"50", "100", "100", "200"},
	vending.Gas:         Choice{"200", "500", "500", "1000"},
}

func (p *PurchasePolicy) validate() error {
	for u, s := range p.Amounts {
		if !u.Valid() {
			return fmt.Errorf("amounts: utility %q", u)
		}
		if c, ok := s.(Choice); ok && len(c) == 0 {
			return errors.New("amounts: empty choice for " + string(u))
		}
	}
	for u := range p.Below {
		if !u.Valid() {
			return fmt.Errorf("below: utility %q", u)
		}
	}
	return nil
}

// below returns the buying threshold of utility u.
func (p *PurchasePolicy) below(u vending.Utility) meter.Milli {
	if v, ok := p.Below[u]; ok {
		return v
	}
	return DefaultBelow[u]
}

// sampler returns the amount distribution of utility u.
func (p *PurchasePolicy) sampler(u vending.Utility) Sampler {
	if s := p.Amounts[u]; s != nil {
		return s
	}
	return DefaultAmounts[u]
}

// seedOf mixes the fleet's seed with a DRN, so that every customer draws
// its own reproducible sequence.
func seedOf(seed uint64, drn string) uint64 {
	h := uint64(0xcbf29ce484222325)
	for i := 0; i < len(drn); i++ {
		h ^= uint64(drn[i])
		h *= 0x100000001b3
	}
	return h ^ seed*0x9e3779b97f4a7c15
}
