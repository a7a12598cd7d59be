package vending

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// KeyStoreVersion and InjectionVersion are the versions of the key files.
const (
	KeyStoreVersion  = 1
	InjectionVersion = 1
)

// KeyStore holds the vendor's vending keys, one per decoder key generation
// algorithm. It is the vendor's secret: it never appears in a log line
// (its String and LogValue name the algorithms only), and its file is
// written 0600. A KeyStore is immutable once built and safe for concurrent
// use.
type KeyStore struct {
	keys map[sts.DKGA][]byte
}

// NewKeyStore makes a key store with a fresh random vending key for each
// DKGA, read from random (nil means crypto/rand).
func NewKeyStore(random io.Reader, dkgas ...sts.DKGA) (*KeyStore, error) {
	if random == nil {
		random = rand.Reader
	}
	ks := &KeyStore{keys: map[sts.DKGA][]byte{}}
	for _, d := range dkgas {
		n := d.VendingKeyLen()
		if n == 0 {
			return nil, fmt.Errorf("new key store: unknown DKGA %s", d)
		}
		k := make([]byte, n)
		if _, err := io.ReadFull(random, k); err != nil {
			return nil, fmt.Errorf("new key store: random: %w", err)
		}
		ks.keys[d] = k
	}
	return ks, nil
}

// KeyStoreOf builds a key store from given vending keys, copying them.
func KeyStoreOf(keys map[sts.DKGA][]byte) (*KeyStore, error) {
	ks := &KeyStore{keys: map[sts.DKGA][]byte{}}
	for d, k := range keys {
		if want := d.VendingKeyLen(); want == 0 || len(k) != want {
			return nil, fmt.Errorf("key store: DKGA%s vending key has %d bytes, want %d: %w",
				d, len(k), want, sts.ErrKeyLength)
		}
		ks.keys[d] = slices.Clone(k)
	}
	return ks, nil
}

// DKGAs returns the algorithms the store has a key for, in order.
func (ks *KeyStore) DKGAs() []sts.DKGA {
	out := make([]sts.DKGA, 0, len(ks.keys))
	for d := range ks.keys {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// Has reports whether the store holds a vending key for d.
func (ks *KeyStore) Has(d sts.DKGA) bool { return ks.keys[d] != nil }

// DecoderKey derives the decoder key of a meter's current key. Errors
// wrap [ErrNoVendingKey] when the store lacks the meter's DKGA.
func (ks *KeyStore) DecoderKey(m *Meter) ([]byte, error) {
	return ks.deriveKey(m.KeyParams())
}

func (ks *KeyStore) deriveKey(p sts.KeyParams) ([]byte, error) {
	vk := ks.keys[p.DKGA]
	if vk == nil {
		return nil, fmt.Errorf("derive decoder key for meter %s: DKGA%s: %w",
			p.DRN, p.DKGA, ErrNoVendingKey)
	}
	dk, err := sts.DeriveKey(vk, p)
	if err != nil {
		return nil, fmt.Errorf("derive decoder key for meter %s: %w", p.DRN, err)
	}
	return dk.Key, nil
}

// String names the algorithms the store holds keys for, never a key.
func (ks *KeyStore) String() string {
	names := make([]string, 0, len(ks.keys))
	for _, d := range ks.DKGAs() {
		names = append(names, "DKGA"+d.String())
	}
	return "KeyStore(" + strings.Join(names, ", ") + ")"
}

// LogValue implements slog.LogValuer without the keys.
func (ks *KeyStore) LogValue() slog.Value { return slog.StringValue(ks.String()) }

type keyStoreJSON struct {
	Version     int              `json:"version"`
	VendingKeys []vendingKeyJSON `json:"vending_keys"`
}

type vendingKeyJSON struct {
	DKGA string `json:"dkga"`
	Key  string `json:"key"`
}

// Marshal returns the key store file content. The result is secret.
func (ks *KeyStore) Marshal() ([]byte, error) {
	j := keyStoreJSON{Version: KeyStoreVersion}
	for _, d := range ks.DKGAs() {
		j.VendingKeys = append(j.VendingKeys, vendingKeyJSON{DKGA: d.String(),
			Key: strings.ToUpper(hex.EncodeToString(ks.keys[d]))})
	}
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal key store: %w", err)
	}
	return append(b, '\n'), nil
}

// Write writes the key store to path atomically with mode 0600.
func (ks *KeyStore) Write(path string) error {
	b, err := ks.Marshal()
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b, 0o600)
}

// ParseKeyStore reads a key store file. Errors never quote a key.
func ParseKeyStore(data []byte) (*KeyStore, error) {
	var j keyStoreJSON
	if err := decodeStrict(data, &j); err != nil {
		return nil, fmt.Errorf("parse key store: %w", redactJSONError(err))
	}
	if j.Version != KeyStoreVersion {
		return nil, fmt.Errorf("parse key store: version %d: want %d", j.Version, KeyStoreVersion)
	}
	keys := map[sts.DKGA][]byte{}
	for i, vk := range j.VendingKeys {
		d, err := sts.ParseDKGA(vk.DKGA)
		if err != nil {
			return nil, fmt.Errorf("parse key store: vending_keys[%d].dkga: %w", i, err)
		}
		if keys[d] != nil {
			return nil, fmt.Errorf("parse key store: vending_keys[%d]: a second key for DKGA%s",
				i, d)
		}
		k, err := hex.DecodeString(strings.TrimSpace(vk.Key))
		if err != nil {
			return nil, fmt.Errorf("parse key store: vending_keys[%d].key: not hex", i)
		}
		keys[d] = k
	}
	ks, err := KeyStoreOf(keys)
	if err != nil {
		return nil, fmt.Errorf("parse key store: %w", err)
	}
	return ks, nil
}

