package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/stsfleet/stsfleet/protocol/sts"
)

func newTokenCmd(e env) *cobra.Command {
	return newGroup("token", "Issue, key-change and decode STS tokens",
		newIssueCmd(e), newKeyChangeCmd(), newDecodeCmd())
}

// issueFlags configure token issue. Field flags are text, parsed on use so
// that errors name the flag; empty means not given.
type issueFlags struct {
	keys     keyFlags
	class    string
	subclass string
	tid      string
	issued   string
	rnd      string
	amount   string
	value    string
	control  string
	mfrCode  string
	ken      string
	json     bool
}

const issueLong = `token issue builds one token and prints its 20 digits, class, sub-class
and plaintext block.

Class 0 (credit) and class 2 (management) tokens are encrypted under the
meter's decoder key: give it with --decoder-key (and --ea, else the key length
decides), or give --vending-key with --dkga and the meter identity (--drn,
--sgc, --tariff-index, --krn, --key-type, for DKGA04 also --ea and
--base-date) to derive it in the same call. Class 1 (test/display) tokens
need no key.

Class 0 and 2 tokens carry a TID: --tid N, or --issued TIME counted from
--base-date (default 2014). TIME is RFC 3339 or 2026-12-03T13:55, UTC unless
it carries an offset such as +03:00, or "now".

  class 0  --amount DEC in kWh (sub 0), m3 (1, 2), min (3), currency (4-7,
           a leading '-' for a negative amount); rounds up
  class 1  --control HEX (36 bits for sub 0, 28 for sub 1) --mfr-code N
  class 2  --value N: watts for sub 0 and 6, register for 1 (0-7 or 65535,
           the default), the raw 16-bit field for 2 and 7; sub 5 takes none.
           Key change sections (3, 4, 8, 9) are made by token key-change.`

func newIssueCmd(e env) *cobra.Command {
	f := &issueFlags{}
	c := &cobra.Command{
		Use:   "issue --class N --subclass N [key flags] [field flags]",
		Short: "Issue a credit, test/display or management token",
		Long:  issueLong,
		Example: "  vendor token issue --decoder-key D0686379ABAC1BC4 --ea 07 --class 0 \\\n" +
			"    --subclass 0 --amount 10 --issued 2026-12-03T13:55 --rnd 5\n" +
			"  vendor token issue --vending-key @vk02.hex --dkga 02 --drn 37194275246 \\\n" +
			"    --sgc 123456 --tariff-index 07 --krn 1 --key-type 2 --class 0 \\\n" +
			"    --subclass 0 --amount 10 --issued now\n" +
			"  vendor token issue --class 1 --subclass 0 --control 1 --mfr-code 0",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return f.run(cmd, e) },
	}
	flags := c.Flags()
	f.keys.registerVending(flags)
	f.keys.registerDecoder(flags)
	flags.StringVar(&f.class, "class", "", "token `class`: 0 credit, 1 test/display, 2 management")
	flags.StringVar(&f.subclass, "subclass", "", "token `sub-class`, 0 to 15")
	flags.StringVar(&f.tid, "tid", "", "token identifier, `minutes` since the base date")
	flags.StringVar(&f.issued, "issued", "", "issue `time` from which the TID is counted")
	flags.StringVar(&f.rnd, "rnd", "", "random `nibble` 0 to 15 (default random)")
	flags.StringVar(&f.amount, "amount", "", "credit `amount`, a decimal in the sub-class unit")
	flags.StringVar(&f.value, "value", "", "`value` of a management token")
	flags.StringVar(&f.control, "control", "", "test/display control bits in `hex`")
	flags.StringVar(&f.mfrCode, "mfr-code", "", "manufacturer `code` of a test/display token "+
		"(default 0)")
	flags.StringVar(&f.ken, "ken", "", "key expiry `number` of the key: refuse TIDs past it")
	flags.BoolVar(&f.json, "json", false, "print one JSON object")
	return c
}

