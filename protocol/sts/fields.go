package sts

import (
	"errors"
	"fmt"
)

// Sub-classes of class 0, TransferCredit (PROTOCOL.md §3.2). Sub-classes 0
// to 3 carry units, 4 to 7 currency.
const (
	SubElectricity         uint8 = 0
	SubWater               uint8 = 1
	SubGas                 uint8 = 2
	SubTime                uint8 = 3
	SubElectricityCurrency uint8 = 4
	SubWaterCurrency       uint8 = 5
	SubGasCurrency         uint8 = 6
	SubTimeCurrency        uint8 = 7
)

// Sub-classes of class 1, InitiateMeterTest/Display (PROTOCOL.md §3.3).
const (
	// SubTest2Digit is for meters with a 2-digit manufacturer code:
	// 36 control bits and an 8-bit code.
	SubTest2Digit uint8 = 0
	// SubTest4Digit is for meters with a 4-digit manufacturer code:
	// 28 control bits and a 16-bit code.
	SubTest4Digit uint8 = 1
)

// Sub-classes of class 2, meter-specific management (PROTOCOL.md §3.4).
const (
	SubSetMaxPowerLimit        uint8 = 0
	SubClearCredit             uint8 = 1
	SubSetTariffRate           uint8 = 2
	SubKeyChange1              uint8 = 3
	SubKeyChange2              uint8 = 4
	SubClearTamper             uint8 = 5
	SubSetMaxPhaseUnbalance    uint8 = 6
	SubSetWaterMeterFactor     uint8 = 7
	SubKeyChange3              uint8 = 8
	SubKeyChange4              uint8 = 9
	subManagementReservedFirst uint8 = 10
)

// ClearAllRegisters is the ClearCredit register value that clears every
// credit register.
const ClearAllRegisters = 0xFFFF

// ErrField reports a token field whose value does not fit its bits.
var ErrField = errors.New("token field out of range")

// Fields is the decoded content of a token's 64-bit data block. Which fields
// are meaningful depends on Class and SubClass; the others are zero. The
// zero value is a class 0 electricity token of 0 units at TID 0.
type Fields struct {
	Class    Class
	SubClass uint8

	// RND is the random nibble of class 0 unit tokens and of class 2
	// tokens with a TID. For currency credit it holds the S&E nibble.
	RND uint8
	// TID is the token identifier, minutes since the base date (24 bits).
	TID uint32
	// Value is the 16-bit field at bits 31..16: an amount (§5 encoding)
	// for credit, the power limit or unbalance limit in the amount
	// encoding, the register of ClearCredit, the rate, pad or factor.
	Value uint16

	// Control is the test/display bit mask of a class 1 token: 36 bits
	// for sub-class 0, 28 for sub-class 1. Bit 0 is the field's LSB.
	Control uint64
	// MfrCode is the manufacturer code of a class 1 token: 8 bits for
	// sub-class 0, 16 for sub-class 1.
	MfrCode uint16

	// KENPart is the KEN nibble of a key change section: the high nibble
	// in the 1st section, the low one in the 2nd.
	KENPart uint8
	// KRN is the key revision number of the new key (1st section).
	KRN uint8
	// RO is the roll-over flag of the 1st section: the meter clears its
	// TID memory when the set takes effect.
	RO bool
	// Bit50 is bit 50 of the 1st section, written 0 by every known
	// implementation; its meaning is not settled (PROTOCOL.md §3.4).
	Bit50 bool
	// KeyType is the key type of the new key (1st section), 0 to 3.
	KeyType uint8
	// TariffIndex is the new tariff index (2nd section), binary 0 to 99.
	TariffIndex uint8
	// SGCPart is 12 bits of the new supply group code: the low half in
	// the 3rd section, the high half in the 4th.
	SGCPart uint16
	// KeyPart is 32 bits of the new decoder key.
	KeyPart uint32
}

// IsCurrency reports whether f is a class 0 currency credit token, whose
// check is CRC_C and whose RND nibble holds sign and exponent bits.
func (f *Fields) IsCurrency() bool {
	return f.Class == ClassCredit && f.SubClass >= 4 && f.SubClass <= 7
}

// IsKeyChange reports whether f is a section of a key change set.
func (f *Fields) IsKeyChange() bool {
	if f.Class != ClassManagement {
		return false
	}
	switch f.SubClass {
	case SubKeyChange1, SubKeyChange2, SubKeyChange3, SubKeyChange4:
		return true
	}
	return false
}

// HasTID reports whether the token carries a TID: class 0 and the class 2
// tokens other than key change sections.
func (f *Fields) HasTID() bool {
	switch f.Class {
	case ClassCredit:
		return f.SubClass <= 7
	case ClassManagement:
		return !f.IsKeyChange() && f.SubClass < subManagementReservedFirst
	}
	return false
}

// Currency returns the currency amount of a currency credit token.
func (f *Fields) Currency() CurrencyAmount { return currencyFromParts(f.RND, f.Value) }

// SetCurrency stores a currency amount in the S&E nibble and value field.
func (f *Fields) SetCurrency(c CurrencyAmount) {
	f.RND = c.SE()
	f.Value = c.Field()
}

// Block builds the 64-bit plaintext block, the check included. It fails
// with [ErrField] when a field does not fit its bits, and for sub-classes
// whose layout is not defined.
func (f *Fields) Block() (uint64, error) {
	if f.SubClass > 15 {
		return 0, fieldErr("subclass", uint64(f.SubClass), 15)
	}
	b := uint64(f.SubClass) << 60
	var err error
	switch f.Class {
	case ClassCredit:
		if f.SubClass > SubTimeCurrency {
			return 0, fmt.Errorf("build block: credit sub-class %d is reserved: %w",
				f.SubClass, ErrField)
		}
		b, err = f.tidBlock(b)
	case ClassTest:
		b, err = f.testBlock(b)
	case ClassManagement:
		b, err = f.managementBlock(b)
	default:
		return 0, fmt.Errorf("build block: class %d is reserved: %w", f.Class, ErrField)
	}
	if err != nil {
		return 0, err
	}
	return b | uint64(f.check(b)), nil
}

