package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/stsfleet/stsfleet/protocol/sts"
)

// keyChangeFlags configure token key-change. The set is encrypted under the
// meter's current key and carries the new key with its KEN, KRN, key type,
// tariff index, roll-over flag and, for a 128-bit key, SGC.
type keyChangeFlags struct {
	keys          keyFlags
	newDecoderKey string
	ken           string
	ro            bool
	newKRN        string
	newKeyType    string
	newTariff     string
	newSGC        string
	newBaseDate   string
	json          bool
}

const keyChangeLong = `token key-change makes the key change token set that moves a meter to a
new decoder key: two tokens for a 64-bit (EA07) key, four for a 128-bit
(EA11) key, printed in the order they are to be entered. All are encrypted
under the meter's current key.

Two forms:

  With decoder keys: --decoder-key names the current key, --new-decoder-key
  the new one (same length, see --ea), and --krn, --key-type, --tariff-index
  and, for EA11 only, --sgc are the new key's values the set carries.
  (--new-krn and the other --new-* flags are accepted in their place.)

  With a vending key: --vending-key, --dkga and the identity flags (--drn,
  --sgc, --tariff-index, --krn, --key-type, --base-date, --ea) describe the
  meter as it is now, exactly as for token issue; the current key is derived
  from them. The new key is derived from the same identity with the
  --new-krn, --new-tariff-index, --new-sgc, --new-key-type and
  --new-base-date values put in; each defaults to the current value. The set
  carries the new values. A 64-bit set has no room for an SGC, so --new-sgc
  then only changes the derived key.

--ken sets the new key's expiry number (default 255, never expires); --ro
marks a TID roll-over, usually with --new-base-date set to the next base
date and a new --new-krn.`

func newKeyChangeCmd() *cobra.Command {
	f := &keyChangeFlags{}
	c := &cobra.Command{
		Use:   "key-change (--decoder-key OLD --new-decoder-key NEW | --vending-key ..) ...",
		Short: "Make the key change token set for a new decoder key",
		Long:  keyChangeLong,
		Example: "  vendor token key-change --decoder-key D0686379ABAC1BC4 --ea 07 \\\n" +
			"    --new-decoder-key 0123456789ABCDEF --ken 255 --krn 2 --key-type 2 \\\n" +
			"    --tariff-index 07\n" +
			"  vendor token key-change --vending-key @vk02.hex --dkga 02 --drn 37194275246 \\\n" +
			"    --sgc 123456 --tariff-index 07 --krn 1 --key-type 2 --new-krn 2",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return f.run(cmd) },
	}
	flags := c.Flags()
	f.keys.registerVending(flags)
	f.keys.registerDecoder(flags)
	flags.StringVar(&f.newDecoderKey, "new-decoder-key", "",
		"new decoder key in `hex`, or @FILE holding it")
	flags.StringVar(&f.ken, "ken", "", "key expiry `number` of the new key, 0 to 255 "+
		"(default 255)")
	flags.BoolVar(&f.ro, "ro", false, "TID roll-over: the meter clears its TID memory")
	flags.StringVar(&f.newKRN, "new-krn", "", "key revision `number` of the new key")
	flags.StringVar(&f.newKeyType, "new-key-type", "", "key `type` of the new key")
	flags.StringVar(&f.newTariff, "new-tariff-index", "", "tariff `index` of the new key")
	flags.StringVar(&f.newSGC, "new-sgc", "", "supply group `code` of the new key")
	flags.StringVar(&f.newBaseDate, "new-base-date", "",
		"base date (`year`) of the new key (DKGA04; vending key form only)")
	flags.BoolVar(&f.json, "json", false, "print one JSON object")
	return c
}

func (f *keyChangeFlags) run(cmd *cobra.Command) error {
	var (
		ea     sts.EA
		oldKey []byte
		kc     sts.KeyChange
		err    error
	)
	if f.keys.vendingKey != "" && f.keys.decoderKey == "" {
		ea, oldKey, kc, err = f.derivedSet(cmd)
	} else {
		ea, oldKey, kc, err = f.givenSet(cmd)
	}
	if err != nil {
		return err
	}
	if kc.KEN, err = f.keyExpiry(); err != nil {
		return err
	}
	kc.RO = f.ro
	sections, err := kc.Sections()
	if err != nil {
		return fmt.Errorf("build key change set: %w", err)
	}

	c, tables, err := f.keys.cipher(ea, oldKey)
	if err != nil {
		return err
	}
	out := newTokensOutput(tables)
	for i := range sections {
		s := &sections[i]
		block, err := s.Block()
		if err != nil {
			return fmt.Errorf("build key change section %d: %w", i+1, err)
		}
		t, err := sts.Encode(c, s)
		if err != nil {
			return fmt.Errorf("encode key change section %d: %w", i+1, err)
		}
		out.Tokens = append(out.Tokens, newTokenEntry(t, s, block))
	}
	return emit(cmd, f.json, out)
}

func (f *keyChangeFlags) keyExpiry() (uint8, error) {
	if f.ken == "" {
		return 255, nil
	}
	n, err := parseUint("ken", f.ken, 0, 255)
	return uint8(n), err
}

