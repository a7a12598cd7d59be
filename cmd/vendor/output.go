package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/stsfleet/stsfleet/protocol/sts"
)

// result is what a command prints: one JSON object with --json, otherwise
// the aligned table of writeTable.
type result interface {
	writeTable(w io.Writer) error
}

// emit prints r on the command's standard output.
func emit(cmd *cobra.Command, asJSON bool, r result) error {
	w := cmd.OutOrStdout()
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return r.writeTable(w)
}

// newTable returns a writer that aligns tab-separated columns.
func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

// writePairs prints label/value rows as two aligned columns.
func writePairs(w io.Writer, rows [][2]string) error {
	tw := newTable(w)
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}

func hexUpper(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }

func blockHex(b uint64) string { return fmt.Sprintf("%016X", b) }

// tokenEntry is one issued token: its 20 digits, class, sub-class and the
// 64-bit plaintext block in hex.
type tokenEntry struct {
	Token    string `json:"token"`
	Class    int    `json:"class"`
	SubClass int    `json:"subclass"`
	Block    string `json:"block"`
}

func newTokenEntry(t sts.Token, f *sts.Fields, block uint64) tokenEntry {
	return tokenEntry{Token: t.String(), Class: int(f.Class), SubClass: int(f.SubClass),
		Block: blockHex(block)}
}

// tokensOutput is the result of token issue and token key-change: the tokens
// in the order they are to be entered, and for EA07 the STA tables used.
type tokensOutput struct {
	Tokens    []tokenEntry `json:"tokens"`
	STATables string       `json:"sta_tables,omitempty"`
	// fingerprint is the tables' SHA-256, shown in the table only.
	fingerprint string
}

// newTokensOutput starts the output of tokens made under tables (nil when
// no STA cipher was used).
func newTokensOutput(tables *sts.Tables) tokensOutput {
	if tables == nil {
		return tokensOutput{}
	}
	return tokensOutput{STATables: tables.Name(), fingerprint: tables.Fingerprint()}
}

func (o tokensOutput) writeTable(w io.Writer) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "#\tTOKEN\tCLASS\tSUBCLASS\tTYPE\tBLOCK")
	for i, e := range o.Tokens {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%s\t%s\n", i+1, groupDigits(e.Token), e.Class,
			e.SubClass, typeName(sts.Class(e.Class), uint8(e.SubClass)), e.Block)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if o.STATables != "" {
		_, err := fmt.Fprintf(w, "STA tables: %s (%s)\n", o.STATables, o.fingerprint)
		return err
	}
	return nil
}

// groupDigits writes 20 token digits in the customary five groups of four.
func groupDigits(digits string) string {
	t, err := sts.ParseToken(digits)
	if err != nil {
		return digits
	}
	return string(t.AppendGrouped(nil))
}

// deriveOutput is the result of key derive: the decoder key and the
// intermediate values of its derivation (PAN and CONTROL blocks for DKGA02,
// the HMAC message for DKGA04).
type deriveOutput struct {
	DecoderKey   string `json:"decoder_key"`
	PANBlock     string `json:"pan_block,omitempty"`
	ControlBlock string `json:"control_block,omitempty"`
	MeterPAN     string `json:"meter_pan"`
	HMACMessage  string `json:"hmac_message,omitempty"`
}

func (o deriveOutput) writeTable(w io.Writer) error {
	rows := [][2]string{{"decoder key", o.DecoderKey}}
	if o.PANBlock != "" {
		rows = append(rows, [2]string{"PAN block", o.PANBlock},
			[2]string{"CONTROL block", o.ControlBlock})
	}
	rows = append(rows, [2]string{"meter PAN", o.MeterPAN})
	if o.HMACMessage != "" {
		rows = append(rows, [2]string{"HMAC message", o.HMACMessage})
	}
	return writePairs(w, rows)
}

// keyNewOutput is the result of key new: where the key went, never the key.
type keyNewOutput struct {
	File string `json:"file"`
	DKGA string `json:"dkga"`
	Bits int    `json:"bits"`
}

func (o keyNewOutput) writeTable(w io.Writer) error {
	return writePairs(w, [][2]string{
		{"file", o.File + " (mode 0600)"},
		{"dkga", o.DKGA},
		{"bits", fmt.Sprint(o.Bits)},
	})
}

// typeName names what a token of this class and sub-class does.
func typeName(c sts.Class, sub uint8) string {
	var names []string
	switch c {
	case sts.ClassCredit:
		names = []string{"electricity credit", "water credit", "gas credit", "time credit",
			"electricity currency credit", "water currency credit", "gas currency credit",
			"time currency credit"}
	case sts.ClassTest:
		names = []string{"test/display, 2-digit mfr code", "test/display, 4-digit mfr code"}
	case sts.ClassManagement:
		names = []string{"set maximum power limit", "clear credit", "set tariff rate",
			"key change 1st section", "key change 2nd section", "clear tamper condition",
			"set maximum phase power unbalance limit", "set water meter factor",
			"key change 3rd section", "key change 4th section"}
	}
	if int(sub) < len(names) {
		return names[sub]
	}
	return "reserved"
}

// creditUnit is the unit of the amount of a class 0 sub-class.
func creditUnit(sub uint8) string {
	switch sub {
	case sts.SubElectricity:
		return "kWh"
	case sts.SubWater, sts.SubGas:
		return "m3"
	case sts.SubTime:
		return "min"
	}
	return "currency"
}
