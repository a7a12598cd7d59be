package vending

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// Tariff prices a utility: energy (or water, or gas) by rising blocks of
// the units bought in the month, plus charges and levies, so that a
// receipt splits the amount paid into the token amount, the money that
// bought the units, and other charges, as a KPLC receipt does. Every
// figure is an exact decimal string; none goes through floating point.
type Tariff struct {
	// Name is how meters refer to the tariff.
	Name string `json:"name"`
	// Utility is what the tariff prices.
	Utility Utility `json:"utility"`
	// Currency is the ISO 4217 code, such as "KES". Amounts have two
	// decimals.
	Currency string `json:"currency"`
	// Blocks are the price blocks in rising order of their end. The last
	// block has no end. A single block is a flat rate.
	Blocks []Block `json:"blocks"`
	// Charges are added to the energy charge: per-unit amounts and
	// percentages. They are the receipt's "other charges".
	Charges []Charge `json:"charges,omitempty"`
}

// Block is one step of a rising block tariff.
type Block struct {
	// UpTo is where the block ends, in units bought since the start of
	// the calendar month (on the vendor's simulated clock, UTC), such as
	// "30": the block prices units 0 to 30. Empty for the last block.
	UpTo string `json:"up_to,omitempty"`
	// Price is the currency per unit within the block, such as "12.22".
	Price string `json:"price"`
}

// Charge is a levy or charge on top of the energy charge. Exactly one of
// PerUnit and Percent is set.
type Charge struct {
	// Name describes the charge, such as "fuel_energy_cost".
	Name string `json:"name"`
	// PerUnit is a currency amount per unit, such as "3.57".
	PerUnit string `json:"per_unit,omitempty"`
	// Percent is a percentage, such as "16".
	Percent string `json:"percent,omitempty"`
	// Of is what a percentage applies to: "energy" (the default), the
	// block charge alone, or "subtotal", the block charge plus the
	// per-unit charges (as VAT is levied).
	Of string `json:"of,omitempty"`
}

// Percentage bases.
const (
	OfEnergy   = "energy"
	OfSubtotal = "subtotal"
)

// UnmarshalJSON reads a tariff strictly and validates it.
func (t *Tariff) UnmarshalJSON(data []byte) error {
	type plain Tariff
	var p plain
	if err := decodeStrict(data, &p); err != nil {
		return err
	}
	v := Tariff(p)
	if err := v.Validate(); err != nil {
		return err
	}
	*t = v
	return nil
}

// Validate checks the tariff; errors are [*FieldError] values.
func (t *Tariff) Validate() error {
	_, err := t.compile()
	return err
}

// pricer is a compiled tariff: exact rationals per tenth of a unit.
type pricer struct {
	tariff *Tariff
	blocks []priceBlock
	// perUnit is the sum of per-unit charges per tenth.
	perUnit *big.Rat
	// onEnergy and onSubtotal are the summed percentages as fractions.
	onEnergy, onSubtotal *big.Rat
}

type priceBlock struct {
	// upTo is the block's end in tenths; math.MaxUint64 for the last.
	upTo uint64
	// perTenth is the block price per tenth of a unit.
	perTenth *big.Rat
	// marginal is what a tenth costs in this block, charges included.
	marginal *big.Rat
}

var tenth = big.NewRat(1, 10)