// givenSet reads the decoder key form: both keys in hex, the new key's
// values from the plain or --new-* flags.
func (f *keyChangeFlags) givenSet(cmd *cobra.Command) (sts.EA, []byte, sts.KeyChange, error) {
	var kc sts.KeyChange
	ea, oldKey, ok, err := f.keys.decoder(cmd)
	if err != nil {
		return 0, nil, kc, err
	}
	if !ok {
		return 0, nil, kc, missing("decoder-key", "(or --vending-key): the meter's current key")
	}
	if err := refuse(cmd, "applies only with --vending-key", "drn", "iin", "base-date",
		"new-base-date"); err != nil {
		return 0, nil, kc, err
	}
	if f.newDecoderKey == "" {
		return 0, nil, kc, missing("new-decoder-key", "with --decoder-key")
	}
	if kc.NewKey, err = parseKey("new-decoder-key", f.newDecoderKey, ea.KeyLen()); err != nil {
		return 0, nil, kc, fmt.Errorf("%w (the key length of --ea %s)", err, ea)
	}

	name, v, err := pick(cmd, "krn", "new-krn")
	if err != nil {
		return 0, nil, kc, err
	}
	if kc.KRN, err = parseKRN(name, v); err != nil {
		return 0, nil, kc, err
	}
	if name, v, err = pick(cmd, "key-type", "new-key-type"); err != nil {
		return 0, nil, kc, err
	}
	if kc.KeyType, err = parseKeyType(name, v); err != nil {
		return 0, nil, kc, err
	}
	if name, v, err = pick(cmd, "tariff-index", "new-tariff-index"); err != nil {
		return 0, nil, kc, err
	}
	if kc.TariffIndex, err = parseTariffIndex(name, v); err != nil {
		return 0, nil, kc, err
	}
	kc.SGC, err = f.givenSGC(cmd, ea)
	return ea, oldKey, kc, err
}

// givenSGC reads the SGC a set carries: required for a 128-bit key, refused
// for a 64-bit one, whose set has no room for it.
func (f *keyChangeFlags) givenSGC(cmd *cobra.Command, ea sts.EA) (uint32, error) {
	name, v := "sgc", f.keys.id.sgc
	if f.newSGC != "" {
		if v != "" {
			return 0, fmt.Errorf("--sgc and --new-sgc are exclusive with --decoder-key")
		}
		name, v = "new-sgc", f.newSGC
	}
	if ea == sts.EA07 {
		if v != "" {
			return 0, fmt.Errorf("--%s: a 64-bit (EA07) key change set carries no SGC", name)
		}
		return 0, nil
	}
	if v == "" {
		return 0, missing("sgc", "for a 128-bit (EA11) key change set")
	}
	_, sgc, err := parseSGC(name, v)
	return sgc, err
}

// pick returns the flag, of plain and its --new-* twin, that names a value
// of the new key in the decoder key form; exactly one must be set.
func pick(cmd *cobra.Command, plain, twin string) (string, string, error) {
	fl := cmd.Flags()
	p, t := fl.Lookup(plain).Value.String(), fl.Lookup(twin).Value.String()
	switch {
	case p != "" && t != "":
		return "", "", fmt.Errorf("--%s and --%s are exclusive with --decoder-key", plain, twin)
	case t != "":
		return twin, t, nil
	case p == "":
		return "", "", missing(plain, "for the key change set (the new key's value)")
	}
	return plain, p, nil
}

// derivedSet reads the vending key form: the current key derived from the
// identity flags, the new one from the same identity with the --new-* values.
func (f *keyChangeFlags) derivedSet(cmd *cobra.Command) (sts.EA, []byte, sts.KeyChange, error) {
	var kc sts.KeyChange
	if err := refuse(cmd, "the vending key form derives the new key; see --new-krn and the "+
		"other --new-* flags", "new-decoder-key"); err != nil {
		return 0, nil, kc, err
	}
	old, p, err := f.keys.derive()
	if err != nil {
		return 0, nil, kc, err
	}
	np, err := f.newParams(p)
	if err != nil {
		return 0, nil, kc, err
	}
	// A meter moves to a new base date only in a roll-over; without RO the
	// set would carry a key for a base date the meter never takes.
	if np.BaseDate != p.BaseDate && !f.ro {
		return 0, nil, kc, errors.New("--new-base-date: a meter changes base date only " +
			"in a TID roll-over; add --ro")
	}
	// Re-keying to the same identity is how a KEN or a roll-over is sent;
	// with neither, the set would change nothing.
	if np == p && f.ken == "" && !f.ro {
		return 0, nil, kc, errors.New("--new-krn, --new-key-type, --new-tariff-index, " +
			"--new-sgc, --new-base-date, --ken or --ro: the set would change nothing")
	}
	nk, err := f.keys.deriveWith(np)
	if err != nil {
		return 0, nil, kc, fmt.Errorf("new key: %w", err)
	}
	kc = sts.KeyChange{NewKey: nk.Key, KRN: np.KRN, KeyType: np.KeyType,
		TariffIndex: np.TariffIndex}
	if p.EA == sts.EA11 {
		_, kc.SGC, _ = parseSGC("new-sgc", np.SGC)
	}
	return p.EA, old.Key, kc, nil
}

// newParams applies the --new-* flags to the current key parameters.
func (f *keyChangeFlags) newParams(p sts.KeyParams) (sts.KeyParams, error) {
	var err error
	if f.newKRN != "" {
		if p.KRN, err = parseKRN("new-krn", f.newKRN); err != nil {
			return p, err
		}
	}
	if f.newKeyType != "" {
		if p.KeyType, err = parseKeyType("new-key-type", f.newKeyType); err != nil {
			return p, err
		}
	}
	if f.newTariff != "" {
		if p.TariffIndex, err = parseTariffIndex("new-tariff-index", f.newTariff); err != nil {
			return p, err
		}
	}
	if f.newSGC != "" {
		if p.SGC, _, err = parseSGC("new-sgc", f.newSGC); err != nil {
			return p, err
		}
	}
	if f.newBaseDate != "" {
		if p.BaseDate, err = parseBaseDate("new-base-date", f.newBaseDate); err != nil {
			return p, err
		}
	}
	return p, nil
}
