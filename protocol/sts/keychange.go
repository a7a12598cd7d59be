package sts

import (
	"encoding/binary"
	"fmt"
)

// KeyChange is the content of a key change token set: the new decoder key
// and the identity that goes with it. A 64-bit key travels in two sections,
// a 128-bit key in four, the last two carrying a new supply group code
// (PROTOCOL.md §3.4, §9).
type KeyChange struct {
	// NewKey is the new decoder key, 8 or 16 bytes.
	NewKey []byte
	// KEN is the key expiry number of the new key; 255 never expires.
	KEN uint8
	// KRN is the key revision number of the new key, 1 to 9.
	KRN uint8
	// KeyType is the type of the new key, 0 to 3.
	KeyType uint8
	// TariffIndex is the tariff index of the new key, 0 to 99.
	TariffIndex uint8
	// RO marks a TID roll-over: the meter clears its TID memory and moves
	// to the next base date.
	RO bool
	// SGC is the new supply group code, sent only with a 128-bit key.
	SGC uint32
}

// Sections returns the fields of the set's tokens in entry order: 1st and
// 2nd for a 64-bit key, then 3rd and 4th for a 128-bit one. Each is to be
// encrypted under the meter's current key.
func (k *KeyChange) Sections() ([]Fields, error) {
	if k.KRN < 1 || k.KRN > 9 {
		return nil, fmt.Errorf("key change: krn %d: want 1 to 9", k.KRN)
	}
	if k.KeyType > 3 {
		return nil, fmt.Errorf("key change: key type %d: want 0 to 3", k.KeyType)
	}
	if k.TariffIndex > 99 {
		return nil, fmt.Errorf("key change: tariff index %d: want 00 to 99", k.TariffIndex)
	}
	var hi, lo, mid2, mid1 uint32
	switch len(k.NewKey) {
	case 8:
		if k.SGC != 0 {
			return nil, fmt.Errorf("key change: a 64-bit key set carries no SGC")
		}
		hi = binary.BigEndian.Uint32(k.NewKey[0:])
		lo = binary.BigEndian.Uint32(k.NewKey[4:])
	case 16:
		if k.SGC > 999_999 {
			return nil, fmt.Errorf("key change: sgc %d: want 6 digits", k.SGC)
		}
		hi = binary.BigEndian.Uint32(k.NewKey[0:])
		mid2 = binary.BigEndian.Uint32(k.NewKey[4:])
		mid1 = binary.BigEndian.Uint32(k.NewKey[8:])
		lo = binary.BigEndian.Uint32(k.NewKey[12:])
	default:
		return nil, fmt.Errorf("key change: new key has %d bytes, want 8 or 16: %w",
			len(k.NewKey), ErrKeyLength)
	}
	s := []Fields{
		{Class: ClassManagement, SubClass: SubKeyChange1, KENPart: k.KEN >> 4, KRN: k.KRN,
			RO: k.RO, KeyType: k.KeyType, KeyPart: hi},
		{Class: ClassManagement, SubClass: SubKeyChange2, KENPart: k.KEN & 15,
			TariffIndex: k.TariffIndex, KeyPart: lo},
	}
	if len(k.NewKey) == 16 {
		s = append(s,
			Fields{Class: ClassManagement, SubClass: SubKeyChange3,
				SGCPart: uint16(k.SGC & 0xFFF), KeyPart: mid2},
			Fields{Class: ClassManagement, SubClass: SubKeyChange4,
				SGCPart: uint16(k.SGC >> 12 & 0xFFF), KeyPart: mid1})
	}
	return s, nil
}

// KeyChangeSections returns how many sections a set has for a key of
// keyLen bytes: 2 or 4.
func KeyChangeSections(keyLen int) int {
	if keyLen == 16 {
		return 4
	}
	return 2
}

// AssembleKeyChange rebuilds a key change from a complete set of sections
// in any order: the 1st and 2nd for a 64-bit key (keyLen 8), all four for a
// 128-bit key (keyLen 16).
func AssembleKeyChange(keyLen int, sections []Fields) (KeyChange, error) {
	var got [4]*Fields
	for i := range sections {
		f := &sections[i]
		idx := -1
		switch f.SubClass {
		case SubKeyChange1:
			idx = 0
		case SubKeyChange2:
			idx = 1
		case SubKeyChange3:
			idx = 2
		case SubKeyChange4:
			idx = 3
		}
		if f.Class != ClassManagement || idx < 0 {
			return KeyChange{}, fmt.Errorf("assemble key change: class %d sub-class %d "+
				"is not a key change section", f.Class, f.SubClass)
		}
		got[idx] = f
	}
	n := KeyChangeSections(keyLen)
	for i := range n {
		if got[i] == nil {
			return KeyChange{}, fmt.Errorf("assemble key change: section %d missing", i+1)
		}
	}
	k := KeyChange{
		KEN:         got[0].KENPart<<4 | got[1].KENPart&15,
		KRN:         got[0].KRN,
		KeyType:     got[0].KeyType,
		RO:          got[0].RO,
		TariffIndex: got[1].TariffIndex,
		NewKey:      make([]byte, keyLen),
	}
	if n == 2 {
		binary.BigEndian.PutUint32(k.NewKey[0:], got[0].KeyPart)
		binary.BigEndian.PutUint32(k.NewKey[4:], got[1].KeyPart)
		return k, nil
	}
	binary.BigEndian.PutUint32(k.NewKey[0:], got[0].KeyPart)
	binary.BigEndian.PutUint32(k.NewKey[4:], got[2].KeyPart)
	binary.BigEndian.PutUint32(k.NewKey[8:], got[3].KeyPart)
	binary.BigEndian.PutUint32(k.NewKey[12:], got[1].KeyPart)
	k.SGC = uint32(got[3].SGCPart)<<12 | uint32(got[2].SGCPart)
	return k, nil
}