func (t *Tariff) compile() (*pricer, error) {
	if t.Name == "" {
		return nil, fieldErr("name", "required")
	}
	if !t.Utility.Valid() {
		return nil, fieldErr("utility", "%q: want electricity, water or gas", t.Utility)
	}
	if len(t.Currency) != 3 || !isUpper(t.Currency) {
		return nil, fieldErr("currency", "%q: want a 3-letter ISO 4217 code", t.Currency)
	}
	p := &pricer{tariff: t, perUnit: new(big.Rat), onEnergy: new(big.Rat),
		onSubtotal: new(big.Rat)}
	if err := p.compileCharges(t.Charges); err != nil {
		return nil, err
	}
	if err := p.compileBlocks(t.Blocks); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *pricer) compileCharges(charges []Charge) error {
	for i, c := range charges {
		field := fmt.Sprintf("charges[%d]", i)
		if c.Name == "" {
			return fieldErr(field+".name", "required")
		}
		if (c.PerUnit == "") == (c.Percent == "") {
			return fieldErr(field, "set exactly one of per_unit and percent")
		}
		if c.PerUnit != "" {
			if c.Of != "" {
				return fieldErr(field+".of", "applies to percent charges only")
			}
			r, err := parseRat(c.PerUnit)
			if err != nil {
				return &FieldError{Field: field + ".per_unit", Err: err}
			}
			p.perUnit.Add(p.perUnit, r.Mul(r, tenth))
			continue
		}
		r, err := parseRat(c.Percent)
		if err != nil {
			return &FieldError{Field: field + ".percent", Err: err}
		}
		r.Quo(r, big.NewRat(100, 1))
		switch c.Of {
		case "", OfEnergy:
			p.onEnergy.Add(p.onEnergy, r)
		case OfSubtotal:
			p.onSubtotal.Add(p.onSubtotal, r)
		default:
			return fieldErr(field+".of", "%q: want energy or subtotal", c.Of)
		}
	}
	return nil
}

func (p *pricer) compileBlocks(blocks []Block) error {
	if len(blocks) == 0 {
		return fieldErr("blocks", "at least one block is required")
	}
	one := big.NewRat(1, 1)
	// A tenth in a block costs price·(1 + e + s) + perUnit·(1 + s).
	energyFactor := new(big.Rat).Add(one, p.onEnergy)
	energyFactor.Add(energyFactor, p.onSubtotal)
	unitFactor := new(big.Rat).Add(one, p.onSubtotal)
	chargePart := new(big.Rat).Mul(p.perUnit, unitFactor)
	var prev uint64
	for i, b := range blocks {
		field := fmt.Sprintf("blocks[%d]", i)
		price, err := parseRat(b.Price)
		if err != nil {
			return &FieldError{Field: field + ".price", Err: err}
		}
		if price.Sign() == 0 {
			return fieldErr(field+".price", "must be above zero")
		}
		pb := priceBlock{upTo: math.MaxUint64, perTenth: price.Mul(price, tenth)}
		last := i == len(blocks)-1
		switch {
		case last && b.UpTo != "":
			return fieldErr(field+".up_to", "the last block has no end")
		case !last:
			if pb.upTo, err = parseUnits(b.UpTo); err != nil {
				return &FieldError{Field: field + ".up_to", Err: err}
			}
			if pb.upTo <= prev {
				return fieldErr(field+".up_to", "%s: blocks must end in rising order", b.UpTo)
			}
			prev = pb.upTo
		}
		pb.marginal = new(big.Rat).Mul(pb.perTenth, energyFactor)
		pb.marginal.Add(pb.marginal, chargePart)
		p.blocks = append(p.blocks, pb)
	}
	return nil
}

func isUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// Quote is a priced vend.
type Quote struct {
	// Units is the credit in tenths of the tariff's unit.
	Units uint64
	// Amount is what the customer pays, in minor units.
	Amount int64
	// TokenAmount is the part of Amount that bought the units: the block
	// charge, rounded to the nearest minor unit.
	TokenAmount int64
	// OtherCharges is the rest of Amount: charges, levies and, for a
	// money vend, what was too little to buy another tenth.
	OtherCharges int64
}

// ErrNothingBought is the cause of a [RuleBelowMinimum] refusal.
var ErrNothingBought = errors.New("amount buys less than 0.1 units")