// LoadKeyStore reads a key store file.
func LoadKeyStore(path string) (*KeyStore, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load key store: %w", err)
	}
	ks, err := ParseKeyStore(data)
	if err != nil {
		return nil, fmt.Errorf("load key store %s: %w", path, err)
	}
	return ks, nil
}

// redactJSONError keeps the shape of a decoding error of a secret file
// without any of its text: encoding/json quotes offending input.
func redactJSONError(err error) error {
	if fe, ok := err.(*FieldError); ok {
		// A duplicate key's error holds its path only.
		if errors.Is(fe, errDuplicateKey) {
			return fe
		}
		return fmt.Errorf("%s: wrong type or unknown field", fe.Field)
	}
	return fmt.Errorf("malformed JSON")
}

// DecoderKey is a meter's decoder key as a manufacturer injects it. It is
// secret: String and LogValue show the algorithm only.
type DecoderKey struct {
	// EA is the algorithm the key is for.
	EA sts.EA
	// Key is 8 bytes for EA07, 16 for EA11.
	Key []byte
}

// String shows the algorithm, never the key.
func (k DecoderKey) String() string { return "DecoderKey(EA" + k.EA.String() + ")" }

// LogValue implements slog.LogValuer without the key.
func (k DecoderKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Injection is the decoder key injection of a fleet, by DRN: what a
// manufacturer loads into each meter, so that the fleet holds decoder keys
// only and never the vending key. It is secret; its file is written 0600.
type Injection map[string]DecoderKey

// BuildInjection derives every meter's decoder key from the key store.
func BuildInjection(d *Definition, ks *KeyStore) (Injection, error) {
	inj := make(Injection, len(d.Meters))
	for i := range d.Meters {
		m := &d.Meters[i]
		k, err := ks.DecoderKey(m)
		if err != nil {
			return nil, fmt.Errorf("build injection: %w", err)
		}
		inj[m.DRN] = DecoderKey{EA: m.EA, Key: k}
	}
	return inj, nil
}

type injectionJSON struct {
	Version int                       `json:"version"`
	Meters  map[string]decoderKeyJSON `json:"meters"`
}

type decoderKeyJSON struct {
	EA  string `json:"ea"`
	Key string `json:"key"`
}

// wire returns the file form of the injection.
func (inj Injection) wire() injectionJSON {
	j := injectionJSON{Version: InjectionVersion, Meters: make(map[string]decoderKeyJSON, len(inj))}
	for drn, k := range inj {
		j.Meters[drn] = decoderKeyJSON{EA: k.EA.String(),
			Key: strings.ToUpper(hex.EncodeToString(k.Key))}
	}
	return j
}

// Marshal returns the injection file content. The result is secret.
func (inj Injection) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(inj.wire(), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal injection: %w", err)
	}
	return append(b, '\n'), nil
}

// Write writes the injection file to path atomically with mode 0600.
func (inj Injection) Write(path string) error {
	b, err := inj.Marshal()
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b, 0o600)
}

// ParseInjection reads an injection file. Errors never quote a key.
func ParseInjection(data []byte) (Injection, error) {
	var j injectionJSON
	if err := decodeStrict(data, &j); err != nil {
		return nil, fmt.Errorf("parse injection: %w", redactJSONError(err))
	}
	if j.Version != InjectionVersion {
		return nil, fmt.Errorf("parse injection: version %d: want %d", j.Version, InjectionVersion)
	}
	inj := make(Injection, len(j.Meters))
	for drn, dk := range j.Meters {
		if err := sts.ValidateDRN(drn); err != nil {
			return nil, fmt.Errorf("parse injection: meters: %w", err)
		}
		ea, err := sts.ParseEA(dk.EA)
		if err != nil {
			return nil, fmt.Errorf("parse injection: meters[%s].ea: %w", drn, err)
		}
		k, err := hex.DecodeString(strings.TrimSpace(dk.Key))
		if err != nil {
			return nil, fmt.Errorf("parse injection: meters[%s].key: not hex", drn)
		}
		if len(k) != ea.KeyLen() {
			return nil, fmt.Errorf("parse injection: meters[%s].key: %d bytes, want %d "+
				"for EA%s: %w", drn, len(k), ea.KeyLen(), ea, sts.ErrKeyLength)
		}
		inj[drn] = DecoderKey{EA: ea, Key: k}
	}
	return inj, nil
}

// LoadInjection reads an injection file.
func LoadInjection(path string) (Injection, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load injection: %w", err)
	}
	inj, err := ParseInjection(data)
	if err != nil {
		return nil, fmt.Errorf("load injection %s: %w", path, err)
	}
	return inj, nil
}
