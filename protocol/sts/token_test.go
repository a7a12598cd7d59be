package sts

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestParseToken(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr string
	}{
		{"plain", "51043465443420856213", "51043465443420856213", ""},
		{"dashes", "5104-3465-4434-2085-6213", "51043465443420856213", ""},
		{"spaces", "5104 3465 4434 2085 6213", "51043465443420856213", ""},
		{"zero", "00000000000000000000", "00000000000000000000", ""},
		{"largest", "73786976294838206463", "73786976294838206463", ""},
		{"two to the 66", "73786976294838206464", "", "not below 2^66"},
		{"all nines", "99999999999999999999", "", "not below 2^66"},
		{"19 digits", "5104346544342085621", "", "19 digits, want 20"},
		{"21 digits", "510434654434208562130", "", "more than 20 digits"},
		{"empty", "", "", "0 digits, want 20"},
		{"letter", "5104346544342085621O", "", `character 'O' at position 20`},
		{"dot", "5104.3465.4434.2085.6213", "", `character '.' at position 5`},
		{"unicode dash", "5104–3465–4434–2085–6213", "", `character '–' at position 5`},
		{"full-width digit", "５104346544342085621", "", `character '５' at position 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := ParseToken(tt.in)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrFormat) ||
					!strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseToken(%q) error = %v, want %q wrapping ErrFormat",
						tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tok.String() != tt.want {
				t.Errorf("String() = %s, want %s", tok, tt.want)
			}
		})
	}
}

func TestTokenGrouped(t *testing.T) {
	tok, err := ParseToken("51043465443420856213")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(tok.AppendGrouped(nil)); got != "5104-3465-4434-2085-6213" {
		t.Errorf("grouped = %s", got)
	}
}

// TestTokenTransposition checks the class insertion against independent
// arithmetic on random blocks: the class lands on bits 28..27 and the
// displaced bits on 65..64, and both directions agree.
func TestTokenTransposition(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 10_000 {
		block, class := r.Uint64(), Class(r.IntN(4))
		tok := MakeToken(class, block)
		if tok.Class() != class {
			t.Fatalf("class = %d, want %d", tok.Class(), class)
		}
		if tok.Block() != block {
			t.Fatalf("block = %016X, want %016X", tok.Block(), block)
		}
		if tok.Hi != uint8(block>>27&3) {
			t.Fatalf("top bits = %d for block %016X", tok.Hi, block)
		}
		back, err := ParseToken(tok.String())
		if err != nil || back != tok {
			t.Fatalf("parse(%s) = %+v, %v; want %+v", tok, back, err, tok)
		}
	}
}

func TestParseDigitsAllocs(t *testing.T) {
	b := []byte("51043465443420856213")
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := ParseDigits(b); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("ParseDigits allocates %.0f times", allocs)
	}
}

func FuzzParseToken(f *testing.F) {
	for _, s := range []string{"51043465443420856213", "5104-3465-4434-2085-6213",
		"73786976294838206464", "", "1", "0000 0000 0000 0000 0000", "abc", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		// A parsed token prints back as its digits without separators.
		digits := strings.NewReplacer("-", "", " ", "").Replace(s)
		if tok.String() != digits {
			t.Fatalf("String() = %s, input digits %s", tok, digits)
		}
	})
}
