package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/stsfleet/stsfleet/protocol/sts"
)

// decodeFlags configure token decode.
type decodeFlags struct {
	keys   keyFlags
	strict bool
	json   bool
}

const decodeLong = `token decode reads a token (20 digits; dashes and spaces are ignored, and
the groups may be separate arguments) and prints its class, sub-class,
plaintext block, whether its CRC holds, and the fields of its class.

Class 1 tokens need no key. Class 0 and 2 tokens are decrypted under
--decoder-key (or a key derived with --vending-key and the identity flags,
as for token issue); without a key only the class is shown, marked
encrypted. A failed CRC (a token for another meter, a typing error, or the
wrong key) is reported with exit status 0, or 1 with --strict. TIDs are
shown as times counted from --base-date (default 2014).`

func newDecodeCmd() *cobra.Command {
	f := &decodeFlags{}
	c := &cobra.Command{
		Use:   "decode [--decoder-key HEX [--ea 07|11]] [--strict] TOKEN",
		Short: "Decode a token and check its CRC",
		Long:  decodeLong,
		Example: "  vendor token decode --decoder-key D0686379ABAC1BC4 --ea 07 " +
			"6016-6617-0404-5614-8361\n" +
			"  vendor token decode 56493153725450313471",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return f.run(cmd, args) },
	}
	flags := c.Flags()
	f.keys.registerVending(flags)
	f.keys.registerDecoder(flags)
	flags.BoolVar(&f.strict, "strict", false, "exit 1 unless the CRC is checked and holds")
	flags.BoolVar(&f.json, "json", false, "print one JSON object")
	return c
}

// errCRC reports a token whose check failed under --strict.
var errCRC = errors.New("crc check failed")

func (f *decodeFlags) run(cmd *cobra.Command, args []string) error {
	t, err := sts.ParseToken(strings.Join(args, ""))
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	base, err := parseBaseDate("base-date", f.keys.id.baseDate)
	if err != nil {
		return err
	}
	out := decodeOutput{Token: t.String(), Class: int(t.Class()), base: base}
	switch t.Class() {
	case sts.ClassTest:
		fields, ok, _ := sts.Decode(nil, t)
		out.fill(&fields, t.Block(), ok)
	case sts.ClassReserved:
		out.Type = typeName(sts.ClassReserved, 0)
	default:
		if err := f.decrypt(cmd, t, &out); err != nil {
			return err
		}
	}

	switch {
	case out.CRCOK == nil && f.strict:
		if out.Encrypted {
			return fmt.Errorf("--strict: a class %d token cannot be checked without "+
				"--decoder-key or --vending-key", out.Class)
		}
		return fmt.Errorf("--strict: class %d is reserved; there is no check to pass",
			out.Class)
	case out.CRCOK != nil && !*out.CRCOK && f.strict:
		if err := emit(cmd, f.json, out); err != nil {
			return err
		}
		return fmt.Errorf("--strict: %w", errCRC)
	}
	return emit(cmd, f.json, out)
}

// decrypt decodes an encrypted token into out, or marks it encrypted when
// no key was given.
func (f *decodeFlags) decrypt(cmd *cobra.Command, t sts.Token, out *decodeOutput) error {
	if err := f.keys.refuseIdentity(cmd); err != nil {
		return err
	}
	ea, key, ok, err := f.keys.decoder(cmd)
	if err != nil {
		return err
	}
	if !ok {
		if err := refuse(cmd, "needs --decoder-key or --vending-key", "ea",
			"sta-tables"); err != nil {
			return err
		}
		out.Encrypted = true
		return nil
	}
	c, tables, err := f.keys.cipher(ea, key)
	if err != nil {
		return err
	}
	if tables != nil {
		out.STATables, out.fingerprint = tables.Name(), tables.Fingerprint()
	}
	fields, crcOK, err := sts.Decode(c, t)
	if err != nil {
		return fmt.Errorf("decode token: %w", err)
	}
	block, err := sts.PlainBlock(c, t)
	if err != nil {
		return fmt.Errorf("decode token: %w", err)
	}
	out.fill(&fields, block, crcOK)
	return nil
}

