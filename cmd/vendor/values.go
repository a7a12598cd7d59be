package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/stsfleet/stsfleet/protocol/sts"
)

// This file turns flag text into protocol values. Every error names the flag
// it is about; errors about key flags never repeat the key.

// readKeyText returns the hex text of a key flag: the value itself, or the
// content of FILE, trimmed of surrounding white space, for @FILE.
func readKeyText(flag, v string) (string, error) {
	path, ok := strings.CutPrefix(v, "@")
	if !ok {
		return v, nil
	}
	if path == "" {
		return "", fmt.Errorf("--%s: @ needs a file name", flag)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--%s: read key file: %w", flag, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// parseKey reads a key flag given as hex or @FILE. Spaces inside the hex are
// ignored. want is the required length in bytes, 0 for any. The error tells
// where the text is wrong without repeating it.
func parseKey(flag, v string, want int) ([]byte, error) {
	text, err := readKeyText(flag, v)
	if err != nil {
		return nil, err
	}
	text = strings.ReplaceAll(text, " ", "")
	if text == "" {
		return nil, fmt.Errorf("--%s: empty key", flag)
	}
	for i := 0; i < len(text); i++ {
		if !isHexDigit(text[i]) {
			return nil, fmt.Errorf("--%s: character %d is not a hex digit", flag, i+1)
		}
	}
	if len(text)%2 != 0 {
		return nil, fmt.Errorf("--%s: odd number of hex digits (%d)", flag, len(text))
	}
	key, _ := hex.DecodeString(text)
	if want > 0 && len(key) != want {
		return nil, fmt.Errorf("--%s: %d hex digits, want %d: %w",
			flag, len(text), 2*want, sts.ErrKeyLength)
	}
	return key, nil
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// parseDecoderKey reads a decoder key flag and the --ea text that goes with
// it. Without --ea the algorithm follows from the key length: 8 bytes EA07,
// 16 bytes EA11.
func parseDecoderKey(flag, v, eaText string) (sts.EA, []byte, error) {
	key, err := parseKey(flag, v, 0)
	if err != nil {
		return 0, nil, err
	}
	if eaText == "" {
		switch len(key) {
		case sts.EA07.KeyLen():
			return sts.EA07, key, nil
		case sts.EA11.KeyLen():
			return sts.EA11, key, nil
		}
		return 0, nil, fmt.Errorf("--%s: %d hex digits, want 16 (EA07) or 32 (EA11): %w",
			flag, 2*len(key), sts.ErrKeyLength)
	}
	ea, err := parseEA(eaText)
	if err != nil {
		return 0, nil, err
	}
	if len(key) != ea.KeyLen() {
		return 0, nil, fmt.Errorf("--%s: %d hex digits, want %d for --ea %s: %w",
			flag, 2*len(key), 2*ea.KeyLen(), ea, sts.ErrKeyLength)
	}
	return ea, key, nil
}

func parseEA(v string) (sts.EA, error) {
	ea, err := sts.ParseEA(v)
	if err != nil {
		return 0, fmt.Errorf("--ea: %w", err)
	}
	return ea, nil
}

// parseUint reads a decimal flag value in [lo, hi].
func parseUint(flag, v string, lo, hi uint64) (uint64, error) {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("--%s %q: not a decimal number", flag, v)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("--%s %d: %w: want %d to %d", flag, n, sts.ErrRange, lo, hi)
	}
	return n, nil
}

// parseTariffIndex reads a tariff index, 00 to 99; a single digit such as 7
// means 07.
func parseTariffIndex(flag, v string) (uint8, error) {
	n, err := strconv.ParseUint(v, 10, 8)
	if err != nil || len(v) > 2 || n > 99 {
		return 0, fmt.Errorf("--%s %q: %w: want 00 to 99", flag, v, sts.ErrRange)
	}
	return uint8(n), nil
}

// parseKRN reads a key revision number, 1 to 9.
func parseKRN(flag, v string) (uint8, error) {
	n, err := parseUint(flag, v, 1, 9)
	return uint8(n), err
}

// parseKeyType reads a key type, 0 to 3.
func parseKeyType(flag, v string) (uint8, error) {
	n, err := parseUint(flag, v, 0, 3)
	return uint8(n), err
}

// parseSGC reads a supply group code of exactly six digits.
func parseSGC(flag, v string) (string, uint32, error) {
	if len(v) != 6 {
		return "", 0, fmt.Errorf("--%s %q: want 6 digits", flag, v)
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return "", 0, fmt.Errorf("--%s %q: want 6 digits", flag, v)
	}
	return v, uint32(n), nil
}

// parseBaseDate reads 1993, 2014 or 2035; empty means the default 2014.
func parseBaseDate(flag, v string) (sts.BaseDate, error) {
	if v == "" {
		return sts.DefaultBaseDate, nil
	}
	b, err := sts.ParseBaseDate(v)
	if err != nil {
		return 0, fmt.Errorf("--%s: %w", flag, err)
	}
	return b, nil
}

// parseDRN checks a decoder reference number, its Luhn digit included.
func parseDRN(v string) (string, error) {
	if err := sts.ValidateDRN(v); err != nil {
		return "", fmt.Errorf("--drn: %w", err)
	}
	return v, nil
}

// parseIIN checks an issuer number against the DRN it goes with: 6 digits
// for an 11-digit DRN, 4 for a 13-digit one. Empty means the default.
func parseIIN(v, drn string) (string, error) {
	if v == "" {
		return sts.DefaultIIN(drn), nil
	}
	want := 17 - len(drn)
	if len(v) != want {
		return "", fmt.Errorf("--iin %q: %d digits, want %d for a %d-digit --drn",
			v, len(v), want, len(drn))
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return "", fmt.Errorf("--iin %q: character %d is not a digit", v, i+1)
		}
	}
	return v, nil
}

// issuedLayouts are the forms --issued accepts besides RFC 3339. A time
// without a zone offset is UTC.
var issuedLayouts = []string{
	time.RFC3339,
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04",
}

// parseIssued reads an issue time: RFC 3339, the minute form
// 2026-12-03T13:55 (UTC unless an offset follows), or "now".
func parseIssued(v string, now func() time.Time) (time.Time, error) {
	if v == "now" {
		return now(), nil
	}
	for _, layout := range issuedLayouts {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--issued %q: want RFC 3339 or 2006-01-02T15:04[+hh:mm]", v)
}

// unitAmount parses a credit amount for the unit sub-classes 0 to 3, a
// decimal in kWh, m3 or min, into the 16-bit amount field. Digits past the
// 0.1 resolution round up (IEC 62055-41 §6.3.6).
func unitAmount(v string, sub uint8) (uint16, error) {
	units, err := sts.ParseDecimal(v, 1)
	if err != nil {
		return 0, fmt.Errorf("--amount: %w", err)
	}
	if units > sts.MaxAmount {
		return 0, fmt.Errorf("--amount %s: %w: at most %s %s", v, sts.ErrRange,
			sts.FormatDecimal(sts.MaxAmount, 1), creditUnit(sub))
	}
	field, err := sts.EncodeAmount(units)
	if err != nil {
		return 0, fmt.Errorf("--amount %s: %w", v, err)
	}
	return field, nil
}

// currencyAmount parses a currency credit amount, a decimal in currency
// units with an optional leading '-', into its sign, exponent and mantissa.
// The magnitude rounds up to the 0.00001 resolution and then to the nearest
// value the encoding can carry.
func currencyAmount(v string) (sts.CurrencyAmount, error) {
	abs, negative := strings.CutPrefix(v, "-")
	units, err := sts.ParseDecimal(abs, sts.CurrencyScale)
	if err != nil {
		return sts.CurrencyAmount{}, fmt.Errorf("--amount: %w", err)
	}
	n := new(big.Int).SetUint64(units)
	if negative {
		n.Neg(n)
	}
	c, err := sts.EncodeCurrency(n)
	if err != nil {
		return sts.CurrencyAmount{}, fmt.Errorf("--amount %s: %w", v, err)
	}
	return c, nil
}

// watts parses a power limit in watts into the amount field, rounding up.
func watts(v string) (uint16, error) {
	w, err := sts.ParseDecimal(v, 0)
	if err != nil {
		return 0, fmt.Errorf("--value: %w", err)
	}
	if w > sts.MaxAmount {
		return 0, fmt.Errorf("--value %s: %w: at most %d W", v, sts.ErrRange, sts.MaxAmount)
	}
	field, err := sts.EncodeAmount(w)
	if err != nil {
		return 0, fmt.Errorf("--value %s: %w", v, err)
	}
	return field, nil
}

// parseControl reads the class 1 control mask in hex (an 0x prefix is
// allowed) and checks it fits bits bits.
func parseControl(v string, bits uint) (uint64, error) {
	text := strings.TrimPrefix(strings.TrimPrefix(v, "0x"), "0X")
	n, err := strconv.ParseUint(text, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("--control %q: not hex", v)
	}
	if n >= 1<<bits {
		return 0, fmt.Errorf("--control %s: %w: the field has %d bits", v, sts.ErrRange, bits)
	}
	return n, nil
}

// refuse fails when any of the named flags was set: they do not apply to
// what the command is making, for the reason why.
func refuse(cmd *cobra.Command, why string, names ...string) error {
	for _, n := range names {
		if cmd.Flags().Changed(n) {
			return fmt.Errorf("--%s: %s", n, why)
		}
	}
	return nil
}

// errMissing reports a flag that is required in this use of a command.
var errMissing = errors.New("required")

func missing(flag, context string) error {
	return fmt.Errorf("--%s: %w %s", flag, errMissing, context)
}
