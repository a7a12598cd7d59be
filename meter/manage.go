package meter

import (
	"fmt"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// Control is the test and display bit mask of a class 1 token
// (PROTOCOL.md §3.3). Only the bits below are known; the others are
// accepted and ignored.
type Control uint64

// Known control bits. The values are confirmed by published vouchers; the
// meanings rest on manufacturer manuals.
const (
	// ControlLoadSwitch opens and closes the load switch as a test.
	ControlLoadSwitch Control = 1 << 0
	// ControlHMI lights every segment and LED and sounds the buzzer.
	ControlHMI Control = 1 << 1
	// ControlCumulative displays the cumulative units delivered.
	ControlCumulative Control = 1 << 2
	// ControlKey displays the key revision number and key type.
	ControlKey Control = 1 << 3
	// ControlTariff displays the tariff index.
	ControlTariff Control = 1 << 4
	// ControlPowerLimit displays the maximum power limit.
	ControlPowerLimit Control = 1 << 6

	controlKnown = ControlLoadSwitch | ControlHMI | ControlCumulative | ControlKey |
		ControlTariff | ControlPowerLimit
)

// Display is what a meter shows for a class 1 test/display token. The
// values are set only for the bits present in Control.
type Display struct {
	// Control is the bit mask as received.
	Control Control `json:"control"`
	// Cumulative is the cumulative units delivered (ControlCumulative).
	Cumulative Milli `json:"cumulative,omitempty"`
	// KRN and KeyType identify the decoder key (ControlKey).
	KRN     uint8 `json:"krn,omitempty"`
	KeyType uint8 `json:"kt,omitempty"`
	// TariffIndex is the key's tariff index (ControlTariff).
	TariffIndex uint8 `json:"ti,omitempty"`
	// PowerLimit is the maximum power limit in W, 0 for none
	// (ControlPowerLimit).
	PowerLimit uint32 `json:"power_limit,omitempty"`
}

// Unknown returns the control bits the meter does not know.
func (d Display) Unknown() Control { return d.Control &^ controlKnown }

// Lines returns the display as short text lines, one per shown item, in
// the order of the control bits, for a unit such as "kWh".
func (d Display) Lines(unit string) []string {
	var out []string
	if d.Control&ControlLoadSwitch != 0 {
		out = append(out, "load switch test")
	}
	if d.Control&ControlHMI != 0 {
		out = append(out, "display test")
	}
	if d.Control&ControlCumulative != 0 {
		out = append(out, fmt.Sprintf("total %s %s", d.Cumulative.Format(1, 1), unit))
	}
	if d.Control&ControlKey != 0 {
		out = append(out, fmt.Sprintf("krn %d kt %d", d.KRN, d.KeyType))
	}
	if d.Control&ControlTariff != 0 {
		out = append(out, fmt.Sprintf("ti %02d", d.TariffIndex))
	}
	if d.Control&ControlPowerLimit != 0 {
		out = append(out, fmt.Sprintf("power limit %d W", d.PowerLimit))
	}
	return out
}

// test handles a class 1 InitiateMeterTest/Display token after its CRC
// matched.
func (m *Meter) test(f *sts.Fields, r *Result) {
	// A 2-digit-code meter takes sub-class 0, a 4-digit one sub-class 1;
	// the other only when configured (PROTOCOL.md §3.3).
	own := sts.SubTest2Digit
	if m.mfr4 {
		own = sts.SubTest4Digit
	}
	if f.SubClass != own && !(m.bothTest && f.SubClass <= sts.SubTest4Digit) {
		r.Outcome = sts.FunctionError
		return
	}

	// Published test vouchers carry code 0, which every meter takes.
	if f.MfrCode != 0 && f.MfrCode != m.mfr {
		r.Outcome = sts.MfrCodeError
		return
	}

	r.Display = m.display(Control(f.Control))
	r.Outcome = sts.Accept
}

func (m *Meter) display(c Control) Display {
	d := Display{Control: c}
	if c&ControlCumulative != 0 {
		d.Cumulative = m.delivered
	}
	if c&ControlKey != 0 {
		d.KRN, d.KeyType = m.krn, m.kt
	}
	if c&ControlTariff != 0 {
		d.TariffIndex = m.ti
	}
	if c&ControlPowerLimit != 0 {
		d.PowerLimit = m.powerLimit
	}
	return d
}

// manage handles a class 2 token other than a key change section after its
// CRC matched.
func (m *Meter) manage(f *sts.Fields, r *Result, t int64) {
	// Function.
	switch f.SubClass {
	case sts.SubSetMaxPowerLimit, sts.SubClearCredit, sts.SubClearTamper,
		sts.SubSetMaxPhaseUnbalance:
	case sts.SubSetTariffRate:
		if !m.tariffSupported {
			r.Outcome = sts.FunctionError
			return
		}
	case sts.SubSetWaterMeterFactor:
		if !m.factorSupported {
			r.Outcome = sts.FunctionError
			return
		}
	default:
		r.Outcome = sts.FunctionError
		return
	}

	if r.Outcome = m.checkTID(f.TID); r.Outcome != sts.Accept {
		return
	}

	// Range: ClearCredit names register 0 to 7 or all of them.
	if f.SubClass == sts.SubClearCredit && f.Value > uint16(sts.SubTimeCurrency) &&
		f.Value != sts.ClearAllRegisters {
		r.Outcome = sts.RangeError
		return
	}

	m.applyManagement(f, r, t)
	m.storeTID(f.TID)
}

func (m *Meter) applyManagement(f *sts.Fields, r *Result, t int64) {
	switch f.SubClass {
	case sts.SubSetMaxPowerLimit:
		// Watts in the amount encoding; 0 removes the limit.
		m.powerLimit = uint32(sts.DecodeAmount(f.Value))
		m.resetTrip(t)
	case sts.SubClearCredit:
		if f.Value == sts.ClearAllRegisters {
			r.ClearedUnits = m.units.clear()
			r.ClearedCurrency = m.currency.clear()
		} else if reg := m.register(uint8(f.Value)); reg == &m.units {
			r.ClearedUnits = reg.clear()
		} else if reg != nil {
			r.ClearedCurrency = reg.clear()
		}
		m.updateSupply(t)
	case sts.SubClearTamper:
		m.tamper = false
		m.updateSupply(t)
	case sts.SubSetMaxPhaseUnbalance:
		m.unbalanceLimit = uint32(sts.DecodeAmount(f.Value))
	case sts.SubSetTariffRate:
		m.tariffRate = f.Value
	case sts.SubSetWaterMeterFactor:
		m.waterFactor = f.Value
	}
}
