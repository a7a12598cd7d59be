package misty1

import "testing"

// These tests pin down the structure of the S-boxes, so a mistyped entry
// fails here as well as in the RFC vectors.

func TestSBoxPermutations(t *testing.T) {
	tests := []struct {
		name  string
		size  int
		entry func(int) int
	}{
		{"S7", len(s7), func(x int) int { return int(s7[x]) }},
		{"S9", len(s9), func(x int) int { return int(s9[x]) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := make([]bool, tt.size)
			for x := range tt.size {
				y := tt.entry(x)
				if y >= tt.size || seen[y] {
					t.Fatalf("%s[%#x] = %#x repeats or is out of range", tt.name, x, y)
				}
				seen[y] = true
			}
		})
	}
}

// gfMul multiplies in GF(2^n) reduced by poly (which includes the x^n term).
func gfMul(a, b, poly uint32, n int) uint32 {
	var r uint32
	for ; b != 0; b >>= 1 {
		if b&1 != 0 {
			r ^= a
		}
		a <<= 1
		if a>>n != 0 {
			a ^= poly
		}
	}
	return r
}

func gfPow(x, e, poly uint32, n int) uint32 {
	r := uint32(1)
	for ; e != 0; e >>= 1 {
		if e&1 != 0 {
			r = gfMul(r, x, poly, n)
		}
		x = gfMul(x, x, poly, n)
	}
	return r
}

// TestS7PowerMap checks S7(x) = A(x^81) in GF(2^7) mod x^7+x^3+1 for an affine A.
func TestS7PowerMap(t *testing.T) {
	var lin [128]uint8 // lin[x^81] = S7(x) ^ S7(0)
	for x := uint32(1); x < 128; x++ {
		lin[gfPow(x, 81, 0x89, 7)] = s7[x] ^ s7[0]
	}
	for u := range 128 {
		for v := range 128 {
			if lin[u^v] != lin[u]^lin[v] {
				t.Fatalf("output map of S7 is not affine at %#x, %#x", u, v)
			}
		}
	}
}

// TestS9Quadratic checks that S9 has algebraic degree 2: every second
// derivative along two basis directions is constant.
func TestS9Quadratic(t *testing.T) {
	for i := range 9 {
		for j := i + 1; j < 9; j++ {
			a, b := 1<<i, 1<<j
			want := s9[0] ^ s9[a] ^ s9[b] ^ s9[a|b]
			for x := range 512 {
				if got := s9[x] ^ s9[x^a] ^ s9[x^b] ^ s9[x^a^b]; got != want {
					t.Fatalf("second derivative along bits %d,%d varies at x=%#x", i, j, x)
				}
			}
		}
	}
}

// TestSBoxDifferentialUniformity checks that both S-boxes are almost perfect
// nonlinear: each nonzero input difference gives any output difference at
// most twice.
func TestSBoxDifferentialUniformity(t *testing.T) {
	tests := []struct {
		name  string
		size  int
		entry func(int) int
	}{
		{"S7", len(s7), func(x int) int { return int(s7[x]) }},
		{"S9", len(s9), func(x int) int { return int(s9[x]) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			count := make([]int, tt.size)
			for a := 1; a < tt.size; a++ {
				clear(count)
				for x := range tt.size {
					d := tt.entry(x) ^ tt.entry(x^a)
					if count[d]++; count[d] > 2 {
						t.Fatalf("%s: input difference %#x gives %#x more than twice",
							tt.name, a, d)
					}
				}
			}
		})
	}
}
