package vending

import (
	"testing"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// Expected figures below are worked by hand from the tariff; each case's
// comment shows the arithmetic.
var (
	// Rising blocks without charges: 0–10 at 10.00, 10–20 at 20.00, then
	// 40.00 per unit.
	blocksOnly = Tariff{Name: "b", Utility: Electricity, Currency: "KES", Blocks: []Block{
		{UpTo: "10", Price: "10.00"}, {UpTo: "20", Price: "20.00"}, {Price: "40.00"}}}
	// A flat 10.00 with 2.00 per unit, 5 % of energy and 16 % VAT on the
	// subtotal: a unit costs 10 + 2 + 0.50 + 0.16·12 = 14.42.
	withCharges = Tariff{Name: "c", Utility: Electricity, Currency: "KES",
		Blocks: []Block{{Price: "10.00"}},
		Charges: []Charge{{Name: "fuel", PerUnit: "2.00"}, {Name: "rep", Percent: "5"},
			{Name: "vat", Percent: "16", Of: OfSubtotal}}}
	// Two blocks with 10 % on energy: a tenth costs 1.10, then 2.20.
	blocksCharges = Tariff{Name: "bc", Utility: Electricity, Currency: "KES",
		Blocks:  []Block{{UpTo: "1", Price: "10.00"}, {Price: "20.00"}},
		Charges: []Charge{{Name: "levy", Percent: "10"}}}
	// An eighth of a cent per tenth, to exercise rounding to the cent.
	tiny = Tariff{Name: "t", Utility: Electricity, Currency: "KES",
		Blocks: []Block{{Price: "0.125"}}}
	// A hundredth per unit: 2000 kWh cost 20.00.
	cheap = Tariff{Name: "x", Utility: Electricity, Currency: "KES",
		Blocks: []Block{{Price: "0.01"}}}
)

func TestQuote(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tariff Tariff
		month  uint64 // tenths bought this month
		money  int64  // minor units; 0 for a units vend
		units  uint64 // tenths of a units vend
		want   Quote
		rule   Rule
	}{
		// 50.00 at 10.00 = 5.0 units exactly.
		{"money in the first block", blocksOnly, 0, 5000, 0, Quote{50, 5000, 5000, 0}, ""},
		// 10 units for 100.00, then 50.00 at 20.00 = 2.5 more.
		{"money across two blocks", blocksOnly, 0, 15000, 0, Quote{125, 15000, 15000, 0}, ""},
		// 15 bought: 5 left in block 2 for 100.00, then 50.00 at 40.00 is
		// 1.25, rounded down to 1.2 (48.00); 2.00 buys nothing more.
		{"money after 15 units bought", blocksOnly, 150, 15000, 0,
			Quote{62, 15000, 14800, 200}, ""},
		// Past every block end, the last block's price.
		{"money in the last block", blocksOnly, 500, 4000, 0, Quote{10, 4000, 4000, 0}, ""},
		// 0.99 does not buy a tenth (1.00).
		{"below a tenth", blocksOnly, 0, 99, 0, Quote{}, RuleBelowMinimum},
		{"exactly a tenth", blocksOnly, 0, 100, 0, Quote{1, 100, 100, 0}, ""},
		// 12.5 units: 100.00 + 2.5 × 20.00.
		{"units across blocks", blocksOnly, 0, 0, 125, Quote{125, 15000, 15000, 0}, ""},
		{"units in the last block", blocksOnly, 250, 0, 1, Quote{1, 400, 400, 0}, ""},
		{"zero units", blocksOnly, 0, 0, 0, Quote{}, RuleBelowMinimum},
		// 100.00 / 1.442 per tenth = 69.3: 6.9 units, energy 69.00.
		{"money with charges", withCharges, 0, 10000, 0, Quote{69, 10000, 6900, 3100}, ""},
		// One unit costs exactly 14.42 of which 10.00 is energy.
		{"a unit with charges", withCharges, 0, 0, 10, Quote{10, 1442, 1000, 442}, ""},
		// A tenth costs 1.442, charged 1.45 (rounded up).
		{"a tenth with charges", withCharges, 0, 0, 1, Quote{1, 145, 100, 45}, ""},
		// 5.50 / 1.10 = 5 tenths of block 1.
		{"blocks and levy, first block", blocksCharges, 0, 550, 0, Quote{5, 550, 500, 50}, ""},
		// Block 1 whole for 11.00, 11.00 / 2.20 = 5 tenths of block 2:
		// energy 10.00 + 10.00.
		{"blocks and levy, across", blocksCharges, 0, 2200, 0,
			Quote{15, 2200, 2000, 200}, ""},
		// 0.5 bought: 5 tenths left for 5.50, 16.50 / 2.20 = 7.5 → 7
		// tenths: energy 5.00 + 14.00.
		{"blocks and levy, half bought", blocksCharges, 5, 2200, 0,
			Quote{12, 2200, 1900, 300}, ""},
		// Energy 0.0125 rounds to 0.01; the amount rounds up to 0.02.
		{"rounding a tenth", tiny, 0, 0, 1, Quote{1, 2, 1, 1}, ""},
		// Energy 0.025 rounds half up to 0.03, which is also the amount.
		{"rounding half up", tiny, 0, 0, 2, Quote{2, 3, 3, 0}, ""},
		// 20.00 buys 2000.0 kWh, which the amount field cannot carry:
		// the next value down is 16384 + 361·10 = 19994 tenths.
		{"rounded down to the amount field", cheap, 0, 2000, 0,
			Quote{19994, 2000, 1999, 1}, ""},
		{"more than a token carries", cheap, 0, 1_000_000_00, 0, Quote{}, RuleAboveMaximum},
		{"units above a token", cheap, 0, 0, sts.MaxAmount + 1, Quote{}, RuleAboveMaximum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.tariff.compile()
			if err != nil {
				t.Fatal(err)
			}
			var got Quote
			if tc.money > 0 {
				got, err = p.quoteMoney(tc.month, tc.money)
			} else {
				got, err = p.quoteUnits(tc.month, tc.units)
			}
			if ruleOf(err) != tc.rule {
				t.Fatalf("error %v, want rule %q", err, tc.rule)
			}
			if got != tc.want {
				t.Errorf("quote = %+v, want %+v", got, tc.want)
			}
			if err == nil && got.TokenAmount+got.OtherCharges != got.Amount {
				t.Errorf("token amount + other charges != amount")
			}
		})
	}
}

