package sts

import (
	"crypto/des"
	"testing"
)

var benchSink uint64

func benchIssue(b *testing.B, c BlockCipher) {
	buf := make([]byte, 0, TokenDigits)
	f := Fields{Class: ClassCredit, RND: 5, TID: 6_000_000, Value: 100}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f.TID = uint32(i) & MaxTID
		tok, err := Encode(c, &f)
		if err != nil {
			b.Fatal(err)
		}
		buf = tok.AppendDigits(buf[:0])
	}
	benchSink += uint64(buf[0])
}

func benchDecode(b *testing.B, c BlockCipher) {
	f := Fields{Class: ClassCredit, RND: 5, TID: 6_000_000, Value: 100}
	tok, err := Encode(c, &f)
	if err != nil {
		b.Fatal(err)
	}
	digits := tok.AppendDigits(nil)
	b.ReportAllocs()
	for b.Loop() {
		t, err := ParseDigits(digits)
		if err != nil {
			b.Fatal(err)
		}
		got, ok, err := Decode(c, t)
		if err != nil || !ok {
			b.Fatal("decode failed")
		}
		benchSink += uint64(got.TID)
	}
}

func staCipher(b *testing.B) BlockCipher {
	c, err := NewCipher(EA07, []byte{0x0A, 0xBC, 0x12, 0xDE, 0xF3, 0x45, 0x67, 0x89}, nil)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func mistyCipher(b *testing.B) BlockCipher {
	key := []byte{0xF9, 0x4B, 0x6E, 0xD3, 0x53, 0xC3, 0xBF, 0xDB,
		0x11, 0x3E, 0x2D, 0x3A, 0x7E, 0xA3, 0xC4, 0x1D}
	c, err := NewCipher(EA11, key, nil)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkIssueSTA measures a full credit token issue under a prepared
// STA key: block, CRC, encryption, class bits and 20 digits appended to a
// reused buffer.
func BenchmarkIssueSTA(b *testing.B) { benchIssue(b, staCipher(b)) }

// BenchmarkDecodeSTA measures a full decode: 20 digits parsed, class bits
// removed, STA decryption, field split and CRC check.
func BenchmarkDecodeSTA(b *testing.B) { benchDecode(b, staCipher(b)) }

// BenchmarkIssueMISTY1 is BenchmarkIssueSTA under EA11.
func BenchmarkIssueMISTY1(b *testing.B) { benchIssue(b, mistyCipher(b)) }

// BenchmarkDecodeMISTY1 is BenchmarkDecodeSTA under EA11.
func BenchmarkDecodeMISTY1(b *testing.B) { benchDecode(b, mistyCipher(b)) }

// BenchmarkDESBlock is the yardstick for the STA targets: one crypto/des
// block encryption with a prepared cipher.
func BenchmarkDESBlock(b *testing.B) {
	c, err := des.NewCipher([]byte{0x13, 0x34, 0x57, 0x79, 0x9B, 0xBC, 0xDF, 0xF1})
	if err != nil {
		b.Fatal(err)
	}
	var blk [8]byte
	b.ReportAllocs()
	for b.Loop() {
		c.Encrypt(blk[:], blk[:])
	}
	benchSink += uint64(blk[0])
}

// BenchmarkSTAEncryptBlock measures the bare STA block encryption.
func BenchmarkSTAEncryptBlock(b *testing.B) {
	s := NewSTA(0x0ABC12DEF3456789, nil)
	x := uint64(0x0B19EB230100C207)
	for b.Loop() {
		x = s.EncryptBlock(x)
	}
	benchSink += x
}

var dkgaParams = KeyParams{KeyType: 2, SGC: "123456", TariffIndex: 7, KRN: 1,
	DRN: "37194275246", BaseDate: Base2014}

// BenchmarkDKGA02 measures one decoder key derivation with DKGA02.
func BenchmarkDKGA02(b *testing.B) {
	p := dkgaParams
	p.DKGA, p.EA = DKGA02, EA07
	vk := []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DeriveKey(vk, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDKGA04 measures one 128-bit decoder key derivation with DKGA04.
func BenchmarkDKGA04(b *testing.B) {
	p := dkgaParams
	p.DKGA, p.EA = DKGA04, EA11
	vk := make([]byte, 20)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DeriveKey(vk, p); err != nil {
			b.Fatal(err)
		}
	}
}