func (f *issueFlags) run(cmd *cobra.Command, e env) error {
	class, sub, err := f.classes()
	if err != nil {
		return err
	}
	var fields sts.Fields
	switch class {
	case sts.ClassCredit:
		fields, err = f.credit(cmd, e, sub)
	case sts.ClassTest:
		fields, err = f.test(cmd, sub)
	default:
		fields, err = f.management(cmd, e, sub)
	}
	if err != nil {
		return err
	}
	block, err := fields.Block()
	if err != nil {
		return fmt.Errorf("build token: %w", err)
	}

	var c sts.BlockCipher
	var tables *sts.Tables
	if class != sts.ClassTest {
		if c, tables, err = f.keys.tokenCipher(cmd); err != nil {
			return err
		}
	}
	t, err := sts.Encode(c, &fields)
	if err != nil {
		return fmt.Errorf("encode token: %w", err)
	}
	out := newTokensOutput(tables)
	out.Tokens = []tokenEntry{newTokenEntry(t, &fields, block)}
	return emit(cmd, f.json, out)
}

// classes parses --class and --subclass and checks that issue can make
// the pair.
func (f *issueFlags) classes() (sts.Class, uint8, error) {
	if f.class == "" {
		return 0, 0, missing("class", "(0 credit, 1 test/display, 2 management)")
	}
	if f.subclass == "" {
		return 0, 0, missing("subclass", "")
	}
	c, err := parseUint("class", f.class, 0, 3)
	if err != nil {
		return 0, 0, err
	}
	s, err := parseUint("subclass", f.subclass, 0, 15)
	if err != nil {
		return 0, 0, err
	}
	class, sub := sts.Class(c), uint8(s)
	switch {
	case class == sts.ClassReserved:
		return 0, 0, fmt.Errorf("--class 3: reserved by the STS Association")
	case class == sts.ClassCredit && sub > sts.SubTimeCurrency:
		return 0, 0, fmt.Errorf("--subclass %d: credit sub-classes 8 to 15 are reserved", sub)
	case class == sts.ClassTest && sub > sts.SubTest4Digit:
		return 0, 0, fmt.Errorf("--subclass %d: test/display tokens are 0 (2-digit mfr code) "+
			"or 1 (4-digit mfr code)", sub)
	case class == sts.ClassManagement:
		switch sub {
		case sts.SubKeyChange1, sts.SubKeyChange2, sts.SubKeyChange3, sts.SubKeyChange4:
			return 0, 0, fmt.Errorf("--subclass %d: key change sections are issued as a set "+
				"by vendor token key-change", sub)
		}
		if sub > sts.SubKeyChange4 {
			return 0, 0, fmt.Errorf("--subclass %d: management sub-classes 10 to 15 are "+
				"reserved", sub)
		}
	}
	return class, sub, nil
}

// credit builds a class 0 token.
func (f *issueFlags) credit(cmd *cobra.Command, e env, sub uint8) (sts.Fields, error) {
	if err := refuse(cmd, "does not apply to credit tokens", "value", "control",
		"mfr-code"); err != nil {
		return sts.Fields{}, err
	}
	if f.amount == "" {
		return sts.Fields{}, missing("amount", "for a credit token")
	}
	fields := sts.Fields{Class: sts.ClassCredit, SubClass: sub}
	var err error
	if fields.TID, err = f.tokenID(e); err != nil {
		return fields, err
	}
	if sub <= sts.SubTime {
		if fields.RND, err = f.random(e); err != nil {
			return fields, err
		}
		fields.Value, err = unitAmount(f.amount, sub)
		return fields, err
	}
	// Currency credit keeps sign and exponent bits where RND would be.
	if err := refuse(cmd, "currency credit carries sign and exponent in the RND nibble",
		"rnd"); err != nil {
		return fields, err
	}
	amount, err := currencyAmount(f.amount)
	if err != nil {
		return fields, err
	}
	fields.SetCurrency(amount)
	return fields, nil
}

// management builds a class 2 token other than a key change section.
func (f *issueFlags) management(cmd *cobra.Command, e env, sub uint8) (sts.Fields, error) {
	if err := refuse(cmd, "does not apply to management tokens", "amount", "control",
		"mfr-code"); err != nil {
		return sts.Fields{}, err
	}
	fields := sts.Fields{Class: sts.ClassManagement, SubClass: sub}
	var err error
	if fields.TID, err = f.tokenID(e); err != nil {
		return fields, err
	}
	if fields.RND, err = f.random(e); err != nil {
		return fields, err
	}
	fields.Value, err = f.managementValue(sub)
	return fields, err
}

