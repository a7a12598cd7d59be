package misty1

import (
	"bytes"
	"crypto/cipher"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var _ cipher.Block = (*Cipher)(nil)

// rfcKey is the key of the RFC 2994 test data.
const rfcKey = "00112233445566778899AABBCCDDEEFF"

func mustCipher(t testing.TB, keyHex string) *Cipher {
	t.Helper()
	key, err := hex.DecodeString(keyHex)
	if err != nil {
		t.Fatalf("decode key %q: %v", keyHex, err)
	}
	c, err := NewCipher(key)
	if err != nil {
		t.Fatalf("NewCipher(%s): %v", keyHex, err)
	}
	return c
}

func mustBlock(t testing.TB, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil || len(s) != 16 {
		t.Fatalf("bad 64-bit hex block %q: %v", s, err)
	}
	return v
}

func TestRFC2994(t *testing.T) {
	tests := []struct {
		name, plaintext, ciphertext string
	}{
		{"block 1", "0123456789ABCDEF", "8B1DA5F56AB3D07C"},
		{"block 2", "FEDCBA9876543210", "04B68240B13BE95D"},
	}
	c := mustCipher(t, rfcKey)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, want := mustBlock(t, tt.plaintext), mustBlock(t, tt.ciphertext)
			if got := c.EncryptBlock(p); got != want {
				t.Errorf("EncryptBlock(%016X) = %016X, want %016X", p, got, want)
			}
			if got := c.DecryptBlock(want); got != p {
				t.Errorf("DecryptBlock(%016X) = %016X, want %016X", want, got, p)
			}

			pb, _ := hex.DecodeString(tt.plaintext)
			cb, _ := hex.DecodeString(tt.ciphertext)
			got := make([]byte, BlockSize)
			c.Encrypt(got, pb)
			if !bytes.Equal(got, cb) {
				t.Errorf("Encrypt(%X) = %X, want %X", pb, got, cb)
			}
			c.Decrypt(got, cb)
			if !bytes.Equal(got, pb) {
				t.Errorf("Decrypt(%X) = %X, want %X", cb, got, pb)
			}
		})
	}
}

// stsVector is one entry of testdata/vectors.json.
type stsVector struct {
	Name          string `json:"name"`
	Kind          string `json:"kind"`
	KeyHex        string `json:"key_hex"`
	TokenClass    int    `json:"token_class"`
	PlaintextHex  string `json:"plaintext_hex"`
	CiphertextHex string `json:"ciphertext_hex"`
	Token20       string `json:"token_20"`
}

