package sts

import (
	"crypto/des"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
)

// Key types (PROTOCOL.md §8.1).
const (
	// KeyTypeDITK is the initialisation key a manufacturer loads.
	KeyTypeDITK uint8 = 0
	// KeyTypeDDTK is the default key, under which credit is refused.
	KeyTypeDDTK uint8 = 1
	// KeyTypeDUTK is the unique key of a supply group, the usual key.
	KeyTypeDUTK uint8 = 2
	// KeyTypeDCTK is the common key of a supply group, for erasable
	// magnetic cards only.
	KeyTypeDCTK uint8 = 3
)

// KeyTypeName returns DITK, DDTK, DUTK or DCTK.
func KeyTypeName(kt uint8) string {
	switch kt {
	case KeyTypeDITK:
		return "DITK"
	case KeyTypeDDTK:
		return "DDTK"
	case KeyTypeDUTK:
		return "DUTK"
	case KeyTypeDCTK:
		return "DCTK"
	}
	return "KT" + strconv.Itoa(int(kt))
}

// DKGA is a decoder key generation algorithm code.
type DKGA uint8

// Decoder key generation algorithms offered. DKGA01 and DKGA03 lack public
// vectors and are not offered (PROTOCOL.md §8.4, §8.5).
const (
	// DKGA02 derives a 64-bit key with single DES from a 64-bit vending key.
	DKGA02 DKGA = 2
	// DKGA04 derives a 64- or 128-bit key with HMAC-SHA-256 from a
	// 160-bit vending key.
	DKGA04 DKGA = 4
)

// VendingKeyLen returns the vending key length in bytes: 8 or 20.
func (d DKGA) VendingKeyLen() int {
	switch d {
	case DKGA02:
		return 8
	case DKGA04:
		return 20
	}
	return 0
}

// String returns the two-digit code.
func (d DKGA) String() string { return fmt.Sprintf("%02d", uint8(d)) }

// ParseDKGA reads "02", "2", "04" or "4".
func ParseDKGA(s string) (DKGA, error) {
	switch s {
	case "02", "2":
		return DKGA02, nil
	case "04", "4":
		return DKGA04, nil
	}
	return 0, fmt.Errorf("key generation algorithm %q: want 02 or 04", s)
}

// KeyParams identifies a decoder key: the meter, its supply group and tariff,
// and the key's revision and type. The zero value is not valid.
type KeyParams struct {
	// DKGA selects the derivation.
	DKGA DKGA
	// EA is the algorithm the key is for; DKGA02 allows only EA07.
	EA EA
	// BaseDate enters the DKGA04 derivation; DKGA02 ignores it.
	BaseDate BaseDate
	// KeyType is 0 to 3.
	KeyType uint8
	// SGC is the 6-digit supply group code.
	SGC string
	// TariffIndex is 0 to 99.
	TariffIndex uint8
	// KRN is the key revision number, 1 to 9.
	KRN uint8
	// IIN is the issuer number; empty means [DefaultIIN] of the DRN.
	IIN string
	// DRN is the 11- or 13-digit decoder reference number.
	DRN string
}

// DerivedKey is a decoder key with the intermediate values a vending engineer
// checks against a key management system.
type DerivedKey struct {
	// Key is the decoder key, 8 or 16 bytes.
	Key []byte
	// MeterPAN is the 18-digit PAN that entered the derivation.
	MeterPAN string
	// PANBlock and ControlBlock are the DKGA02 input blocks.
	PANBlock, ControlBlock uint64
	// HMACMessage is the DKGA04 message.
	HMACMessage []byte
}

// validate checks the fields that both derivations share.
func (p *KeyParams) validate() error {
	if p.KeyType > 3 {
		return fmt.Errorf("key type %d: want 0 to 3", p.KeyType)
	}
	if err := checkDigits("sgc", p.SGC, 6); err != nil {
		return err
	}
	if p.TariffIndex > 99 {
		return fmt.Errorf("tariff index %d: want 00 to 99", p.TariffIndex)
	}
	if p.KRN < 1 || p.KRN > 9 {
		return fmt.Errorf("krn %d: want 1 to 9", p.KRN)
	}
	return ValidateDRN(p.DRN)
}

func (p *KeyParams) iin() string {
	if p.IIN != "" {
		return p.IIN
	}
	return DefaultIIN(p.DRN)
}

func checkDigits(name, s string, n int) error {
	if len(s) != n {
		return fmt.Errorf("%s %q: %d digits, want %d", name, s, len(s), n)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return fmt.Errorf("%s %q: character %q is not a digit", name, s, rune(s[i]))
		}
	}
	return nil
}

// DeriveKey derives the decoder key for p from a vending key. The vending
// key is only read.
func DeriveKey(vendingKey []byte, p KeyParams) (DerivedKey, error) {
	if err := p.validate(); err != nil {
		return DerivedKey{}, fmt.Errorf("derive key: %w", err)
	}
	if want := p.DKGA.VendingKeyLen(); len(vendingKey) != want {
		if want == 0 {
			return DerivedKey{}, fmt.Errorf("derive key: unknown DKGA %s", p.DKGA)
		}
		return DerivedKey{}, fmt.Errorf("derive key: DKGA%s vending key has %d bytes, want %d: %w",
			p.DKGA, len(vendingKey), want, ErrKeyLength)
	}
	pan, err := MeterPAN(p.iin(), p.DRN)
	if err != nil {
		return DerivedKey{}, fmt.Errorf("derive key: %w", err)
	}
	if p.DKGA == DKGA02 {
		return deriveDKGA02(vendingKey, p, pan)
	}
	return deriveDKGA04(vendingKey, p, pan)
}

