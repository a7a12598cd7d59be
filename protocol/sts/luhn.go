package sts

import (
	"errors"
	"fmt"
)

// ErrCheckDigit reports a number whose Luhn check digit does not match.
var ErrCheckDigit = errors.New("check digit mismatch")

// LuhnCheckDigit returns the Luhn (ISO/IEC 7812-1) check digit that follows
// digits. It returns an error if digits is empty or holds a non-digit.
func LuhnCheckDigit(digits string) (byte, error) {
	if digits == "" {
		return 0, errors.New("luhn check digit: no digits")
	}
	sum := 0
	double := true
	for i := len(digits) - 1; i >= 0; i-- {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("luhn check digit: character %q at position %d is not a digit",
				rune(c), i+1)
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return byte('0' + (10-sum%10)%10), nil
}

// LuhnValid reports whether the last digit of number is the Luhn check digit
// of the digits before it.
func LuhnValid(number string) bool {
	if len(number) < 2 {
		return false
	}
	want, err := LuhnCheckDigit(number[:len(number)-1])
	return err == nil && want == number[len(number)-1]
}

// ValidateDRN checks a decoder reference number (IAIN): 11 digits (2-digit
// manufacturer code) or 13 digits (4-digit code), the last a Luhn check
// digit over the others (PROTOCOL.md §8.1).
func ValidateDRN(drn string) error {
	if len(drn) != 11 && len(drn) != 13 {
		return fmt.Errorf("meter number %q: %d digits, want 11 or 13", drn, len(drn))
	}
	for i := 0; i < len(drn); i++ {
		if drn[i] < '0' || drn[i] > '9' {
			return fmt.Errorf("meter number %q: character %q at position %d is not a digit",
				drn, rune(drn[i]), i+1)
		}
	}
	if !LuhnValid(drn) {
		want, _ := LuhnCheckDigit(drn[:len(drn)-1])
		return fmt.Errorf("meter number %q: %w (last digit should be %c)",
			drn, ErrCheckDigit, want)
	}
	return nil
}

// MfrCodeOfDRN returns the manufacturer code that leads a valid DRN: two
// digits of an 11-digit DRN, four of a 13-digit one.
func MfrCodeOfDRN(drn string) (uint16, error) {
	if err := ValidateDRN(drn); err != nil {
		return 0, err
	}
	n := 2
	if len(drn) == 13 {
		n = 4
	}
	var code uint16
	for _, c := range drn[:n] {
		code = code*10 + uint16(c-'0')
	}
	return code, nil
}

// DefaultIIN returns the issuer identification number that goes with a DRN
// of the given length: 600727 for 11 digits, 0000 for 13 (PROTOCOL.md §8.1).
func DefaultIIN(drn string) string {
	if len(drn) == 13 {
		return "0000"
	}
	return "600727"
}

// MeterPAN returns the 18-digit MeterPAN: IIN, IAIN and a Luhn check digit
// over both. The IIN is 6 digits for an 11-digit IAIN and 4 for a 13-digit
// one.
func MeterPAN(iin, drn string) (string, error) {
	if err := ValidateDRN(drn); err != nil {
		return "", fmt.Errorf("meter PAN: %w", err)
	}
	if len(iin)+len(drn) != 17 {
		return "", fmt.Errorf("meter PAN: IIN %q has %d digits, want %d for a %d-digit DRN",
			iin, len(iin), 17-len(drn), len(drn))
	}
	check, err := LuhnCheckDigit(iin + drn)
	if err != nil {
		return "", fmt.Errorf("meter PAN: IIN: %w", err)
	}
	return iin + drn + string(check), nil
}
