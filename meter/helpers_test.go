package meter

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// Test identity: the DRN of the public examples and made-up keys.
const testDRN = "37194275246"

var (
	t0      = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	key07   = mustHex("0123456789ABCDEF")
	key07b  = mustHex("FEDCBA9876543210")
	key07c  = mustHex("0F1E2D3C4B5A6978")
	key11   = mustHex("00112233445566778899AABBCCDDEEFF")
	key11b  = mustHex("FFEEDDCCBBAA99887766554433221100")
	tid2025 = mustTID(t0, sts.Base2014)
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func mustTID(t time.Time, b sts.BaseDate) uint32 {
	tid, err := sts.TIDAt(t, b)
	if err != nil {
		panic(err)
	}
	return tid
}

func ken(v uint8) *uint8 { return &v }

// baseConfig is an EA07 electricity meter holding a DUTK, without load, so
// that only tokens change it.
func baseConfig() Config {
	return Config{
		DRN:     testDRN,
		SGC:     123456,
		KRN:     1,
		KeyType: sts.KeyTypeDUTK,
		Key:     key07,
		Load:    Load{Kind: LoadNone},
	}
}

func newMeter(t testing.TB, cfg Config) *Meter {
	t.Helper()
	m, err := New(cfg, t0)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

func cipherFor(ea sts.EA, key []byte) sts.BlockCipher {
	c, err := sts.NewCipher(ea, key, nil)
	if err != nil {
		panic(err)
	}
	return c
}

var (
	c07  = cipherFor(sts.EA07, key07)
	c07b = cipherFor(sts.EA07, key07b)
	c07c = cipherFor(sts.EA07, key07c)
	c11  = cipherFor(sts.EA11, key11)
	c11b = cipherFor(sts.EA11, key11b)
)

// encode makes the token of f under c; the fields are test constants, so a
// failure is a broken test.
func encode(c sts.BlockCipher, f sts.Fields) string {
	tok, err := sts.Encode(c, &f)
	if err != nil {
		panic(err)
	}
	return tok.String()
}

// creditTok is a units credit token of amount base units.
func creditTok(c sts.BlockCipher, sub uint8, amount uint64, tid uint32) string {
	v, err := sts.EncodeAmount(amount)
	if err != nil {
		panic(err)
	}
	return encode(c, sts.Fields{Class: sts.ClassCredit, SubClass: sub, RND: 5, TID: tid, Value: v})
}

// currencyTok is a currency credit token.
func currencyTok(c sts.BlockCipher, sub uint8, amount sts.CurrencyAmount, tid uint32) string {
	f := sts.Fields{Class: sts.ClassCredit, SubClass: sub, TID: tid}
	f.SetCurrency(amount)
	return encode(c, f)
}

// mgmtTok is a class 2 token with a TID.
func mgmtTok(c sts.BlockCipher, sub uint8, value uint16, tid uint32) string {
	return encode(c, sts.Fields{Class: sts.ClassManagement, SubClass: sub, RND: 3, TID: tid,
		Value: value})
}

// testTok is a class 1 test/display token.
func testTok(sub uint8, control Control, mfr uint16) string {
	return encode(nil, sts.Fields{Class: sts.ClassTest, SubClass: sub, Control: uint64(control),
		MfrCode: mfr})
}

// keyChangeToks returns the sections of a key change set under c.
func keyChangeToks(c sts.BlockCipher, kc sts.KeyChange) []string {
	sections, err := kc.Sections()
	if err != nil {
		panic(err)
	}
	out := make([]string, len(sections))
	for i, f := range sections {
		out[i] = encode(c, f)
	}
	return out
}

func amountField(units uint64) uint16 {
	v, err := sts.EncodeAmount(units)
	if err != nil {
		panic(err)
	}
	return v
}

// unitsLeft returns the units register in base units.
func unitsLeft(m *Meter) uint64 { return m.units.Remaining.Base() }

// rawTok builds a token from a block whose layout sts does not define: the
// sub-class and payload bits as given, the CRC added, encrypted under c for
// classes 0 and 2.
func rawTok(c sts.BlockCipher, class sts.Class, sub uint8, payload uint64) string {
	b := uint64(sub)<<60 | payload&^(0xF<<60|0xFFFF)
	b |= uint64(sts.CRC(class, b))
	if class != sts.ClassTest {
		b = c.EncryptBlock(b)
	}
	return sts.MakeToken(class, b).String()
}
