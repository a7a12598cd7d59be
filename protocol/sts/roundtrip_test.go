package sts

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// testCiphers returns one cipher per algorithm under random keys.
func testCiphers(r *rand.Rand) map[string]BlockCipher {
	k8 := make([]byte, 8)
	k16 := make([]byte, 16)
	for i := range k8 {
		k8[i] = byte(r.Uint32())
	}
	for i := range k16 {
		k16[i] = byte(r.Uint32())
	}
	sta, _ := NewCipher(EA07, k8, nil)
	misty, _ := NewCipher(EA11, k16, nil)
	return map[string]BlockCipher{"EA07": sta, "EA11": misty}
}

// randomFields returns valid fields for the given class and sub-class with
// random contents.
func randomFields(r *rand.Rand, class Class, sub uint8) Fields {
	f := Fields{Class: class, SubClass: sub}
	switch {
	case class == ClassTest && sub == SubTest2Digit:
		f.Control, f.MfrCode = r.Uint64N(1<<36), uint16(r.UintN(256))
	case class == ClassTest:
		f.Control, f.MfrCode = r.Uint64N(1<<28), uint16(r.UintN(1<<16))
	case f.IsKeyChange():
		f.KeyPart = r.Uint32()
		switch sub {
		case SubKeyChange1:
			f.KENPart, f.KRN, f.KeyType = uint8(r.UintN(16)), uint8(1+r.UintN(9)), uint8(r.UintN(4))
			f.RO = r.UintN(2) == 1
		case SubKeyChange2:
			f.KENPart, f.TariffIndex = uint8(r.UintN(16)), uint8(r.UintN(100))
		default:
			f.SGCPart = uint16(r.UintN(4096))
		}
	default:
		f.RND, f.TID, f.Value = uint8(r.UintN(16)), uint32(r.UintN(MaxTID+1)), uint16(r.Uint32())
	}
	return f
}