func loadSTSVectors(t *testing.T) []stsVector {
	t.Helper()
	raw, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []stsVector `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatalf("parse testdata/vectors.json: %v", err)
	}
	return file.Vectors
}

// token66 inserts the class bits into the ciphertext E as IEC 62055-41 does:
// bits 28 and 27 of E move to bits 65 and 64 and are replaced by the class.
func token66(e uint64, class int) *big.Int {
	hi := int64((e>>28&1)<<1 | e>>27&1)
	lo := e&^(3<<27) | uint64(class>>1&1)<<28 | uint64(class&1)<<27
	t := new(big.Int).Lsh(big.NewInt(hi), 64)
	return t.Or(t, new(big.Int).SetUint64(lo))
}

// splitToken66 undoes token66, returning E and the class.
func splitToken66(t *big.Int) (e uint64, class int) {
	lo := new(big.Int).And(t, new(big.Int).SetUint64(^uint64(0))).Uint64()
	hi := new(big.Int).Rsh(t, 64).Uint64()
	class = int(lo >> 27 & 3)
	e = lo&^(3<<27) | (hi>>1&1)<<28 | (hi&1)<<27
	return e, class
}

func pad20(t *big.Int) string {
	s := t.String()
	return strings.Repeat("0", max(0, 20-len(s))) + s
}

func TestSTSVectors(t *testing.T) {
	vectors := loadSTSVectors(t)
	counts := map[string]int{}
	for _, v := range vectors {
		counts[v.Kind]++
	}
	wantCounts := map[string]int{
		"misty1_block":                 2,
		"token_transfer_credit_misty1": 30,
		"token_key_change_misty1":      6,
	}
	if diff := cmp.Diff(wantCounts, counts); diff != "" {
		t.Fatalf("vector kinds (-want +got):\n%s", diff)
	}

	for _, v := range vectors {
		t.Run(v.Name, func(t *testing.T) {
			c := mustCipher(t, v.KeyHex)
			p := mustBlock(t, v.PlaintextHex)
			e := c.EncryptBlock(p)

			if v.Kind == "misty1_block" {
				if want := mustBlock(t, v.CiphertextHex); e != want {
					t.Errorf("EncryptBlock(%016X) = %016X, want %016X", p, e, want)
				}
				return
			}

			if got := pad20(token66(e, v.TokenClass)); got != v.Token20 {
				t.Errorf("token of block %016X class %d = %s, want %s",
					p, v.TokenClass, got, v.Token20)
			}

			// The meter's direction: token digits back to the plaintext block.
			tok, ok := new(big.Int).SetString(v.Token20, 10)
			if !ok {
				t.Fatalf("bad token %q", v.Token20)
			}
			ct, class := splitToken66(tok)
			if class != v.TokenClass {
				t.Errorf("class from token = %d, want %d", class, v.TokenClass)
			}
			if got := c.DecryptBlock(ct); got != p {
				t.Errorf("DecryptBlock(%016X) = %016X, want %016X", ct, got, p)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(0x6d69737479, 1))
	key := make([]byte, KeySize)
	for range 200 {
		for i := range key {
			key[i] = byte(rng.Uint32())
		}
		c, err := NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		for range 50 {
			p := rng.Uint64()
			e := c.EncryptBlock(p)
			if got := c.DecryptBlock(e); got != p {
				t.Fatalf("key %X: DecryptBlock(EncryptBlock(%016X)) = %016X", key, p, got)
			}

			var buf [BlockSize]byte
			for i := range buf {
				buf[i] = byte(p >> (56 - 8*i))
			}
			c.Encrypt(buf[:], buf[:]) // in place
			if got := uint64FromBytes(buf[:]); got != e {
				t.Fatalf("key %X: Encrypt(%016X) = %016X, EncryptBlock gives %016X",
					key, p, got, e)
			}
			c.Decrypt(buf[:], buf[:])
			if got := uint64FromBytes(buf[:]); got != p {
				t.Fatalf("key %X: Decrypt(Encrypt(%016X)) = %016X", key, p, got)
			}
		}
	}
}

func uint64FromBytes(b []byte) uint64 {
	var v uint64
	for _, x := range b[:8] {
		v = v<<8 | uint64(x)
	}
	return v
}

func TestKeySizeError(t *testing.T) {
	tests := []struct {
		name string
		key  []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"64-bit STA key", make([]byte, 8)},
		{"one short", make([]byte, 15)},
		{"one long", make([]byte, 17)},
		{"256-bit", make([]byte, 32)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewCipher(tt.key)
			if c != nil {
				t.Errorf("NewCipher returned a cipher for a %d-byte key", len(tt.key))
			}
			var kse KeySizeError
			if !errors.As(err, &kse) {
				t.Fatalf("NewCipher error = %v, want a KeySizeError", err)
			}
			if int(kse) != len(tt.key) {
				t.Errorf("KeySizeError = %d, want %d", int(kse), len(tt.key))
			}
			want := "misty1: invalid key size " + strconv.Itoa(len(tt.key))
			if !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error text %q, want prefix %q", err.Error(), want)
			}
		})
	}
}

func TestShortBufferPanics(t *testing.T) {
	c := mustCipher(t, rfcKey)
	short, full := make([]byte, BlockSize-1), make([]byte, BlockSize)
	tests := []struct {
		name string
		call func()
	}{
		{"Encrypt short src", func() { c.Encrypt(full, short) }},
		{"Encrypt short dst", func() { c.Encrypt(short, full) }},
		{"Decrypt short src", func() { c.Decrypt(full, short) }},
		{"Decrypt short dst", func() { c.Decrypt(short, full) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic for a buffer shorter than a block")
				}
			}()
			tt.call()
		})
	}
}

func TestAllocs(t *testing.T) {
	c := mustCipher(t, rfcKey)
	buf := make([]byte, BlockSize)
	var sink uint64
	tests := []struct {
		name string
		call func()
	}{
		{"EncryptBlock", func() { sink = c.EncryptBlock(sink + 1) }},
		{"DecryptBlock", func() { sink = c.DecryptBlock(sink + 1) }},
		{"Encrypt", func() { c.Encrypt(buf, buf) }},
		{"Decrypt", func() { c.Decrypt(buf, buf) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, tt.call); n != 0 {
				t.Errorf("%s allocates %v times per call, want 0", tt.name, n)
			}
		})
	}
}

// TestConcurrentUse shares one Cipher between goroutines; run with -race.
func TestConcurrentUse(t *testing.T) {
	c := mustCipher(t, rfcKey)
	const workers, blocks = 4, 500
	want := make([]uint64, blocks)
	for i := range want {
		want[i] = c.EncryptBlock(uint64(i) * 0x9E3779B97F4A7C15)
	}

	got := make([][]uint64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		got[w] = make([]uint64, blocks)
		wg.Go(func() {
			for i := range blocks {
				e := c.EncryptBlock(uint64(i) * 0x9E3779B97F4A7C15)
				got[w][i] = e ^ c.DecryptBlock(e) ^ uint64(i)*0x9E3779B97F4A7C15
			}
		})
	}
	wg.Wait()

	for w := range workers {
		if diff := cmp.Diff(want, got[w]); diff != "" {
			t.Errorf("worker %d results differ (-want +got):\n%s", w, diff)
		}
	}
}

// FuzzRoundTrip feeds arbitrary keys and blocks: NewCipher must reject bad
// lengths without panicking, and decryption must undo encryption.
func FuzzRoundTrip(f *testing.F) {
	rfc, _ := hex.DecodeString(rfcKey)
	f.Add(rfc, uint64(0x0123456789ABCDEF))
	f.Add(make([]byte, KeySize), uint64(0))
	f.Add(bytes.Repeat([]byte{0xff}, KeySize), ^uint64(0))
	f.Add([]byte{1, 2, 3}, uint64(42))
	f.Fuzz(func(t *testing.T, key []byte, p uint64) {
		c, err := NewCipher(key)
		if len(key) != KeySize {
			if err == nil {
				t.Fatalf("NewCipher accepted a %d-byte key", len(key))
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := c.DecryptBlock(c.EncryptBlock(p)); got != p {
			t.Fatalf("key %X: round trip of %016X gives %016X", key, p, got)
		}
	})
}

var (
	benchSink   uint64
	benchCipher *Cipher
)

func BenchmarkEncryptBlock(b *testing.B) {
	c := mustCipher(b, rfcKey)
	b.SetBytes(BlockSize)
	b.ReportAllocs()
	x := uint64(0x0123456789ABCDEF)
	for b.Loop() {
		x = c.EncryptBlock(x)
	}
	benchSink = x
}

func BenchmarkDecryptBlock(b *testing.B) {
	c := mustCipher(b, rfcKey)
	b.SetBytes(BlockSize)
	b.ReportAllocs()
	x := uint64(0x8B1DA5F56AB3D07C)
	for b.Loop() {
		x = c.DecryptBlock(x)
	}
	benchSink = x
}

func BenchmarkNewCipher(b *testing.B) {
	key, _ := hex.DecodeString(rfcKey)
	b.ReportAllocs()
	for b.Loop() {
		c, err := NewCipher(key)
		if err != nil {
			b.Fatal(err)
		}
		benchCipher = c // keep it on the heap, as a caller holding it would
	}
}

// BenchmarkDecryptBlockBatch decrypts independent blocks back to back, as a
// simulator checking many tokens does; the CPU can overlap them, unlike the
// dependent chain of [BenchmarkDecryptBlock].
func BenchmarkDecryptBlockBatch(b *testing.B) {
	c := mustCipher(b, rfcKey)
	var blocks [64]uint64
	for i := range blocks {
		blocks[i] = uint64(i) * 0x9E3779B97F4A7C15
	}
	b.SetBytes(BlockSize * int64(len(blocks)))
	b.ReportAllocs()
	var acc uint64
	for b.Loop() {
		for _, x := range blocks {
			acc ^= c.DecryptBlock(x)
		}
	}
	benchSink = acc
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(blocks)), "ns/block")
}
