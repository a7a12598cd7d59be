package sts

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateDRN(t *testing.T) {
	tests := []struct {
		drn     string
		wantErr string
	}{
		{"37194275246", ""},
		{"00000000000", ""},
		{"0100000000008", ""},
		{"53348390344", ""},
		{"37194275247", "check digit mismatch (last digit should be 6)"},
		{"3719427524", "10 digits, want 11 or 13"},
		{"371942752461", "12 digits"},
		{"3719427524a", "is not a digit"},
	}
	for _, tt := range tests {
		t.Run(tt.drn, func(t *testing.T) {
			err := ValidateDRN(tt.drn)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ValidateDRN(%s) = %v, want %q", tt.drn, err, tt.wantErr)
			}
		})
	}
	if err := ValidateDRN("37194275247"); !errors.Is(err, ErrCheckDigit) {
		t.Errorf("bad check digit error %v does not wrap ErrCheckDigit", err)
	}
}

func TestMeterPAN(t *testing.T) {
	tests := []struct{ iin, drn, want string }{
		{"600727", "00000000000", "600727000000000009"},
		{"0000", "0100000000008", "000001000000000082"},
		{"600727", "37194275246", "600727371942752464"},
	}
	for _, tt := range tests {
		got, err := MeterPAN(tt.iin, tt.drn)
		if err != nil || got != tt.want {
			t.Errorf("MeterPAN(%s, %s) = %s, %v; want %s", tt.iin, tt.drn, got, err, tt.want)
		}
	}
	if _, err := MeterPAN("0000", "37194275246"); err == nil {
		t.Error("a 4-digit IIN with an 11-digit DRN was accepted")
	}
}

func TestMfrCodeOfDRN(t *testing.T) {
	if c, err := MfrCodeOfDRN("37194275246"); err != nil || c != 37 {
		t.Errorf("MfrCodeOfDRN = %d, %v; want 37", c, err)
	}
	if c, err := MfrCodeOfDRN("0100000000008"); err != nil || c != 100 {
		t.Errorf("MfrCodeOfDRN(13 digits) = %d, %v; want 100", c, err)
	}
}
