package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stsfleet/stsfleet/protocol/sts"
)

// identityFlags name a meter's current decoder key: the inputs of the
// decoder key generation (PROTOCOL.md §8.1). The text is parsed on use so
// that errors name the flag.
type identityFlags struct {
	drn, iin, sgc, tariffIndex, krn, keyType, baseDate string
}

// identityNames are the flags of identityFlags that only mean something
// together with a vending key. --base-date is not among them: it also
// dates --issued.
var identityNames = []string{"drn", "iin", "sgc", "tariff-index", "krn", "key-type"}

func (id *identityFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&id.drn, "drn", "",
		"decoder reference `number`, 11 or 13 digits ending in a Luhn check digit")
	fs.StringVar(&id.iin, "iin", "",
		"issuer identification `number` (default 600727 for an 11-digit DRN, 0000 for 13)")
	fs.StringVar(&id.sgc, "sgc", "", "supply group `code`, 6 digits")
	fs.StringVar(&id.tariffIndex, "tariff-index", "", "tariff `index`, 00 to 99")
	fs.StringVar(&id.krn, "krn", "", "key revision `number`, 1 to 9")
	fs.StringVar(&id.keyType, "key-type", "", "key `type`, 0 (DITK) to 3 (DCTK); 2 is DUTK")
	fs.StringVar(&id.baseDate, "base-date", "",
		"base date (`year`) of TIDs and of DKGA04: 1993, 2014 or 2035 (default 2014)")
}

// params parses the identity into key parameters for d and ea. context says
// why the flags are needed, for the message when one is missing.
func (id *identityFlags) params(d sts.DKGA, ea sts.EA, context string) (sts.KeyParams, error) {
	for _, f := range []struct{ name, v string }{
		{"drn", id.drn}, {"sgc", id.sgc}, {"tariff-index", id.tariffIndex},
		{"krn", id.krn}, {"key-type", id.keyType},
	} {
		if f.v == "" {
			return sts.KeyParams{}, missing(f.name, context)
		}
	}
	p := sts.KeyParams{DKGA: d, EA: ea}
	var err error
	if p.DRN, err = parseDRN(id.drn); err != nil {
		return p, err
	}
	if p.IIN, err = parseIIN(id.iin, id.drn); err != nil {
		return p, err
	}
	if p.SGC, _, err = parseSGC("sgc", id.sgc); err != nil {
		return p, err
	}
	if p.TariffIndex, err = parseTariffIndex("tariff-index", id.tariffIndex); err != nil {
		return p, err
	}
	if p.KRN, err = parseKRN("krn", id.krn); err != nil {
		return p, err
	}
	if p.KeyType, err = parseKeyType("key-type", id.keyType); err != nil {
		return p, err
	}
	p.BaseDate, err = parseBaseDate("base-date", id.baseDate)
	return p, err
}

// keyFlags select the decoder key a token command works under: the key
// itself (--decoder-key), or a vending key and the meter identity to derive
// it from (--vending-key, --dkga and the identity flags), plus the STA tables
// for EA07.
type keyFlags struct {
	decoderKey string
	ea         string
	vendingKey string
	dkga       string
	staTables  string
	id         identityFlags
}

// registerVending adds the flags of a vending key derivation.
func (k *keyFlags) registerVending(fs *pflag.FlagSet) {
	fs.StringVar(&k.vendingKey, "vending-key", "",
		"vending key in `hex`, or @FILE holding it (never printed)")
	fs.StringVar(&k.dkga, "dkga", "", "key generation `algorithm` of the vending key: 02 or 04")
	fs.StringVar(&k.ea, "ea", "",
		"encryption `algorithm`: 07 (STA) or 11 (MISTY1); default from the key")
	k.id.register(fs)
}

// registerDecoder adds --decoder-key and --sta-tables; it expects
// registerVending to have added --ea.
func (k *keyFlags) registerDecoder(fs *pflag.FlagSet) {
	fs.StringVar(&k.decoderKey, "decoder-key", "", "decoder key in `hex`, or @FILE holding it")
	fs.StringVar(&k.staTables, "sta-tables", "",
		"STA tables `file` for EA07 (default $"+sts.TablesEnv+", else the sample tables)")
}

