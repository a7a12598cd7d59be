package sts

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/stsfleet/stsfleet/protocol/misty1"
)

// EA is an STS encryption algorithm code.
type EA uint8

// Encryption algorithms (PROTOCOL.md §7). EA09 (DEA) is deprecated and not
// offered.
const (
	// EA07 is the Standard Transfer Algorithm with a 64-bit key.
	EA07 EA = 7
	// EA11 is MISTY1 with a 128-bit key.
	EA11 EA = 11
)

// ParseEA reads "07", "7", "11" or the names "sta" and "misty1".
func ParseEA(s string) (EA, error) {
	switch strings.ToLower(s) {
	case "07", "7", "sta", "ea07":
		return EA07, nil
	case "11", "misty1", "ea11":
		return EA11, nil
	}
	return 0, fmt.Errorf("encryption algorithm %q: want 07 (STA) or 11 (MISTY1)", s)
}

// KeyLen returns the decoder key length in bytes: 8 for EA07, 16 for EA11.
func (ea EA) KeyLen() int {
	switch ea {
	case EA07:
		return 8
	case EA11:
		return 16
	}
	return 0
}

// String returns the two-digit code, such as "07".
func (ea EA) String() string { return fmt.Sprintf("%02d", uint8(ea)) }

// BlockCipher encrypts and decrypts 64-bit token blocks under one decoder
// key. Implementations are immutable and safe for concurrent use.
type BlockCipher interface {
	EncryptBlock(uint64) uint64
	DecryptBlock(uint64) uint64
}

// ErrKeyLength reports a decoder key of the wrong length for its algorithm.
var ErrKeyLength = errors.New("wrong key length")

// NewCipher prepares the cipher of algorithm ea for a decoder key. tables
// selects the STA tables for EA07 (nil means the sample tables) and is
// ignored for EA11.
func NewCipher(ea EA, key []byte, tables *Tables) (BlockCipher, error) {
	if len(key) != ea.KeyLen() {
		if ea.KeyLen() == 0 {
			return nil, fmt.Errorf("new cipher: unknown encryption algorithm %s", ea)
		}
		return nil, fmt.Errorf("new cipher: EA%s key has %d bytes, want %d: %w",
			ea, len(key), ea.KeyLen(), ErrKeyLength)
	}
	if ea == EA07 {
		return NewSTA(binary.BigEndian.Uint64(key), tables), nil
	}
	c, err := misty1.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("new cipher: %w", err)
	}
	return c, nil
}

// ParseKey reads a decoder or vending key written in hex (upper or lower
// case, optional spaces) and checks it has want bytes (any length when want
// is 0).
func ParseKey(s string, want int) ([]byte, error) {
	s = strings.ReplaceAll(strings.TrimSpace(s), " ", "")
	k, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("parse key: not hex: %w", err)
	}
	if want > 0 && len(k) != want {
		return nil, fmt.Errorf("parse key: %d hex digits, want %d: %w",
			2*len(k), 2*want, ErrKeyLength)
	}
	if len(k) == 0 {
		return nil, errors.New("parse key: empty")
	}
	return k, nil
}

// ErrNoKey reports an attempt to code an encrypted class without a cipher.
var ErrNoKey = errors.New("token is encrypted and no decoder key was given")

// Encode builds the token for f: the block with its check, encrypted under c
// for classes 0 and 2, with the class bits inserted. Class 1 needs no
// cipher; c may be nil for it. Encode allocates nothing.
func Encode(c BlockCipher, f *Fields) (Token, error) {
	b, err := f.Block()
	if err != nil {
		return Token{}, err
	}
	if f.Class != ClassTest {
		if c == nil {
			return Token{}, fmt.Errorf("encode class %d token: %w", f.Class, ErrNoKey)
		}
		b = c.EncryptBlock(b)
	}
	return MakeToken(f.Class, b), nil
}

// Decode recovers the fields of a token and reports whether its check
// matches. Class 1 is read without a cipher; classes 0 and 2 are decrypted
// under c, and fail with [ErrNoKey] when c is nil. A class 3 token decodes to
// its class alone. Decode allocates nothing.
func Decode(c BlockCipher, t Token) (f Fields, crcOK bool, err error) {
	class := t.Class()
	b := t.Block()
	switch class {
	case ClassTest:
	case ClassReserved:
		return Fields{Class: class}, false, nil
	default:
		if c == nil {
			return Fields{Class: class}, false, ErrNoKey
		}
		b = c.DecryptBlock(b)
	}
	f, ok := ParseBlock(class, b)
	return f, ok, nil
}

// PlainBlock returns the plaintext block of a token under c (the block
// itself for class 1), for display and diagnostics.
func PlainBlock(c BlockCipher, t Token) (uint64, error) {
	switch t.Class() {
	case ClassTest:
		return t.Block(), nil
	case ClassReserved:
		return 0, fmt.Errorf("plain block: class 3 is reserved")
	}
	if c == nil {
		return 0, ErrNoKey
	}
	return c.DecryptBlock(t.Block()), nil
}