// managementValue reads --value as the sub-class defines its 16-bit field.
func (f *issueFlags) managementValue(sub uint8) (uint16, error) {
	switch sub {
	case sts.SubSetMaxPowerLimit, sts.SubSetMaxPhaseUnbalance:
		if f.value == "" {
			return 0, missing("value", "(watts) for a power limit token")
		}
		return watts(f.value)
	case sts.SubClearCredit:
		if f.value == "" {
			return sts.ClearAllRegisters, nil
		}
		n, err := parseRegister(f.value)
		return uint16(n), err
	case sts.SubClearTamper:
		if f.value != "" {
			return 0, fmt.Errorf("--value: clear tamper condition carries no value")
		}
		return 0, nil
	}
	if f.value == "" {
		return 0, nil
	}
	n, err := parseUint("value", f.value, 0, 0xFFFF)
	return uint16(n), err
}

// parseRegister reads the ClearCredit register: 0 to 7, or 65535 for all.
func parseRegister(v string) (uint64, error) {
	n, err := parseUint("value", v, 0, sts.ClearAllRegisters)
	if err != nil {
		return 0, err
	}
	if n > 7 && n != sts.ClearAllRegisters {
		return 0, fmt.Errorf("--value %d: %w: want a register 0 to 7, or 65535 for all",
			n, sts.ErrRange)
	}
	return n, nil
}

// test builds a class 1 token.
func (f *issueFlags) test(cmd *cobra.Command, sub uint8) (sts.Fields, error) {
	if err := refuse(cmd, "test/display tokens carry no such field", "tid", "issued", "rnd",
		"amount", "value", "ken"); err != nil {
		return sts.Fields{}, err
	}
	if f.control == "" {
		return sts.Fields{}, missing("control", "(hex bit mask) for a test/display token")
	}
	bits, maxCode := uint(36), uint64(99)
	if sub == sts.SubTest4Digit {
		bits, maxCode = 28, 9999
	}
	fields := sts.Fields{Class: sts.ClassTest, SubClass: sub}
	var err error
	if fields.Control, err = parseControl(f.control, bits); err != nil {
		return fields, err
	}
	if f.mfrCode != "" {
		code, err := parseUint("mfr-code", f.mfrCode, 0, maxCode)
		if err != nil {
			return fields, err
		}
		fields.MfrCode = uint16(code)
	}
	return fields, nil
}

// tokenID returns the TID from --tid, or from --issued and --base-date, and
// checks it against --ken.
func (f *issueFlags) tokenID(e env) (uint32, error) {
	var tid uint32
	switch {
	case f.tid != "" && f.issued != "":
		return 0, fmt.Errorf("--tid and --issued are exclusive")
	case f.tid != "":
		n, err := parseUint("tid", f.tid, 0, sts.MaxTID)
		if err != nil {
			return 0, err
		}
		tid = uint32(n)
	case f.issued != "":
		t, err := parseIssued(f.issued, e.now)
		if err != nil {
			return 0, err
		}
		base, err := parseBaseDate("base-date", f.keys.id.baseDate)
		if err != nil {
			return 0, err
		}
		if tid, err = sts.TIDAt(t, base); err != nil {
			return 0, fmt.Errorf("--issued: %w", err)
		}
	default:
		return 0, fmt.Errorf("--tid or --issued: %w: the token's issue minute", errMissing)
	}
	if f.ken == "" {
		return tid, nil
	}
	ken, err := parseUint("ken", f.ken, 0, 255)
	if err != nil {
		return 0, err
	}
	// PROTOCOL.md §4: a vending system must not make a token the meter
	// would refuse with KeyExpiredError.
	if sts.KeyExpired(tid, uint8(ken)) {
		return 0, fmt.Errorf("--ken %d: key expired for TID %d (its top 8 bits are %d)",
			ken, tid, tid>>16)
	}
	return tid, nil
}

// random returns --rnd or a random nibble.
func (f *issueFlags) random(e env) (uint8, error) {
	if f.rnd == "" {
		return e.nibble() & 15, nil
	}
	n, err := parseUint("rnd", f.rnd, 0, 15)
	return uint8(n), err
}