func (f *Fields) check(b uint64) uint16 {
	if f.IsCurrency() {
		return CRCCurrency(f.Class, b)
	}
	return CRC(f.Class, b)
}

func (f *Fields) tidBlock(b uint64) (uint64, error) {
	if f.RND > 15 {
		return 0, fieldErr("rnd", uint64(f.RND), 15)
	}
	if f.TID > MaxTID {
		return 0, fieldErr("tid", uint64(f.TID), MaxTID)
	}
	return b | uint64(f.RND)<<56 | uint64(f.TID)<<32 | uint64(f.Value)<<16, nil
}

func (f *Fields) testBlock(b uint64) (uint64, error) {
	switch f.SubClass {
	case SubTest2Digit:
		if f.Control >= 1<<36 {
			return 0, fieldErr("control", f.Control, 1<<36-1)
		}
		if f.MfrCode > 0xFF {
			return 0, fieldErr("mfr_code", uint64(f.MfrCode), 0xFF)
		}
		return b | f.Control<<24 | uint64(f.MfrCode)<<16, nil
	case SubTest4Digit:
		if f.Control >= 1<<28 {
			return 0, fieldErr("control", f.Control, 1<<28-1)
		}
		return b | f.Control<<32 | uint64(f.MfrCode)<<16, nil
	}
	return 0, fmt.Errorf("build block: test sub-class %d has no defined layout: %w",
		f.SubClass, ErrField)
}

func (f *Fields) managementBlock(b uint64) (uint64, error) {
	switch f.SubClass {
	case SubSetMaxPowerLimit, SubClearCredit, SubSetTariffRate, SubClearTamper,
		SubSetMaxPhaseUnbalance, SubSetWaterMeterFactor:
		return f.tidBlock(b)
	case SubKeyChange1:
		if f.KENPart > 15 {
			return 0, fieldErr("ken_high", uint64(f.KENPart), 15)
		}
		if f.KRN > 15 {
			return 0, fieldErr("krn", uint64(f.KRN), 15)
		}
		if f.KeyType > 3 {
			return 0, fieldErr("key_type", uint64(f.KeyType), 3)
		}
		b |= uint64(f.KENPart)<<56 | uint64(f.KRN)<<52 | uint64(f.KeyType)<<48
		if f.RO {
			b |= 1 << 51
		}
		if f.Bit50 {
			b |= 1 << 50
		}
		return b | uint64(f.KeyPart)<<16, nil
	case SubKeyChange2:
		if f.KENPart > 15 {
			return 0, fieldErr("ken_low", uint64(f.KENPart), 15)
		}
		if f.TariffIndex > 99 {
			return 0, fieldErr("tariff_index", uint64(f.TariffIndex), 99)
		}
		return b | uint64(f.KENPart)<<56 | uint64(f.TariffIndex)<<48 |
			uint64(f.KeyPart)<<16, nil
	case SubKeyChange3, SubKeyChange4:
		if f.SGCPart > 0xFFF {
			return 0, fieldErr("sgc_part", uint64(f.SGCPart), 0xFFF)
		}
		return b | uint64(f.SGCPart)<<48 | uint64(f.KeyPart)<<16, nil
	}
	return 0, fmt.Errorf("build block: management sub-class %d is reserved: %w",
		f.SubClass, ErrField)
}

func fieldErr(name string, v, limit uint64) error {
	return fmt.Errorf("build block: %s %d exceeds %d: %w", name, v, limit, ErrField)
}

// ParseBlock splits a plaintext block of the given class into its fields and
// reports whether its check (CRC, or CRC_C for currency credit) matches.
// Every block parses; fields of reserved sub-classes stay zero.
func ParseBlock(class Class, b uint64) (f Fields, crcOK bool) {
	f.Class = class & 3
	f.SubClass = uint8(b >> 60)
	switch f.Class {
	case ClassCredit:
		f.parseTID(b)
	case ClassTest:
		switch f.SubClass {
		case SubTest2Digit:
			f.Control = b >> 24 & (1<<36 - 1)
			f.MfrCode = uint16(b>>16) & 0xFF
		case SubTest4Digit:
			f.Control = b >> 32 & (1<<28 - 1)
			f.MfrCode = uint16(b >> 16)
		}
	case ClassManagement:
		f.parseManagement(b)
	}
	return f, f.check(b) == uint16(b)
}

func (f *Fields) parseTID(b uint64) {
	f.RND = uint8(b>>56) & 15
	f.TID = uint32(b>>32) & MaxTID
	f.Value = uint16(b >> 16)
}

func (f *Fields) parseManagement(b uint64) {
	switch f.SubClass {
	case SubKeyChange1:
		f.KENPart = uint8(b>>56) & 15
		f.KRN = uint8(b>>52) & 15
		f.RO = b>>51&1 == 1
		f.Bit50 = b>>50&1 == 1
		f.KeyType = uint8(b>>48) & 3
		f.KeyPart = uint32(b >> 16)
	case SubKeyChange2:
		f.KENPart = uint8(b>>56) & 15
		f.TariffIndex = uint8(b >> 48)
		f.KeyPart = uint32(b >> 16)
	case SubKeyChange3, SubKeyChange4:
		f.SGCPart = uint16(b>>48) & 0xFFF
		f.KeyPart = uint32(b >> 16)
	default:
		if f.SubClass < subManagementReservedFirst {
			f.parseTID(b)
		}
	}
}