func TestQuoteMoneyNeverOverpays(t *testing.T) {
	// For every amount from 0.01 to 60.00, the units bought cost at most
	// the amount, and one tenth more would cost more.
	for _, tr := range []Tariff{blocksCharges, withCharges, DefaultTariffs()[0]} {
		p, err := tr.compile()
		if err != nil {
			t.Fatal(err)
		}
		for month := uint64(0); month <= 20; month += 7 {
			for a := int64(1); a <= 6000; a++ {
				q, err := p.quoteMoney(month, a)
				if ruleOf(err) == RuleBelowMinimum {
					continue
				}
				if err != nil {
					t.Fatalf("%s %d: %v", tr.Name, a, err)
				}
				_, cost := p.cost(month, q.Units)
				_, more := p.cost(month, q.Units+1)
				paid := ratFromMinor(a)
				if cost.Cmp(paid) > 0 || more.Cmp(paid) <= 0 {
					t.Fatalf("%s month %d amount %d: %d tenths cost %s, one more %s",
						tr.Name, month, a, q.Units, cost.FloatString(4), more.FloatString(4))
				}
			}
		}
	}
}

func TestRepresentableFloor(t *testing.T) {
	for _, tc := range []struct{ in, want uint64 }{
		{0, 0}, {1, 1}, {16383, 16383}, {16384, 16384}, {16385, 16384}, {20000, 19994},
		{180214, 180214}, {180215, 180214}, {180223, 180214}, {180224, 180224},
		{sts.MaxAmount, sts.MaxAmount},
	} {
		if got := representableFloor(tc.in); got != tc.want {
			t.Errorf("representableFloor(%d) = %d, want %d", tc.in, got, tc.want)
		}
		f, _ := sts.EncodeAmount(representableFloor(tc.in))
		if sts.DecodeAmount(f) != representableFloor(tc.in) {
			t.Errorf("floor of %d is not representable", tc.in)
		}
	}
}

func TestTariffValidationNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*Tariff)
		field string
	}{
		{"no name", func(t *Tariff) { t.Name = "" }, "name"},
		{"currency", func(t *Tariff) { t.Currency = "kes" }, "currency"},
		{"utility", func(t *Tariff) { t.Utility = "steam" }, "utility"},
		{"no blocks", func(t *Tariff) { t.Blocks = nil }, "blocks"},
		{"last block ends", func(t *Tariff) { t.Blocks[2].UpTo = "30" }, "blocks[2].up_to"},
		{"falling ends", func(t *Tariff) { t.Blocks[1].UpTo = "5" }, "blocks[1].up_to"},
		{"zero price", func(t *Tariff) { t.Blocks[0].Price = "0.00" }, "blocks[0].price"},
		{"float price", func(t *Tariff) { t.Blocks[0].Price = "1e1" }, "blocks[0].price"},
		{"fraction price", func(t *Tariff) { t.Blocks[0].Price = "1/3" }, "blocks[0].price"},
		{"both kinds", func(t *Tariff) {
			t.Charges = []Charge{{Name: "x", PerUnit: "1", Percent: "1"}}
		}, "charges[0]"},
		{"bad base", func(t *Tariff) {
			t.Charges = []Charge{{Name: "x", Percent: "1", Of: "total"}}
		}, "charges[0].of"},
		{"base on per unit", func(t *Tariff) {
			t.Charges = []Charge{{Name: "x", PerUnit: "1", Of: "energy"}}
		}, "charges[0].of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := blocksOnly
			tr.Blocks = append([]Block(nil), blocksOnly.Blocks...)
			tc.edit(&tr)
			if got := fieldOf(tr.Validate()); got != tc.field {
				t.Errorf("Validate names %q, want %q", got, tc.field)
			}
		})
	}
	for _, tr := range DefaultTariffs() {
		if err := tr.Validate(); err != nil {
			t.Errorf("default tariff %s: %v", tr.Name, err)
		}
	}
}

func TestParseFixed(t *testing.T) {
	for _, tc := range []struct {
		in    string
		scale int
		want  uint64
		ok    bool
	}{
		{"100.00", 2, 10000, true}, {"100", 2, 10000, true}, {"0.5", 2, 50, true},
		{"007.10", 2, 710, true}, {"5.0", 1, 50, true}, {"1.005", 2, 0, false},
		{"", 2, 0, false}, {".5", 2, 0, false}, {"5.", 2, 0, false}, {"1.2.3", 2, 0, false},
		{"-1", 2, 0, false}, {"+1", 2, 0, false}, {"1e2", 2, 0, false}, {" 1", 2, 0, false},
		{"99999999999999999999", 2, 0, false}, {"7", 0, 7, true}, {"7.0", 0, 0, false},
	} {
		got, err := parseFixed(tc.in, tc.scale, maxMoney)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseFixed(%q, %d) = %d, %v; want %d ok %v", tc.in, tc.scale, got, err,
				tc.want, tc.ok)
		}
	}
	for _, tc := range []struct {
		v    int64
		want string
	}{{0, "0.00"}, {5, "0.05"}, {10000, "100.00"}, {-250, "-2.50"}} {
		if got := formatMoney(tc.v); got != tc.want {
			t.Errorf("formatMoney(%d) = %s, want %s", tc.v, got, tc.want)
		}
	}
	if got := formatUnits(49); got != "4.9" {
		t.Errorf("formatUnits(49) = %s", got)
	}
}