// decodeOutput is the result of token decode. Which fields are present
// depends on the class and sub-class; absent ones are left out of the JSON.
type decodeOutput struct {
	Token     string `json:"token"`
	Class     int    `json:"class"`
	SubClass  *int   `json:"subclass,omitempty"`
	Type      string `json:"type,omitempty"`
	Encrypted bool   `json:"encrypted,omitempty"`
	Block     string `json:"block,omitempty"`
	CRCOK     *bool  `json:"crc_ok,omitempty"`

	// Class 0 and the class 2 tokens with a TID.
	TID         *uint32 `json:"tid,omitempty"`
	Issued      string  `json:"issued,omitempty"`
	RND         *int    `json:"rnd,omitempty"`
	SE          string  `json:"se,omitempty"`
	AmountField string  `json:"amount_field,omitempty"`
	Amount      string  `json:"amount,omitempty"`
	Value       *int    `json:"value,omitempty"`
	Unit        string  `json:"unit,omitempty"`

	// Class 1.
	Control string `json:"control,omitempty"`
	MfrCode *int   `json:"mfr_code,omitempty"`

	// Key change sections.
	KENHigh     *int   `json:"ken_high,omitempty"`
	KENLow      *int   `json:"ken_low,omitempty"`
	KRN         *int   `json:"krn,omitempty"`
	RO          *bool  `json:"ro,omitempty"`
	Bit50       *bool  `json:"bit50,omitempty"`
	KeyType     *int   `json:"key_type,omitempty"`
	TariffIndex *int   `json:"tariff_index,omitempty"`
	SGCPart     string `json:"sgc_part,omitempty"`
	KeyPart     string `json:"key_part,omitempty"`

	STATables string `json:"sta_tables,omitempty"`

	// base dates the TID; fingerprint identifies the STA tables.
	base        sts.BaseDate
	fingerprint string
}

func ptr[T any](v T) *T { return &v }

// fill records the fields of a decoded block.
func (o *decodeOutput) fill(f *sts.Fields, block uint64, crcOK bool) {
	o.SubClass = ptr(int(f.SubClass))
	o.Type = typeName(f.Class, f.SubClass)
	o.Block = blockHex(block)
	o.CRCOK = ptr(crcOK)
	switch {
	case f.Class == sts.ClassTest:
		digits := 9
		if f.SubClass == sts.SubTest4Digit {
			digits = 7
		}
		if f.SubClass <= sts.SubTest4Digit {
			o.Control = fmt.Sprintf("%0*X", digits, f.Control)
			o.MfrCode = ptr(int(f.MfrCode))
		}
	case f.IsKeyChange():
		o.fillKeyChange(f)
	case f.HasTID():
		o.fillTID(f)
	}
}

func (o *decodeOutput) fillTID(f *sts.Fields) {
	o.TID = ptr(f.TID)
	o.Issued = sts.TIDTime(f.TID, o.base).Format(time.RFC3339)
	switch {
	case f.IsCurrency():
		o.SE = fmt.Sprintf("%X", f.RND)
		o.AmountField = fmt.Sprintf("%04X", f.Value)
		o.Amount = formatScaled(f.Currency().Value().String(), sts.CurrencyScale)
		o.Unit = creditUnit(f.SubClass)
	case f.Class == sts.ClassCredit:
		o.RND = ptr(int(f.RND))
		o.AmountField = fmt.Sprintf("%04X", f.Value)
		o.Amount = sts.FormatDecimal(sts.DecodeAmount(f.Value), 1)
		o.Unit = creditUnit(f.SubClass)
	default:
		o.RND = ptr(int(f.RND))
		switch f.SubClass {
		case sts.SubSetMaxPowerLimit, sts.SubSetMaxPhaseUnbalance:
			o.Value = ptr(int(sts.DecodeAmount(f.Value)))
			o.Unit = "W"
		default:
			o.Value = ptr(int(f.Value))
		}
	}
}