// TestRoundTrip issues and decodes random tokens of every class and
// sub-class under both ciphers, through the 20-digit form.
func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	kinds := []struct {
		class Class
		subs  []uint8
	}{
		{ClassCredit, []uint8{0, 1, 2, 3, 4, 5, 6, 7}},
		{ClassTest, []uint8{0, 1}},
		{ClassManagement, []uint8{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
	}
	for name, c := range testCiphers(r) {
		for _, k := range kinds {
			for _, sub := range k.subs {
				t.Run(fmt.Sprintf("%s/class%d/sub%d", name, k.class, sub), func(t *testing.T) {
					for range 200 {
						f := randomFields(r, k.class, sub)
						tok, err := Encode(c, &f)
						if err != nil {
							t.Fatal(err)
						}
						parsed, err := ParseToken(tok.String())
						if err != nil {
							t.Fatal(err)
						}
						got, ok, err := Decode(c, parsed)
						if err != nil || !ok {
							t.Fatalf("decode %s: crc ok %v, err %v", tok, ok, err)
						}
						if got != f {
							t.Fatalf("decoded %+v, want %+v", got, f)
						}
					}
				})
			}
		}
	}
}

// TestWrongKeyFailsCRC checks that a token decrypted under another meter's
// key fails its check, apart from the expected 1 in 65 536.
func TestWrongKeyFailsCRC(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for name, c := range testCiphers(r) {
		other := testCiphers(r)[name]
		passed := 0
		const n = 20_000
		for i := range n {
			f := Fields{Class: ClassCredit, RND: 5, TID: uint32(i), Value: 100}
			tok, err := Encode(c, &f)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := Decode(other, tok); ok {
				passed++
			}
		}
		// Expected about 0.3; more than 5 means the check is broken.
		if passed > 5 {
			t.Errorf("%s: %d of %d tokens passed the CRC under the wrong key", name, passed, n)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	sta := NewSTA(1, nil)
	tests := []struct {
		name string
		c    BlockCipher
		f    Fields
		want error
	}{
		{"tid too large", sta, Fields{TID: MaxTID + 1}, ErrField},
		{"rnd too large", sta, Fields{RND: 16}, ErrField},
		{"reserved credit sub-class", sta, Fields{SubClass: 8}, ErrField},
		{"reserved class", sta, Fields{Class: ClassReserved}, ErrField},
		{"control too wide", nil, Fields{Class: ClassTest, Control: 1 << 36}, ErrField},
		{"mfr too wide", nil, Fields{Class: ClassTest, MfrCode: 256}, ErrField},
		{"test sub-class 2", nil, Fields{Class: ClassTest, SubClass: 2}, ErrField},
		{"management reserved", sta, Fields{Class: ClassManagement, SubClass: 12}, ErrField},
		{"tariff index 100", sta, Fields{Class: ClassManagement, SubClass: SubKeyChange2,
			TariffIndex: 100}, ErrField},
		{"no key", nil, Fields{}, ErrNoKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Encode(tt.c, &tt.f); !errors.Is(err, tt.want) {
				t.Errorf("Encode error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDecodeWithoutKey(t *testing.T) {
	tok := MakeToken(ClassCredit, 12345)
	if _, _, err := Decode(nil, tok); !errors.Is(err, ErrNoKey) {
		t.Errorf("Decode(nil) of a credit token: %v, want ErrNoKey", err)
	}
	f, ok, err := Decode(nil, MakeToken(ClassReserved, 1))
	if err != nil || ok || f.Class != ClassReserved {
		t.Errorf("class 3 decodes to %+v, %v, %v", f, ok, err)
	}
}

func TestKeyChangeAssembly(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{8, 16} {
		key := make([]byte, n)
		for i := range key {
			key[i] = byte(r.Uint32())
		}
		kc := KeyChange{NewKey: key, KEN: 0xA5, KRN: 3, KeyType: 2, TariffIndex: 42, RO: true}
		if n == 16 {
			kc.SGC = 123457
		}
		s, err := kc.Sections()
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != KeyChangeSections(n) {
			t.Fatalf("%d sections for a %d-byte key", len(s), n)
		}
		// Reverse order: a meter accepts the sections in any order.
		rev := []Fields{}
		for i := len(s) - 1; i >= 0; i-- {
			rev = append(rev, s[i])
		}
		got, err := AssembleKeyChange(n, rev)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.NewKey, key) || got.KEN != kc.KEN || got.KRN != kc.KRN ||
			got.KeyType != kc.KeyType || got.TariffIndex != kc.TariffIndex || got.RO != kc.RO ||
			got.SGC != kc.SGC {
			t.Errorf("assembled %+v, want %+v", got, kc)
		}
		if _, err := AssembleKeyChange(n, s[:1]); err == nil {
			t.Error("an incomplete set assembled")
		}
	}
	bad := KeyChange{NewKey: make([]byte, 8), KRN: 1, SGC: 5}
	if _, err := bad.Sections(); err == nil {
		t.Error("a 64-bit set with an SGC was accepted")
	}
}

// FuzzDecode feeds arbitrary 20-digit strings through parse and decode under
// both ciphers: no panic, and a token that passes its check re-encodes to
// itself.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"51043465443420856213", "00000000000000000000",
		"73786976294838206463", "56493153725450313471", "12345"} {
		f.Add(s)
	}
	r := rand.New(rand.NewPCG(1, 1))
	ciphers := testCiphers(r)
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("unknown error kind: %v", err)
			}
			return
		}
		for _, c := range ciphers {
			fields, ok, err := Decode(c, tok)
			if err != nil {
				t.Fatalf("decode with a key: %v", err)
			}
			if !ok {
				continue
			}
			again, err := Encode(c, &fields)
			if err != nil {
				t.Fatalf("re-encode %+v: %v", fields, err)
			}
			if again != tok {
				t.Fatalf("re-encoded %s, want %s", again, tok)
			}
		}
	})
}

// TestBlockPathAllocs checks that issuing and decoding with a prepared
// cipher allocate nothing.
func TestBlockPathAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for name, c := range testCiphers(r) {
		f := Fields{Class: ClassCredit, RND: 5, TID: 1234, Value: 100}
		buf := make([]byte, 0, TokenDigits)
		issue := testing.AllocsPerRun(200, func() {
			tok, err := Encode(c, &f)
			if err != nil {
				t.Fatal(err)
			}
			buf = tok.AppendDigits(buf[:0])
		})
		decode := testing.AllocsPerRun(200, func() {
			tok, err := ParseDigits(buf)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok, err := Decode(c, tok); err != nil || !ok {
				t.Fatal("decode failed")
			}
		})
		if issue != 0 || decode != 0 {
			t.Errorf("%s: issue allocates %.0f, decode %.0f", name, issue, decode)
		}
	}
}
