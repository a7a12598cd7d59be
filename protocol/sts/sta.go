package sts

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// STA is the Standard Transfer Algorithm (EA07) prepared for one 64-bit
// decoder key: the key's round selections are computed once, so each block
// costs sixteen rounds of eight table lookups. It is immutable and safe for
// concurrent use.
type STA struct {
	tables *Tables
	// sel[r] holds one bit per nibble for round r: 1 selects S2.
	sel [16]uint16
}

// NewSTA prepares the STA cipher for a decoder key under the given tables
// (nil means the sample tables).
func NewSTA(key uint64, t *Tables) *STA {
	if t == nil {
		t = SampleTables()
	}
	s := &STA{tables: t}
	s.init(key, t)
	return s
}

func (s *STA) init(key uint64, t *Tables) {
	s.tables = t
	// IEC 62055-41 §6.5.4: the key is complemented and rotated right by
	// 12 bits, then rotated left by one bit after every round. Nibble n
	// of the data goes through S2 when bit 4n+3 of the round key is set.
	k := bits.RotateLeft64(^key, -12)
	for r := range 16 {
		var m uint16
		for n := range 16 {
			m |= uint16(k>>(4*n+3)&1) << n
		}
		s.sel[r] = m
		k = bits.RotateLeft64(k, 1)
	}
}

// EncryptBlock encrypts one 64-bit block.
func (s *STA) EncryptBlock(x uint64) uint64 {
	enc := &s.tables.enc
	for r := range 16 {
		m := uint32(s.sel[r])
		x = enc[0][m&3][byte(x)] |
			enc[1][m>>2&3][byte(x>>8)] |
			enc[2][m>>4&3][byte(x>>16)] |
			enc[3][m>>6&3][byte(x>>24)] |
			enc[4][m>>8&3][byte(x>>32)] |
			enc[5][m>>10&3][byte(x>>40)] |
			enc[6][m>>12&3][byte(x>>48)] |
			enc[7][m>>14&3][byte(x>>56)]
	}
	return x
}

// DecryptBlock decrypts one 64-bit block: the rounds undone from the last,
// each inverse permutation fused with the inverse substitution before it.
func (s *STA) DecryptBlock(y uint64) uint64 {
	t := s.tables
	up := &t.unperm
	x := up[0][byte(y)] | up[1][byte(y>>8)] | up[2][byte(y>>16)] | up[3][byte(y>>24)] |
		up[4][byte(y>>32)] | up[5][byte(y>>40)] | up[6][byte(y>>48)] | up[7][byte(y>>56)]
	dec := &t.dec
	for r := 15; r > 0; r-- {
		m := uint32(s.sel[r])
		x = dec[0][m&3][byte(x)] |
			dec[1][m>>2&3][byte(x>>8)] |
			dec[2][m>>4&3][byte(x>>16)] |
			dec[3][m>>6&3][byte(x>>24)] |
			dec[4][m>>8&3][byte(x>>32)] |
			dec[5][m>>10&3][byte(x>>40)] |
			dec[6][m>>12&3][byte(x>>48)] |
			dec[7][m>>14&3][byte(x>>56)]
	}
	m := uint32(s.sel[0])
	var out [8]byte
	for j := range 8 {
		out[j] = t.unsub[m>>(2*j)&3][byte(x>>(8*j))]
	}
	return binary.LittleEndian.Uint64(out[:])
}

// BlockSize returns 8, the STA block size in bytes.
func (s *STA) BlockSize() int { return 8 }

// Encrypt encrypts the first 8 bytes of src, read big-endian, into dst.
func (s *STA) Encrypt(dst, src []byte) {
	binary.BigEndian.PutUint64(dst[:8], s.EncryptBlock(binary.BigEndian.Uint64(src[:8])))
}

// Decrypt decrypts the first 8 bytes of src, read big-endian, into dst.
func (s *STA) Decrypt(dst, src []byte) {
	binary.BigEndian.PutUint64(dst[:8], s.DecryptBlock(binary.BigEndian.Uint64(src[:8])))
}

// String names the cipher and its tables, never the key.
func (s *STA) String() string { return fmt.Sprintf("EA07/STA(%s tables)", s.tables.Name()) }
