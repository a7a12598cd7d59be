package vending

// DefaultCurrency is the currency of the default tariffs.
const DefaultCurrency = "KES"

// Names of the default tariffs.
const (
	TariffDomestic = "domestic"
	TariffWater    = "water"
	TariffGas      = "gas"
)

// DefaultTariffs returns one tariff per utility, in Kenya shillings. They
// are shaped like the Kenyan domestic tariffs (a lifeline block, pass-
// through charges per unit, levies as percentages, VAT on the subtotal),
// with round illustrative figures rather than any published schedule. For
// 100.00 KES of electricity in the lifeline block they give 4.9 kWh for a
// token amount of 59.88 and other charges of 40.12, in the range real
// receipts show.
func DefaultTariffs() []Tariff {
	return []Tariff{
		{
			Name: TariffDomestic, Utility: Electricity, Currency: DefaultCurrency,
			Blocks: []Block{
				{UpTo: "30", Price: "12.22"},
				{UpTo: "100", Price: "16.54"},
				{Price: "19.08"},
			},
			Charges: []Charge{
				{Name: "fuel_energy_cost", PerUnit: "3.57"},
				{Name: "forex_adjustment", PerUnit: "1.00"},
				{Name: "erc_levy", PerUnit: "0.08"},
				{Name: "rep_levy", Percent: "5"},
				{Name: "vat", Percent: "16", Of: OfSubtotal},
			},
		},
		{
			Name: TariffWater, Utility: Water, Currency: DefaultCurrency,
			Blocks: []Block{
				{UpTo: "6", Price: "53.00"},
				{UpTo: "20", Price: "69.00"},
				{Price: "90.00"},
			},
			Charges: []Charge{
				{Name: "sewerage", Percent: "50"},
				{Name: "water_levy", PerUnit: "0.50"},
			},
		},
		{
			Name: TariffGas, Utility: Gas, Currency: DefaultCurrency,
			Blocks: []Block{{Price: "180.00"}},
			Charges: []Charge{
				{Name: "vat", Percent: "16", Of: OfSubtotal},
			},
		},
	}
}

// defaultTariffFor returns the name of the default tariff for u.
func defaultTariffFor(u Utility) string {
	switch u {
	case Water:
		return TariffWater
	case Gas:
		return TariffGas
	}
	return TariffDomestic
}
