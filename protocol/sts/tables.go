package sts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
)

// TablesEnv names the environment variable that commands read for the path
// of a production STA tables file.
const TablesEnv = "STSFLEET_STA_TABLES"

// SampleFingerprint is the SHA-256 fingerprint of the standard's sample
// tables (PROTOCOL.md §7.1).
const SampleFingerprint = "46dfc419583df07ced26cdfe37ff2d076a64ed66c5133f3bf1c5bbde4680a8e1"

// ProductionFingerprint is the fingerprint of the licensed production
// tables. The tables themselves are never part of this project; a licensed
// user loads them with [LoadTables].
const ProductionFingerprint = "726b0d0579f178735e2b98665192b027cd4af1770e13b9b2e7ba5306e2c1c9e6"

// TableSet is the JSON form of the STA encryption tables: substitution tables
// S1 and S2 (bijections on 0..15) and the permutation P (of 0..63, LSB-based
// bit positions: bit i moves to bit P[i]).
type TableSet struct {
	S1 [16]uint8 `json:"s1"`
	S2 [16]uint8 `json:"s2"`
	P  [64]uint8 `json:"p"`
}

// sampleSet holds the sample tables published in IEC 62055-41 for testing.
// They are not the tables of certified systems.
var sampleSet = TableSet{
	S1: [16]uint8{12, 10, 8, 4, 3, 15, 0, 2, 14, 1, 5, 13, 6, 9, 7, 11},
	S2: [16]uint8{6, 9, 7, 4, 3, 10, 12, 14, 2, 13, 1, 15, 0, 11, 8, 5},
	P: [64]uint8{
		29, 27, 34, 9, 16, 62, 55, 2, 40, 49, 38, 25, 33, 61, 30, 23,
		1, 41, 21, 57, 42, 15, 5, 58, 19, 53, 22, 17, 48, 28, 24, 39,
		3, 60, 36, 14, 11, 52, 54, 12, 31, 51, 10, 26, 0, 45, 37, 43,
		44, 6, 59, 4, 7, 35, 56, 50, 13, 18, 32, 47, 46, 63, 20, 8,
	},
}

// Tables is a validated STA table set with the lookup tables derived from it.
// It is immutable and safe for concurrent use.
type Tables struct {
	set         TableSet
	fingerprint string

	// enc[j][sel][v] is the permuted image of byte j after substitution,
	// sel bit 0 choosing S2 for its low nibble and bit 1 for its high one.
	enc [8][4][256]uint64
	// dec[j][sel][v] is the inverse permutation of byte j after inverse
	// substitution: one decryption step fused with the next.
	dec [8][4][256]uint64
	// unperm[j][v] is the inverse permutation of byte j alone.
	unperm [8][256]uint64
	// unsub[sel][v] is the inverse substitution of one byte.
	unsub [4][256]uint8
}

var sampleTables = sync.OnceValue(func() *Tables {
	t, err := NewTables(sampleSet)
	if err != nil {
		panic("sts: sample tables invalid: " + err.Error())
	}
	return t
})

// SampleTables returns the sample tables of the standard, the default of
// every EA07 operation in this project.
func SampleTables() *Tables { return sampleTables() }

// NewTables validates a table set and prepares it for use.
func NewTables(s TableSet) (*Tables, error) {
	inv1, err := invert(s.S1[:], "s1")
	if err != nil {
		return nil, err
	}
	inv2, err := invert(s.S2[:], "s2")
	if err != nil {
		return nil, err
	}
	pinv, err := invert(s.P[:], "p")
	if err != nil {
		return nil, err
	}
	t := &Tables{set: s}
	t.fingerprint = fingerprint(s)
	perm := func(x uint64) uint64 {
		var y uint64
		for i, to := range s.P {
			y |= (x >> i & 1) << to
		}
		return y
	}
	unpermute := func(y uint64) uint64 {
		var x uint64
		for i, to := range pinv {
			x |= (y >> i & 1) << to
		}
		return x
	}
	fwd := [2][]uint8{s.S1[:], s.S2[:]}
	back := [2][]uint8{inv1, inv2}
	for sel := range 4 {
		lo, hi := sel&1, sel>>1
		for v := range 256 {
			sub := fwd[lo][v&15] | fwd[hi][v>>4]<<4
			t.unsub[sel][v] = back[lo][v&15] | back[hi][v>>4]<<4
			for j := range 8 {
				t.enc[j][sel][v] = perm(uint64(sub) << (8 * j))
				t.dec[j][sel][v] = unpermute(uint64(t.unsub[sel][v]) << (8 * j))
			}
		}
	}
	for j := range 8 {
		for v := range 256 {
			t.unperm[j][v] = unpermute(uint64(v) << (8 * j))
		}
	}
	return t, nil
}

