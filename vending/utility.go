package vending

import (
	"fmt"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// Utility is the service a meter supplies, named as in the fleet
// definition and on the wire.
type Utility string

// Utilities.
const (
	Electricity Utility = "electricity"
	Water       Utility = "water"
	Gas         Utility = "gas"
)

// Utilities lists every utility in a fixed order.
var Utilities = []Utility{Electricity, Water, Gas}

// ParseUtility reads "electricity", "water" or "gas".
func ParseUtility(s string) (Utility, error) {
	u := Utility(s)
	if !u.Valid() {
		return "", fmt.Errorf("utility %q: want electricity, water or gas", s)
	}
	return u, nil
}

// Valid reports whether u is one of [Utilities].
func (u Utility) Valid() bool { return u == Electricity || u == Water || u == Gas }

// SubClass returns the class 0 sub-class of the utility's unit credit:
// 0 electricity, 1 water, 2 gas (PROTOCOL.md §3.2).
func (u Utility) SubClass() uint8 {
	switch u {
	case Water:
		return sts.SubWater
	case Gas:
		return sts.SubGas
	}
	return sts.SubElectricity
}

// Unit returns the unit of the utility's credit: "kWh" or "m3". Tokens
// count tenths of it.
func (u Utility) Unit() string {
	if u == Electricity {
		return "kWh"
	}
	return "m3"
}

// utilityOfSubClass returns the utility of a class 0 unit sub-class.
func utilityOfSubClass(sub uint8) (Utility, bool) {
	switch sub {
	case sts.SubElectricity:
		return Electricity, true
	case sts.SubWater:
		return Water, true
	case sts.SubGas:
		return Gas, true
	}
	return "", false
}
