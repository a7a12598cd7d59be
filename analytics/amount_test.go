package analytics

import (
	"errors"
	"os"
	"testing"
)

func writeFile(path, data string) error { return os.WriteFile(path, []byte(data), 0o644) }

func TestParseAmount(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Amount
		out  string
	}{
		{"0", 0, "0"},
		{"12", 12 * amountOne, "12"},
		{"12.5", 12*amountOne + 500_000, "12.5"},
		{"0.000001", 1, "0.000001"},
		{"1000.00", 1000 * amountOne, "1000"},
		{"3.1400000000", 3*amountOne + 140_000, "3.14"},
		{"007.25", 7*amountOne + 250_000, "7.25"},
		{"1000000000000", 1_000_000_000_000 * amountOne, "1000000000000"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseAmount(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || got.String() != tc.out {
				t.Errorf("ParseAmount(%q) = %d (%s), want %d (%s)",
					tc.in, got, got, tc.want, tc.out)
			}
		})
	}
}

func TestParseAmountErrors(t *testing.T) {
	for name, in := range map[string]string{
		"empty":         "",
		"sign":          "-1",
		"plus":          "+1",
		"exponent":      "1e3",
		"bare point":    "1.",
		"leading point": ".5",
		"two points":    "1.2.3",
		"too precise":   "0.0000001",
		"too large":     "1000000000001",
		"huge":          "99999999999999999999999",
		"space":         "1 ",
		"comma":         "1,5",
	} {
		t.Run(name, func(t *testing.T) {
			if v, err := ParseAmount(in); !errors.Is(err, ErrAmount) {
				t.Errorf("ParseAmount(%q) = %s, %v; want ErrAmount", in, v, err)
			}
		})
	}
}

func TestAmountText(t *testing.T) {
	for _, a := range []Amount{0, 1, -1, 12_500_000, -3_250_000, 999_999} {
		b, err := a.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Amount
		if err := back.UnmarshalText(b); err != nil || back != a {
			t.Errorf("%d -> %s -> %d, %v", a, b, back, err)
		}
	}
	if got := Amount(12_500_000).Float64(); got != 12.5 {
		t.Errorf("Float64 = %v, want 12.5", got)
	}
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"0", "12.5", "1000.00", "0.000001", "1.", "-3", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAmount(s)
		if err != nil {
			return
		}
		if a < 0 || a > maxAmount {
			t.Fatalf("ParseAmount(%q) = %d, outside 0..max", s, a)
		}
		// The canonical form parses to the same value.
		back, err := ParseAmount(a.String())
		if err != nil || back != a {
			t.Fatalf("ParseAmount(%q) = %s, which parses back as %d, %v", s, a, back, err)
		}
	})
}