// invert checks that table is a permutation of 0..len-1 and returns its
// inverse.
func invert(table []uint8, name string) ([]uint8, error) {
	inv := make([]uint8, len(table))
	seen := make([]bool, len(table))
	for i, v := range table {
		if int(v) >= len(table) {
			return nil, fmt.Errorf("sta tables: %s[%d] = %d, want 0..%d",
				name, i, v, len(table)-1)
		}
		if seen[v] {
			return nil, fmt.Errorf("sta tables: %s is not a permutation: %d appears twice",
				name, v)
		}
		seen[v] = true
		inv[v] = uint8(i)
	}
	return inv, nil
}

// fingerprint is the SHA-256 of the compact JSON {"s1":[..],"s2":[..],"p":[..]}.
func fingerprint(s TableSet) string {
	var b bytes.Buffer
	list := func(name string, v []uint8) {
		b.WriteString(`"` + name + `":[`)
		for i, x := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(int(x)))
		}
		b.WriteByte(']')
	}
	b.WriteByte('{')
	list("s1", s.S1[:])
	b.WriteByte(',')
	list("s2", s.S2[:])
	b.WriteByte(',')
	list("p", s.P[:])
	b.WriteByte('}')
	sum := sha256.Sum256(b.Bytes())
	return hex.EncodeToString(sum[:])
}

// Fingerprint returns the SHA-256 of the compact canonical JSON of the
// encryption tables, in lower-case hex, to check which set is loaded.
func (t *Tables) Fingerprint() string { return t.fingerprint }

// IsSample reports whether t is the standard's sample set.
func (t *Tables) IsSample() bool { return t.fingerprint == SampleFingerprint }

// Name returns "sample", "production" or "custom" after the fingerprint.
func (t *Tables) Name() string {
	switch t.fingerprint {
	case SampleFingerprint:
		return "sample"
	case ProductionFingerprint:
		return "production"
	}
	return "custom"
}

// LoadTables reads a JSON tables file {"s1":[16],"s2":[16],"p":[64]} and
// validates it. Unknown fields and wrong lengths are errors.
func LoadTables(path string) (*Tables, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load sta tables: %w", err)
	}
	t, err := ParseTables(data)
	if err != nil {
		return nil, fmt.Errorf("load sta tables %s: %w", path, err)
	}
	return t, nil
}

// ParseTables is [LoadTables] for JSON already in memory.
func ParseTables(data []byte) (*Tables, error) {
	var raw struct {
		S1 []int `json:"s1"`
		S2 []int `json:"s2"`
		P  []int `json:"p"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("parse sta tables: %w", err)
	}
	var s TableSet
	for _, f := range []struct {
		name string
		in   []int
		out  []uint8
	}{{"s1", raw.S1, s.S1[:]}, {"s2", raw.S2, s.S2[:]}, {"p", raw.P, s.P[:]}} {
		if len(f.in) != len(f.out) {
			return nil, fmt.Errorf("parse sta tables: %s has %d entries, want %d",
				f.name, len(f.in), len(f.out))
		}
		for i, v := range f.in {
			if v < 0 || v >= len(f.out) {
				return nil, fmt.Errorf("parse sta tables: %s[%d] = %d, want 0..%d",
					f.name, i, v, len(f.out)-1)
			}
			f.out[i] = uint8(v)
		}
	}
	return NewTables(s)
}

// TablesFromEnv returns the tables named by path, or by the environment
// variable [TablesEnv] when path is empty, or the sample tables when neither
// is set.
func TablesFromEnv(path string) (*Tables, error) {
	if path == "" {
		path = os.Getenv(TablesEnv)
	}
	if path == "" {
		return SampleTables(), nil
	}
	return LoadTables(path)
}