// derive derives the decoder key from the vending key and identity flags.
func (k *keyFlags) derive() (sts.DerivedKey, sts.KeyParams, error) {
	if k.vendingKey == "" {
		return sts.DerivedKey{}, sts.KeyParams{}, missing("vending-key", "to derive a key")
	}
	if k.dkga == "" {
		return sts.DerivedKey{}, sts.KeyParams{}, missing("dkga", "with --vending-key")
	}
	d, err := sts.ParseDKGA(k.dkga)
	if err != nil {
		return sts.DerivedKey{}, sts.KeyParams{}, fmt.Errorf("--dkga: %w", err)
	}
	ea, err := k.derivedEA(d)
	if err != nil {
		return sts.DerivedKey{}, sts.KeyParams{}, err
	}
	p, err := k.id.params(d, ea, "with --vending-key")
	if err != nil {
		return sts.DerivedKey{}, p, err
	}
	dk, err := k.deriveWith(p)
	return dk, p, err
}

// deriveWith derives the key for p from the vending key, which it reads
// afresh and wipes after use.
func (k *keyFlags) deriveWith(p sts.KeyParams) (sts.DerivedKey, error) {
	vk, err := parseKey("vending-key", k.vendingKey, p.DKGA.VendingKeyLen())
	if err != nil {
		return sts.DerivedKey{}, err
	}
	defer clear(vk)
	dk, err := sts.DeriveKey(vk, p)
	if err != nil {
		return sts.DerivedKey{}, fmt.Errorf("derive decoder key: %w", err)
	}
	return dk, nil
}

// derivedEA returns the algorithm of the key to derive: DKGA02 makes EA07
// keys only, DKGA04 either, so it needs --ea.
func (k *keyFlags) derivedEA(d sts.DKGA) (sts.EA, error) {
	if d == sts.DKGA02 {
		if k.ea == "" {
			return sts.EA07, nil
		}
		ea, err := parseEA(k.ea)
		if err == nil && ea != sts.EA07 {
			err = fmt.Errorf("--ea %s: DKGA02 derives EA07 keys only", ea)
		}
		return ea, err
	}
	if k.ea == "" {
		return 0, missing("ea", "with --dkga 04 (07 or 11)")
	}
	return parseEA(k.ea)
}

// decoder returns the decoder key and its algorithm from --decoder-key or
// from a derivation. ok is false when neither key flag was given.
func (k *keyFlags) decoder(cmd *cobra.Command) (ea sts.EA, key []byte, ok bool, err error) {
	switch {
	case k.decoderKey != "" && k.vendingKey != "":
		return 0, nil, true, fmt.Errorf("--decoder-key and --vending-key are exclusive")
	case k.decoderKey != "":
		if err := refuse(cmd, "applies only with --vending-key", "dkga"); err != nil {
			return 0, nil, true, err
		}
		ea, key, err := parseDecoderKey("decoder-key", k.decoderKey, k.ea)
		return ea, key, true, err
	case k.vendingKey != "":
		dk, p, err := k.derive()
		return p.EA, dk.Key, true, err
	}
	return 0, nil, false, nil
}

// refuseIdentity fails when identity flags come with --decoder-key, where
// they would be silently ignored.
func (k *keyFlags) refuseIdentity(cmd *cobra.Command) error {
	if k.vendingKey != "" {
		return nil
	}
	return refuse(cmd, "applies only with --vending-key", identityNames...)
}

// tokenCipher resolves the key flags of a command that encrypts: the cipher,
// and for EA07 the STA tables it uses.
func (k *keyFlags) tokenCipher(cmd *cobra.Command) (sts.BlockCipher, *sts.Tables, error) {
	if err := k.refuseIdentity(cmd); err != nil {
		return nil, nil, err
	}
	ea, key, ok, err := k.decoder(cmd)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, missing("decoder-key",
			"(or --vending-key): the token is encrypted under the meter's key")
	}
	return k.cipher(ea, key)
}

// cipher prepares the block cipher for a decoder key and, for EA07, returns
// the STA tables in use (nil for EA11).
func (k *keyFlags) cipher(ea sts.EA, key []byte) (sts.BlockCipher, *sts.Tables, error) {
	var tables *sts.Tables
	if ea == sts.EA07 {
		t, err := sts.TablesFromEnv(k.staTables)
		if err != nil {
			if k.staTables == "" {
				return nil, nil, fmt.Errorf("$%s: %w", sts.TablesEnv, err)
			}
			return nil, nil, fmt.Errorf("--sta-tables: %w", err)
		}
		tables = t
	}
	c, err := sts.NewCipher(ea, key, tables)
	if err != nil {
		return nil, nil, fmt.Errorf("--decoder-key: %w", err)
	}
	return c, tables, nil
}
