package misty1

import (
	"encoding/binary"
	"strconv"
)

const (
	// BlockSize is the MISTY1 block size in bytes.
	BlockSize = 8

	// KeySize is the MISTY1 key size in bytes.
	KeySize = 16
)

// rounds is the number of FO rounds of MISTY1 (RFC 2994 recommends 8).
const rounds = 8

// KeySizeError is returned by [NewCipher] for a key that is not [KeySize]
// bytes long; its value is the length that was given.
type KeySizeError int

// Error reports the invalid key length.
func (k KeySizeError) Error() string {
	return "misty1: invalid key size " + strconv.Itoa(int(k)) + " (want 16 bytes)"
}

// foKey holds the subkeys of one FO round: KOi1..KOi4 are XORed in before the
// FI calls (and after, for KOi4), KIi1..KIi3 key the three FI calls.
type foKey struct {
	ko1, ko2, ko3, ko4 uint32
	ki1, ki2, ki3      uint32
}

// flKey holds the two subkeys KLi1 (AND) and KLi2 (OR) of one FL layer.
type flKey struct {
	kl1, kl2 uint32
}

// Cipher is a MISTY1 instance with an expanded 128-bit key. It implements
// [crypto/cipher.Block]. A Cipher is immutable after [NewCipher] and safe for
// concurrent use by multiple goroutines.
type Cipher struct {
	fo [rounds]foKey
	// fl has one entry per FL/FL^-1 layer: two for each pair of rounds and two
	// for the final layer.
	fl [rounds + 2]flKey
}

// NewCipher expands a 16-byte key into a [Cipher]. Any other key length is
// rejected with a [KeySizeError].
func NewCipher(key []byte) (*Cipher, error) {
	if len(key) != KeySize {
		return nil, KeySizeError(len(key))
	}
	c := new(Cipher)
	c.expand(key)
	return c, nil
}

// expand runs the RFC 2994 key schedule: K1..K8 are the key as big-endian
// 16-bit words, K'i = FI(Ki, Ki+1), and every subkey is one of the 16 words,
// picked as below (indices 0-based and taken mod 8).
func (c *Cipher) expand(key []byte) {
	var k, kp [8]uint32
	for i := range k {
		k[i] = uint32(binary.BigEndian.Uint16(key[2*i:]))
	}
	for i := range kp {
		kp[i] = fi(k[i], k[(i+1)%8])
	}

	for i := range c.fo {
		c.fo[i] = foKey{
			ko1: k[i], ko2: k[(i+2)%8], ko3: k[(i+7)%8], ko4: k[(i+4)%8],
			ki1: kp[(i+5)%8], ki2: kp[(i+1)%8], ki3: kp[(i+3)%8],
		}
	}

	// FL layer j acts on the left half for even j and the right half for odd j.
	for j := range c.fl {
		h := j / 2
		if j%2 == 0 {
			c.fl[j] = flKey{kl1: k[h%8], kl2: kp[(h+6)%8]}
		} else {
			c.fl[j] = flKey{kl1: kp[(h+2)%8], kl2: k[(h+4)%8]}
		}
	}
}

// BlockSize returns [BlockSize]; it is part of [crypto/cipher.Block].
func (c *Cipher) BlockSize() int { return BlockSize }

// Encrypt encrypts the first 8 bytes of src into dst; dst and src may overlap
// entirely. Like the standard library ciphers it panics if either is shorter
// than a block, which is a programming error rather than bad input.
func (c *Cipher) Encrypt(dst, src []byte) {
	if len(src) < BlockSize || len(dst) < BlockSize {
		panic("misty1: Encrypt with a buffer shorter than a block")
	}
	binary.BigEndian.PutUint64(dst, c.EncryptBlock(binary.BigEndian.Uint64(src)))
}

// Decrypt decrypts the first 8 bytes of src into dst; dst and src may overlap
// entirely. It panics if either is shorter than a block, as [Cipher.Encrypt].
func (c *Cipher) Decrypt(dst, src []byte) {
	if len(src) < BlockSize || len(dst) < BlockSize {
		panic("misty1: Decrypt with a buffer shorter than a block")
	}
	binary.BigEndian.PutUint64(dst, c.DecryptBlock(binary.BigEndian.Uint64(src)))
}

// EncryptBlock encrypts one block given as the big-endian uint64 of its 8
// bytes and returns the ciphertext in the same form.
func (c *Cipher) EncryptBlock(b uint64) uint64 {
	d0, d1 := uint32(b>>32), uint32(b)
	for r := 0; r < rounds; r += 2 {
		d0 = c.fl[r].apply(d0)
		d1 = c.fl[r+1].apply(d1)
		d1 ^= c.fo[r].apply(d0)
		d0 ^= c.fo[r+1].apply(d1)
	}
	d0 = c.fl[rounds].apply(d0)
	d1 = c.fl[rounds+1].apply(d1)

	// The halves swap on output.
	return uint64(d1)<<32 | uint64(d0)
}

// DecryptBlock decrypts one block given as the big-endian uint64 of its 8
// bytes and returns the plaintext in the same form.
func (c *Cipher) DecryptBlock(b uint64) uint64 {
	d0, d1 := uint32(b), uint32(b>>32)
	d0 = c.fl[rounds].invert(d0)
	d1 = c.fl[rounds+1].invert(d1)
	for r := rounds - 2; r >= 0; r -= 2 {
		d0 ^= c.fo[r+1].apply(d1)
		d1 ^= c.fo[r].apply(d0)
		d0 = c.fl[r].invert(d0)
		d1 = c.fl[r+1].invert(d1)
	}
	return uint64(d0)<<32 | uint64(d1)
}

// apply is the FO function of RFC 2994: a three-round Feistel network on
// 16-bit halves with FI as the round function.
func (k *foKey) apply(in uint32) uint32 {
	t0, t1 := in>>16, in&0xffff
	t0 = fi(t0^k.ko1, k.ki1) ^ t1
	t1 = fi(t1^k.ko2, k.ki2) ^ t0
	t0 = fi(t0^k.ko3, k.ki3) ^ t1
	t1 ^= k.ko4
	return t1<<16 | t0
}

// apply is the FL function of RFC 2994.
func (k *flKey) apply(in uint32) uint32 {
	d0, d1 := in>>16, in&0xffff
	d1 ^= d0 & k.kl1
	d0 ^= d1 | k.kl2
	return d0<<16 | d1
}

// invert is FL^-1 of RFC 2994: it undoes [flKey.apply] with the same subkeys.
func (k *flKey) invert(in uint32) uint32 {
	d0, d1 := in>>16, in&0xffff
	d0 ^= d1 | k.kl2
	d1 ^= d0 & k.kl1
	return d0<<16 | d1
}