func deriveDKGA02(vk []byte, p KeyParams, pan string) (DerivedKey, error) {
	if p.EA != EA07 && p.EA != 0 {
		return DerivedKey{}, fmt.Errorf("derive key: DKGA02 goes with EA07 only, not EA%s", p.EA)
	}
	pb, err := PANBlock(p.iin(), p.DRN, p.KeyType)
	if err != nil {
		return DerivedKey{}, fmt.Errorf("derive key: %w", err)
	}
	cb := ControlBlock(p.KeyType, p.SGC, p.TariffIndex, p.KRN)
	dk := make([]byte, 8)
	binary.BigEndian.PutUint64(dk, dkga02(vk, pb, cb))
	return DerivedKey{Key: dk, MeterPAN: pan, PANBlock: pb, ControlBlock: cb}, nil
}

// dkga02 computes DK = DES_VK(X) ⊕ X ⊕ VK with X = PANBlock ⊕ CONTROLBlock
// (IEC 62055-41 §6.5.3, PROTOCOL.md §8.3). DES ignores the parity bits.
func dkga02(vk []byte, pan, control uint64) uint64 {
	c, err := des.NewCipher(vk)
	if err != nil {
		panic("sts: des key of 8 bytes refused: " + err.Error())
	}
	var x, y [8]byte
	xv := pan ^ control
	binary.BigEndian.PutUint64(x[:], xv)
	c.Encrypt(y[:], x[:])
	return binary.BigEndian.Uint64(y[:]) ^ xv ^ binary.BigEndian.Uint64(vk)
}

func deriveDKGA04(vk []byte, p KeyParams, pan string) (DerivedKey, error) {
	if p.EA != EA07 && p.EA != EA11 {
		return DerivedKey{}, fmt.Errorf("derive key: DKGA04 needs EA07 or EA11, not EA%s", p.EA)
	}
	if !p.BaseDate.Valid() {
		return DerivedKey{}, fmt.Errorf("derive key: DKGA04 needs a base date of 1993, 2014 or 2035")
	}
	msg := DKGA04Message(p, pan)
	mac := hmac.New(sha256.New, vk)
	mac.Write(msg)
	sum := mac.Sum(nil)
	return DerivedKey{Key: sum[:p.EA.KeyLen()], MeterPAN: pan, HMACMessage: msg}, nil
}

// DKGA04Message builds the HMAC message of DKGA04 for a meter PAN: a label
// group (DKGA, base date, EA, tariff index) and a context group (SGC, key
// type, KRN, PAN), each field length-prefixed, then the output length in bits
// (PROTOCOL.md §8.6).
func DKGA04Message(p KeyParams, meterPAN string) []byte {
	m := make([]byte, 0, 64)
	field := func(s string) { m = append(append(m, byte(len(s))), s...) }
	m = append(m, 4)
	field("04")
	field(p.BaseDate.Code())
	field(p.EA.String())
	field(fmt.Sprintf("%02d", p.TariffIndex))
	m = append(m, 0, 4)
	field(p.SGC)
	field(strconv.FormatUint(uint64(p.KeyType), 16))
	field(strconv.FormatUint(uint64(p.KRN), 16))
	field(meterPAN)
	return binary.BigEndian.AppendUint32(m, uint32(8*p.EA.KeyLen()))
}

// PANBlock returns the DKGA02 PANBlock: the last 5 digits of a 6-digit IIN
// and the last 11 of the IAIN, or the last 3 of a 4-digit IIN and 13 IAIN
// digits, read as 16 hex nibbles; for a DCTK the IAIN digits are zeros
// (PROTOCOL.md §8.2).
func PANBlock(iin, iain string, keyType uint8) (uint64, error) {
	if len(iin)+len(iain) != 17 || (len(iain) != 11 && len(iain) != 13) {
		return 0, fmt.Errorf("pan block: IIN %q and IAIN %q: want 6+11 or 4+13 digits",
			iin, iain)
	}
	digits := iin[1:] + iain
	var b uint64
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("pan block: character %q is not a digit", rune(c))
		}
		if keyType == KeyTypeDCTK && i >= len(iin)-1 {
			c = '0'
		}
		b = b<<4 | uint64(c-'0')
	}
	return b, nil
}

// ControlBlock returns the DKGA02 CONTROLBlock KT ‖ SGC ‖ TI ‖ KRN ‖ FFFFFF,
// each decimal digit one nibble. sgc must be six digits.
func ControlBlock(keyType uint8, sgc string, ti, krn uint8) uint64 {
	b := uint64(keyType & 15)
	for i := 0; i < len(sgc) && i < 6; i++ {
		b = b<<4 | uint64(sgc[i]-'0')&15
	}
	b = b<<4 | uint64(ti/10%10)
	b = b<<4 | uint64(ti%10)
	b = b<<4 | uint64(krn&15)
	return b<<24 | 0xFFFFFF
}
