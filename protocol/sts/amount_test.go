package sts

import (
	"errors"
	"math/big"
	"strings"
	"testing"
)

// TestAmountRoundsUp checks every value up to the maximum against the
// definition: the decoded value is the smallest representable one that is
// not below the input.
func TestAmountRoundsUp(t *testing.T) {
	var prev uint64
	for v := uint64(0); v <= MaxAmount; v += 1 + v/5000 {
		f, err := EncodeAmount(v)
		if err != nil {
			t.Fatal(err)
		}
		d := DecodeAmount(f)
		if d < v {
			t.Fatalf("EncodeAmount(%d) decodes to %d, below the input", v, d)
		}
		if d < prev {
			t.Fatalf("decoded values not monotonic at %d", v)
		}
		prev = d
		if v > 0 {
			// Nothing representable lies in [v, d): one less field
			// value (where it exists) decodes below v.
			if f&0x3FFF > 0 && DecodeAmount(f-1) >= v {
				t.Fatalf("EncodeAmount(%d) = %04X is not the smallest", v, f)
			}
		}
	}
	if _, err := EncodeAmount(MaxAmount + 1); !errors.Is(err, ErrRange) {
		t.Errorf("EncodeAmount(max+1) error = %v, want ErrRange", err)
	}
}

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		in      string
		scale   int
		want    uint64
		wantErr string
	}{
		{"0.1", 1, 1, ""},
		{"10", 1, 100, ""},
		{"1638.3", 1, 16383, ""},
		{"0.11", 1, 2, ""},
		{"0.10", 1, 1, ""},
		{"100.00", 5, 10000000, ""},
		{".5", 1, 5, ""},
		{"2000.04", 1, 20001, ""},
		{"", 1, 0, "empty"},
		{"1.", 1, 0, "no digits after the point"},
		{".", 1, 0, "no digits"},
		{"1,000", 1, 0, `',' is not a digit`},
		{"-1", 1, 0, `'-' is not a digit`},
		{"1e3", 1, 0, `'e' is not a digit`},
		{"99999999999999999999999", 1, 0, "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDecimal(tt.in, tt.scale)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseDecimal(%q) = %d, %v; want error %q", tt.in, got, err,
						tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseDecimal(%q, %d) = %d, %v; want %d", tt.in, tt.scale, got, err,
					tt.want)
			}
		})
	}
}

func TestFormatDecimal(t *testing.T) {
	for _, tt := range []struct {
		v     uint64
		scale int
		want  string
	}{{1, 1, "0.1"}, {20004, 1, "2000.4"}, {0, 1, "0.0"}, {10000624, 5, "100.00624"},
		{7, 0, "7"}} {
		if got := FormatDecimal(tt.v, tt.scale); got != tt.want {
			t.Errorf("FormatDecimal(%d, %d) = %s, want %s", tt.v, tt.scale, got, tt.want)
		}
	}
}

func TestCurrency(t *testing.T) {
	tests := []struct {
		units string
		want  string
	}{
		{"0", "0"},
		{"16383", "16383"},
		{"16384", "16384"},
		{"10000000", "10000624"}, // 100.00 currency units, as in the vector
		{"-500", "-500"},
		{"-16385", "-16384"},
	}
	for _, tt := range tests {
		t.Run(tt.units, func(t *testing.T) {
			v, _ := new(big.Int).SetString(tt.units, 10)
			c, err := EncodeCurrency(v)
			if err != nil {
				t.Fatal(err)
			}
			got := currencyFromParts(c.SE(), c.Field())
			if got != c {
				t.Errorf("S&E/field round trip = %+v, want %+v", got, c)
			}
			if c.Value().String() != tt.want {
				t.Errorf("value = %s, want %s", c.Value(), tt.want)
			}
			// In the customer's favour: never below the signed input.
			if c.Value().Cmp(v) < 0 {
				t.Errorf("encoded %s below input %s", c.Value(), v)
			}
		})
	}
	// Large values: the smallest representable value not below the input.
	for _, units := range []string{"123456789012345", "99999999999", "180215"} {
		v, _ := new(big.Int).SetString(units, 10)
		c, err := EncodeCurrency(v)
		if err != nil {
			t.Fatal(err)
		}
		if c.Value().Cmp(v) < 0 {
			t.Errorf("EncodeCurrency(%s) = %s, below the input", v, c.Value())
		}
		if c.Mantissa > 0 {
			less := c
			less.Mantissa--
			if less.Value().Cmp(v) >= 0 {
				t.Errorf("EncodeCurrency(%s) = %+v is not the smallest", v, c)
			}
		}
	}
	// A debit rounds towards zero: never more than was asked.
	for _, units := range []string{"-1250000", "-16385", "-180215", "-123456789012345"} {
		v, _ := new(big.Int).SetString(units, 10)
		c, err := EncodeCurrency(v)
		if err != nil {
			t.Fatal(err)
		}
		if !c.Negative || c.Value().Cmp(v) < 0 {
			t.Errorf("EncodeCurrency(%s) = %s, more than the debit", v, c.Value())
		}
		if c.Mantissa < 0x3FFF {
			more := c
			more.Mantissa++
			if more.Value().Cmp(v) >= 0 {
				t.Errorf("EncodeCurrency(%s) = %s is not the nearest", v, c.Value())
			}
		}
	}
	huge := new(big.Int).Exp(big.NewInt(10), big.NewInt(40), nil)
	if _, err := EncodeCurrency(huge); !errors.Is(err, ErrRange) {
		t.Errorf("EncodeCurrency(10^40) error = %v, want ErrRange", err)
	}
}
