package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stsfleet/stsfleet/meter"
	"github.com/stsfleet/stsfleet/protocol/sts"
)

// defaultDRN is a Luhn-valid 11-digit DRN with manufacturer code 37, the
// meter number of the public examples.
const defaultDRN = "37194275246"

// tryConfig holds the flags of `fleet meter try`.
type tryConfig struct {
	// DecoderKey is the decoder key in hex, or @FILE to read it from a
	// file. Required.
	DecoderKey string
	// EA is the encryption algorithm, 07 or 11. Required.
	EA string
	// STATables is a tables file for EA07; empty falls back to the
	// STSFLEET_STA_TABLES environment variable, then the sample tables.
	STATables string
	// TIDMemory is the TID memory depth; the memory starts at floor 0.
	TIDMemory int
	// KEN is the key expiry number, 0 to 255.
	KEN int
	// KeyType is the key type, 0 to 3.
	KeyType int
	// Utility is electricity, water or gas.
	Utility string
	// MfrCode is the manufacturer code; -1 means the DRN's leading digits.
	MfrCode int
	// DRN is the meter number.
	DRN string
	// Credit is the initial credit of the units register, in kWh or m³.
	Credit string
	// Currency is the code printed as the unit of currency registers.
	Currency string
}

func newMeterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "meter",
		Short: "Work with a single virtual meter",
	}
	cmd.AddCommand(newMeterTryCmd())
	return cmd
}