// quoteMoney prices a money vend of amount minor units for a meter that
// has bought month tenths this month. The credit is the most tenths the
// amount pays for, charges included, further rounded down to a value the
// token's amount field carries exactly (PROTOCOL.md §5), so the customer
// never gets more than was paid for; everything not spent on the block
// charge is other charges.
func (p *pricer) quoteMoney(month uint64, amount int64) (Quote, error) {
	left := big.NewRat(amount, 100)
	var units uint64
	pos := month
	for _, b := range p.blocks {
		if b.upTo <= pos {
			continue
		}
		// n is how many tenths the money left buys at this block's rate.
		n := ratFloor(new(big.Rat).Quo(left, b.marginal))
		if b.upTo != math.MaxUint64 {
			room := new(big.Int).SetUint64(b.upTo - pos)
			if n.Cmp(room) >= 0 {
				// The whole block is bought; go on into the next.
				left.Sub(left, new(big.Rat).Mul(b.marginal, new(big.Rat).SetInt(room)))
				units += b.upTo - pos
				pos = b.upTo
				if units > sts.MaxAmount {
					break
				}
				continue
			}
		}
		if !n.IsUint64() || n.Uint64() > sts.MaxAmount-units {
			units = sts.MaxAmount + 1
		} else {
			units += n.Uint64()
		}
		break
	}
	if units > sts.MaxAmount {
		return Quote{}, ruleErr(RuleAboveMaximum, "%s %s buys more than one token carries "+
			"(%s %s)", formatMoney(amount), p.tariff.Currency,
			formatUnits(sts.MaxAmount), p.tariff.Utility.Unit())
	}
	units = representableFloor(units)
	if units == 0 {
		return Quote{}, &RuleError{Rule: RuleBelowMinimum, Err: fmt.Errorf(
			"%s %s: %w", formatMoney(amount), p.tariff.Currency, ErrNothingBought)}
	}
	energy, _ := p.cost(month, units)
	q := Quote{Units: units, Amount: amount, TokenAmount: minorUnits(energy, ratRound)}
	q.OtherCharges = q.Amount - q.TokenAmount
	return q, nil
}

// quoteUnits prices a units vend of tenths for a meter that has bought
// month tenths this month. The amount is the exact cost rounded up to the
// minor unit, so the vendor never charges less than the tariff.
func (p *pricer) quoteUnits(month, tenths uint64) (Quote, error) {
	if tenths == 0 {
		return Quote{}, ruleErr(RuleBelowMinimum, "0 units: the least a token carries is 0.1")
	}
	if tenths > sts.MaxAmount {
		return Quote{}, ruleErr(RuleAboveMaximum, "%s %s: at most %s in one token",
			formatUnits(tenths), p.tariff.Utility.Unit(), formatUnits(sts.MaxAmount))
	}
	energy, total := p.cost(month, tenths)
	q := Quote{Units: tenths, Amount: minorUnits(total, ratCeil),
		TokenAmount: minorUnits(energy, ratRound)}
	q.OtherCharges = q.Amount - q.TokenAmount
	return q, nil
}

// cost returns the block charge and the total, charges included, of
// tenths bought after month tenths this month.
func (p *pricer) cost(month, tenths uint64) (energy, total *big.Rat) {
	energy = new(big.Rat)
	pos, end := month, month+tenths
	for _, b := range p.blocks {
		if b.upTo <= pos {
			continue
		}
		hi := min(b.upTo, end)
		energy.Add(energy, new(big.Rat).Mul(b.perTenth, new(big.Rat).SetUint64(hi-pos)))
		pos = hi
		if pos == end {
			break
		}
	}
	perUnit := new(big.Rat).Mul(p.perUnit, new(big.Rat).SetUint64(tenths))
	subtotal := new(big.Rat).Add(energy, perUnit)
	total = new(big.Rat).Add(subtotal, new(big.Rat).Mul(energy, p.onEnergy))
	total.Add(total, new(big.Rat).Mul(subtotal, p.onSubtotal))
	return energy, total
}

// representableFloor returns the largest credit at most tenths that the
// 16-bit amount field carries exactly. Fields are ordered by the value
// they decode to, so the field below the round-up encoding is the next
// value down.
func representableFloor(tenths uint64) uint64 {
	f, err := sts.EncodeAmount(tenths)
	if err != nil {
		return sts.MaxAmount
	}
	if v := sts.DecodeAmount(f); v == tenths || f == 0 {
		return v
	}
	return sts.DecodeAmount(f - 1)
}

// MarshalJSON writes the tariff as it was given.
func (t Tariff) MarshalJSON() ([]byte, error) {
	type plain Tariff
	return json.Marshal(plain(t))
}
