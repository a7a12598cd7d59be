package sts

import (
	"errors"
	"fmt"
	"math/bits"
	"unicode/utf8"
)

// TokenDigits is the number of decimal digits of a token as the customer
// types it.
const TokenDigits = 20

// ErrFormat reports a token string that is not 20 decimal digits below 2^66.
// A meter answers such input with [FormatError].
var ErrFormat = errors.New("token format")

// Class is the 2-bit token class, carried outside the encrypted block.
type Class uint8

// Token classes (IEC 62055-41 §6.2, PROTOCOL.md §3.1).
const (
	// ClassCredit transfers credit to a register (TransferCredit).
	ClassCredit Class = 0
	// ClassTest asks the meter to run a test or show a display. It is
	// not encrypted and not specific to one meter.
	ClassTest Class = 1
	// ClassManagement carries meter-specific management functions,
	// key change sections included.
	ClassManagement Class = 2
	// ClassReserved is reserved by the STS Association.
	ClassReserved Class = 3
)

// String returns the class as a lower-case word.
func (c Class) String() string {
	switch c {
	case ClassCredit:
		return "credit"
	case ClassTest:
		return "test"
	case ClassManagement:
		return "management"
	case ClassReserved:
		return "reserved"
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// Token is the 66-bit number carried to the meter (the TCDU). Hi holds bits
// 65 and 64, Lo bits 63 to 0. The zero value is the token of all zeros.
type Token struct {
	Hi uint8
	Lo uint64
}

const tenPow10 = 10_000_000_000

// MakeToken inserts the class into a 64-bit block as the standard transposes
// it: the ciphertext bits 28 and 27 move to token bits 65 and 64, and the
// class takes their place (IEC 62055-41 §6.1.3, PROTOCOL.md §2.1).
func MakeToken(class Class, block uint64) Token {
	hi := uint8(block>>27) & 3
	lo := block&^(3<<27) | uint64(class&3)<<27
	return Token{Hi: hi, Lo: lo}
}

// Class returns the token class found at bits 28 and 27.
func (t Token) Class() Class { return Class(t.Lo>>27) & 3 }

// Block returns the 64-bit data block with the displaced bits 28 and 27
// restored: the ciphertext for classes 0 and 2, the plaintext for class 1.
func (t Token) Block() uint64 {
	return t.Lo&^(3<<27) | uint64(t.Hi&3)<<27
}

// String returns the token as 20 decimal digits, zero padded.
func (t Token) String() string {
	var buf [TokenDigits]byte
	return string(t.AppendDigits(buf[:0]))
}

// AppendDigits appends the 20 decimal digits of the token to dst and returns
// the extended buffer. It allocates only when dst lacks capacity.
func (t Token) AppendDigits(dst []byte) []byte {
	// The 66-bit value divided by 10^10 leaves a quotient below 2^64.
	q, r := bits.Div64(uint64(t.Hi&3), t.Lo, tenPow10)
	dst = appendPadded(dst, q)
	return appendPadded(dst, r)
}

// AppendGrouped appends the token as five dash-separated groups of four
// digits, the customary printed form.
func (t Token) AppendGrouped(dst []byte) []byte {
	var buf [TokenDigits]byte
	d := t.AppendDigits(buf[:0])
	for i := 0; i < TokenDigits; i += 4 {
		if i > 0 {
			dst = append(dst, '-')
		}
		dst = append(dst, d[i:i+4]...)
	}
	return dst
}

// appendPadded appends v (below 10^10) as exactly ten digits.
func appendPadded(dst []byte, v uint64) []byte {
	var buf [10]byte
	for i := 9; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, buf[:]...)
}

// ParseToken reads a token typed or printed by a person. Dashes and spaces
// are removed; what remains must be exactly 20 decimal digits whose value is
// below 2^66. Errors wrap [ErrFormat] and say what is wrong.
func ParseToken(s string) (Token, error) {
	var digits [TokenDigits]byte
	n, pos := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		pos++
		switch {
		case c == '-' || c == ' ':
			continue
		case c < '0' || c > '9':
			r, _ := utf8.DecodeRuneInString(s[i:])
			return Token{}, fmt.Errorf("%w: character %q at position %d is not a digit",
				ErrFormat, r, pos)
		}
		if n == TokenDigits {
			return Token{}, fmt.Errorf("%w: more than %d digits", ErrFormat, TokenDigits)
		}
		digits[n] = c
		n++
	}
	if n != TokenDigits {
		return Token{}, fmt.Errorf("%w: %d digits, want %d", ErrFormat, n, TokenDigits)
	}
	return parseDigits(&digits)
}

// ParseDigits is [ParseToken] for a byte slice that already holds exactly 20
// digits and nothing else. It allocates nothing.
func ParseDigits(b []byte) (Token, error) {
	if len(b) != TokenDigits {
		return Token{}, fmt.Errorf("%w: %d digits, want %d", ErrFormat, len(b), TokenDigits)
	}
	for i, c := range b {
		if c < '0' || c > '9' {
			return Token{}, fmt.Errorf("%w: character %q at position %d is not a digit",
				ErrFormat, rune(c), i+1)
		}
	}
	return parseDigits((*[TokenDigits]byte)(b))
}

func parseDigits(d *[TokenDigits]byte) (Token, error) {
	var high, low uint64
	for _, c := range d[:10] {
		high = high*10 + uint64(c-'0')
	}
	for _, c := range d[10:] {
		low = low*10 + uint64(c-'0')
	}
	// value = high*10^10 + low, at most about 2^67: check it fits 66 bits.
	h, l := bits.Mul64(high, tenPow10)
	l, carry := bits.Add64(l, low, 0)
	h += carry
	if h > 3 {
		return Token{}, fmt.Errorf("%w: value is not below 2^66 (73786976294838206464)",
			ErrFormat)
	}
	return Token{Hi: uint8(h), Lo: l}, nil
}