func newMeterTryCmd() *cobra.Command {
	cfg := tryConfig{
		TIDMemory: meter.DefaultTIDMemory,
		KEN:       255,
		KeyType:   int(sts.KeyTypeDUTK),
		Utility:   "electricity",
		MfrCode:   -1,
		DRN:       defaultDRN,
		Credit:    "0",
		Currency:  "KES",
	}
	cmd := &cobra.Command{
		Use:   "try --decoder-key HEX --ea 07|11 [flags] TOKEN...",
		Short: "Enter tokens into one virtual meter and print each outcome as JSON",
		Long: "Enter the tokens, in order, into one virtual meter and print one JSON line " +
			"per token: the outcome, class and sub-class when decoded, and the credit " +
			"register of the token's sub-class (or the meter's own units register).",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTry(cmd.Context(), cfg, args, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DecoderKey, "decoder-key", "", "decoder key in hex, or @FILE")
	f.StringVar(&cfg.EA, "ea", "", "encryption algorithm: 07 (STA) or 11 (MISTY1)")
	f.StringVar(&cfg.STATables, "sta-tables", "",
		"STA tables JSON file for EA07 (default $"+sts.TablesEnv+", else the sample tables)")
	f.IntVar(&cfg.TIDMemory, "tid-memory", cfg.TIDMemory, "TID memory depth (floor 0)")
	f.IntVar(&cfg.KEN, "ken", cfg.KEN, "key expiry number, 0 to 255 (255: never)")
	f.IntVar(&cfg.KeyType, "key-type", cfg.KeyType, "key type: 0 DITK, 1 DDTK, 2 DUTK, 3 DCTK")
	f.StringVar(&cfg.Utility, "utility", cfg.Utility, "electricity, water or gas")
	f.IntVar(&cfg.MfrCode, "mfr-code", cfg.MfrCode,
		"manufacturer code (default: the DRN's leading digits)")
	f.StringVar(&cfg.DRN, "drn", cfg.DRN, "decoder reference number, 11 or 13 digits")
	f.StringVar(&cfg.Credit, "credit", cfg.Credit, "initial credit in kWh or m3")
	f.StringVar(&cfg.Currency, "currency", cfg.Currency, "currency code of currency registers")
	_ = cmd.MarkFlagRequired("decoder-key")
	_ = cmd.MarkFlagRequired("ea")
	return cmd
}

// tryLine is the JSON line printed for one token.
type tryLine struct {
	Token    string      `json:"token"`
	Outcome  sts.Outcome `json:"outcome"`
	Class    *uint8      `json:"class,omitempty"`
	SubClass *uint8      `json:"subclass,omitempty"`
	Credit   string      `json:"credit"`
	Unit     string      `json:"unit"`
}

// runTry enters the tokens into one meter made from cfg and writes a JSON
// line per token to out.
func runTry(_ context.Context, cfg tryConfig, tokens []string, out io.Writer) error {
	mcfg, err := cfg.meterConfig()
	if err != nil {
		return err
	}
	// The meter has no load and a TID floor of 0, so the clock only runs
	// the key change timeout.
	now := time.Now().UTC()
	m, err := meter.New(mcfg, now)
	if err != nil {
		return fmt.Errorf("meter try: %w", err)
	}
	enc := json.NewEncoder(out)
	for _, tok := range tokens {
		r := m.Enter(tok, now)
		if err := enc.Encode(cfg.line(m, tok, r)); err != nil {
			return fmt.Errorf("meter try: write: %w", err)
		}
	}
	return nil
}

func (cfg tryConfig) line(m *meter.Meter, tok string, r meter.Result) tryLine {
	l := tryLine{Token: tok, Outcome: r.Outcome}
	sub := m.Utility().UnitSubClass()
	if r.Decoded {
		class, subclass := uint8(r.Class), r.SubClass
		l.Class, l.SubClass = &class, &subclass
		if r.Class == sts.ClassCredit {
			sub = r.SubClass
		}
	}
	credit, _ := m.Credit(sub)
	if meter.IsCurrency(sub) {
		l.Credit, l.Unit = credit.Format(sts.CurrencyScale, 2), cfg.Currency
	} else {
		l.Credit, l.Unit = credit.Format(1, 1), meter.UnitOf(sub)
	}
	return l
}

// meterConfig checks the flags and turns them into a meter config. Errors
// name the flag.
func (cfg tryConfig) meterConfig() (meter.Config, error) {
	ea, err := sts.ParseEA(cfg.EA)
	if err != nil {
		return meter.Config{}, fmt.Errorf("--ea: %w", err)
	}
	key, err := readKey(cfg.DecoderKey, ea.KeyLen())
	if err != nil {
		return meter.Config{}, fmt.Errorf("--decoder-key: %w", err)
	}
	var tables *sts.Tables
	if ea == sts.EA07 {
		if tables, err = sts.TablesFromEnv(cfg.STATables); err != nil {
			return meter.Config{}, fmt.Errorf("--sta-tables (or $%s): %w", sts.TablesEnv, err)
		}
	}
	util, err := meter.ParseUtility(cfg.Utility)
	if err != nil {
		return meter.Config{}, fmt.Errorf("--utility: %w", err)
	}
	if err := sts.ValidateDRN(cfg.DRN); err != nil {
		return meter.Config{}, fmt.Errorf("--drn: %w", err)
	}
	credit, err := sts.ParseDecimal(cfg.Credit, 1)
	if err != nil {
		return meter.Config{}, fmt.Errorf("--credit: %w", err)
	}
	if err := cfg.checkRanges(); err != nil {
		return meter.Config{}, err
	}
	ken := uint8(cfg.KEN)
	c := meter.Config{
		DRN: cfg.DRN, KeyType: uint8(cfg.KeyType), KEN: &ken, EA: ea, Key: key,
		Tables: tables, Utility: util, TIDMemory: cfg.TIDMemory,
		Manufactured:  sts.DefaultBaseDate.Time(),
		InitialCredit: credit,
		Load:          meter.Load{Kind: meter.LoadNone},
	}
	if cfg.MfrCode >= 0 {
		c.MfrCode = uint16(cfg.MfrCode)
	}
	return c, nil
}

func (cfg tryConfig) checkRanges() error {
	switch {
	case cfg.TIDMemory < 1 || cfg.TIDMemory > 4096:
		return fmt.Errorf("--tid-memory %d: want 1 to 4096", cfg.TIDMemory)
	case cfg.KEN < 0 || cfg.KEN > 255:
		return fmt.Errorf("--ken %d: want 0 to 255", cfg.KEN)
	case cfg.KeyType < 0 || cfg.KeyType > 3:
		return fmt.Errorf("--key-type %d: want 0 to 3", cfg.KeyType)
	case cfg.MfrCode == 0 || cfg.MfrCode < -1 || cfg.MfrCode > maxMfrCode(cfg.DRN):
		return fmt.Errorf("--mfr-code %d: want 1 to %d for a %d-digit DRN", cfg.MfrCode,
			maxMfrCode(cfg.DRN), len(cfg.DRN))
	}
	return nil
}

func maxMfrCode(drn string) int {
	if len(drn) == 13 {
		return 9999
	}
	return 99
}

// readKey reads a decoder key given in hex or as @FILE holding the hex.
// The key is never echoed in errors.
func readKey(arg string, want int) ([]byte, error) {
	if path, ok := strings.CutPrefix(arg, "@"); ok {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read key file: %w", err)
		}
		arg = string(data)
	}
	key, err := sts.ParseKey(arg, want)
	switch {
	case errors.Is(err, sts.ErrKeyLength):
		return nil, err
	case err != nil:
		// The hex decoder's message quotes the offending character.
		return nil, fmt.Errorf("parse key: want %d hex digits", 2*want)
	}
	return key, nil
}