func (o *decodeOutput) fillKeyChange(f *sts.Fields) {
	o.KeyPart = fmt.Sprintf("%08X", f.KeyPart)
	switch f.SubClass {
	case sts.SubKeyChange1:
		o.KENHigh = ptr(int(f.KENPart))
		o.KRN = ptr(int(f.KRN))
		o.RO = ptr(f.RO)
		if f.Bit50 {
			o.Bit50 = ptr(true)
		}
		o.KeyType = ptr(int(f.KeyType))
	case sts.SubKeyChange2:
		o.KENLow = ptr(int(f.KENPart))
		o.TariffIndex = ptr(int(f.TariffIndex))
	default:
		o.SGCPart = fmt.Sprintf("%03X", f.SGCPart)
	}
}

// formatScaled writes a signed decimal integer string of 10^-scale units
// with scale digits after the point.
func formatScaled(digits string, scale int) string {
	sign := ""
	if d, ok := strings.CutPrefix(digits, "-"); ok {
		sign, digits = "-", d
	}
	if len(digits) <= scale {
		digits = strings.Repeat("0", scale-len(digits)+1) + digits
	}
	return sign + digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
}

func (o decodeOutput) writeTable(w io.Writer) error {
	rows := [][2]string{{"token", groupDigits(o.Token)},
		{"class", fmt.Sprintf("%d (%s)", o.Class, sts.Class(o.Class))}}
	if o.Encrypted {
		rows = append(rows, [2]string{"encrypted", "yes: give --decoder-key to decode"})
		return writePairs(w, rows)
	}
	add := func(name, v string) { rows = append(rows, [2]string{name, v}) }
	num := func(name string, v *int) {
		if v != nil {
			add(name, fmt.Sprint(*v))
		}
	}
	if o.SubClass != nil {
		add("subclass", fmt.Sprintf("%d (%s)", *o.SubClass, o.Type))
	} else {
		add("type", o.Type)
	}
	if o.Block != "" {
		add("block", o.Block)
	}
	if o.CRCOK != nil {
		add("crc_ok", fmt.Sprint(*o.CRCOK))
	}
	if o.TID != nil {
		add("tid", fmt.Sprintf("%d (%s, base %s)", *o.TID,
			sts.TIDTime(*o.TID, o.base).Format("2006-01-02 15:04 MST"), o.base))
	}
	num("rnd", o.RND)
	if o.SE != "" {
		add("se", o.SE)
	}
	if o.AmountField != "" {
		add("amount_field", o.AmountField)
		add("amount", o.Amount+" "+o.Unit)
	}
	if o.Value != nil {
		add("value", strings.TrimSpace(fmt.Sprint(*o.Value)+" "+o.Unit))
	}
	if o.Control != "" {
		add("control", o.Control)
	}
	num("mfr_code", o.MfrCode)
	num("ken_high", o.KENHigh)
	num("ken_low", o.KENLow)
	num("krn", o.KRN)
	if o.RO != nil {
		add("ro", fmt.Sprint(*o.RO))
	}
	if o.Bit50 != nil {
		add("bit50", "true")
	}
	if o.KeyType != nil {
		add("key_type", fmt.Sprintf("%d (%s)", *o.KeyType, sts.KeyTypeName(uint8(*o.KeyType))))
	}
	if o.TariffIndex != nil {
		add("tariff_index", fmt.Sprintf("%02d", *o.TariffIndex))
	}
	if o.SGCPart != "" {
		add("sgc_part", o.SGCPart)
	}
	if o.KeyPart != "" {
		add("key_part", o.KeyPart)
	}
	if o.STATables != "" {
		add("sta_tables", fmt.Sprintf("%s (%s)", o.STATables, o.fingerprint))
	}
	return writePairs(w, rows)
}
