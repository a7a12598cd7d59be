package vending

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// DefinitionVersion is the version of the fleet definition format.
const DefinitionVersion = 1

// Meter is one meter of the fleet as the vendor knows it: everything that
// goes into its decoder key and its tokens, and the tariff it is sold
// under. It holds no key.
type Meter struct {
	// DRN is the decoder reference number: 11 or 13 digits with a Luhn
	// check digit.
	DRN string
	// Utility is the service the meter supplies.
	Utility Utility
	// MfrCode is the manufacturer code, the DRN's leading 2 or 4 digits.
	MfrCode uint16
	// SGC is the 6-digit supply group code.
	SGC string
	// TI is the tariff index of the key, 0 to 99.
	TI uint8
	// KRN is the key revision number, 1 to 9.
	KRN uint8
	// KT is the key type, 0 (DITK) to 3 (DCTK).
	KT uint8
	// KEN is the key expiry number; 255 never expires.
	KEN uint8
	// BaseDate is the base date the meter's TIDs count from.
	BaseDate sts.BaseDate
	// EA is the encryption algorithm: EA07 or EA11.
	EA sts.EA
	// DKGA is the decoder key generation algorithm: DKGA02 or DKGA04.
	DKGA sts.DKGA
	// Tariff names the tariff the meter's vends are priced under.
	Tariff string
}

// meterJSON is the wire form of a Meter. Optional fields are pointers so
// that a missing field can be told from a zero one.
type meterJSON struct {
	DRN      string `json:"drn"`
	Utility  string `json:"utility"`
	MfrCode  *int   `json:"mfr_code,omitempty"`
	SGC      string `json:"sgc"`
	TI       *int   `json:"ti"`
	KRN      *int   `json:"krn"`
	KT       *int   `json:"kt"`
	KEN      *int   `json:"ken,omitempty"`
	BaseDate *int   `json:"base_date,omitempty"`
	EA       string `json:"ea"`
	DKGA     string `json:"dkga"`
	Tariff   string `json:"tariff"`
}

func intp(v int) *int { return &v }

// MarshalJSON writes the meter with codes as the standard writes them:
// "ea":"07", "dkga":"02", "base_date":2014.
func (m Meter) MarshalJSON() ([]byte, error) {
	return json.Marshal(meterJSON{
		DRN: m.DRN, Utility: string(m.Utility), MfrCode: intp(int(m.MfrCode)), SGC: m.SGC,
		TI: intp(int(m.TI)), KRN: intp(int(m.KRN)), KT: intp(int(m.KT)),
		KEN: intp(int(m.KEN)), BaseDate: intp(m.BaseDate.Year()), EA: m.EA.String(),
		DKGA: m.DKGA.String(), Tariff: m.Tariff,
	})
}

// UnmarshalJSON reads a meter strictly and validates it; errors are
// [*FieldError] values naming the field. mfr_code may be left out (it
// follows from the DRN), ken defaults to 255 and base_date to 2014.
func (m *Meter) UnmarshalJSON(data []byte) error {
	var j meterJSON
	if err := decodeStrict(data, &j); err != nil {
		return err
	}
	v, err := j.meter()
	if err != nil {
		return err
	}
	*m = v
	return nil
}

func (j *meterJSON) meter() (Meter, error) {
	m := Meter{DRN: j.DRN, SGC: j.SGC, Tariff: j.Tariff, KEN: 255,
		BaseDate: sts.DefaultBaseDate}
	if err := sts.ValidateDRN(j.DRN); err != nil {
		return m, &FieldError{Field: "drn", Err: err}
	}
	mfr, _ := sts.MfrCodeOfDRN(j.DRN)
	m.MfrCode = mfr
	if j.MfrCode != nil && *j.MfrCode != int(mfr) {
		return m, fieldErr("mfr_code", "%d, but DRN %s starts with manufacturer code %d",
			*j.MfrCode, j.DRN, mfr)
	}
	u, err := ParseUtility(j.Utility)
	if err != nil {
		return m, &FieldError{Field: "utility", Err: err}
	}
	m.Utility = u
	for _, f := range []struct {
		name     string
		v        *int
		dst      *uint8
		lo, hi   int
		required bool
	}{
		{"ti", j.TI, &m.TI, 0, 99, true},
		{"krn", j.KRN, &m.KRN, 1, 9, true},
		{"kt", j.KT, &m.KT, 0, 3, true},
		{"ken", j.KEN, &m.KEN, 0, 255, false},
	} {
		if f.v == nil {
			if f.required {
				return m, fieldErr(f.name, "required")
			}
			continue
		}
		if *f.v < f.lo || *f.v > f.hi {
			return m, fieldErr(f.name, "%d: want %d to %d", *f.v, f.lo, f.hi)
		}
		*f.dst = uint8(*f.v)
	}
	if j.BaseDate != nil {
		b, err := sts.ParseBaseDate(strconv.Itoa(*j.BaseDate))
		if err != nil {
			return m, &FieldError{Field: "base_date", Err: err}
		}
		m.BaseDate = b
	}
	if m.EA, err = sts.ParseEA(j.EA); err != nil {
		return m, &FieldError{Field: "ea", Err: err}
	}
	if m.DKGA, err = sts.ParseDKGA(j.DKGA); err != nil {
		return m, &FieldError{Field: "dkga", Err: err}
	}
	return m, m.Validate()
}

// Validate checks the meter's fields and their combination; errors are
// [*FieldError] values.
func (m *Meter) Validate() error {
	if err := sts.ValidateDRN(m.DRN); err != nil {
		return &FieldError{Field: "drn", Err: err}
	}
	if mfr, _ := sts.MfrCodeOfDRN(m.DRN); mfr != m.MfrCode {
		return fieldErr("mfr_code", "%d, but DRN %s starts with %d", m.MfrCode, m.DRN, mfr)
	}
	if !m.Utility.Valid() {
		return fieldErr("utility", "%q: want electricity, water or gas", m.Utility)
	}
	if len(m.SGC) != 6 {
		return fieldErr("sgc", "%q: want 6 digits", m.SGC)
	}
	for i := 0; i < len(m.SGC); i++ {
		if m.SGC[i] < '0' || m.SGC[i] > '9' {
			return fieldErr("sgc", "%q: want 6 digits", m.SGC)
		}
	}
	switch {
	case m.TI > 99:
		return fieldErr("ti", "%d: want 0 to 99", m.TI)
	case m.KRN < 1 || m.KRN > 9:
		return fieldErr("krn", "%d: want 1 to 9", m.KRN)
	case m.KT > 3:
		return fieldErr("kt", "%d: want 0 to 3", m.KT)
	case !m.BaseDate.Valid():
		return fieldErr("base_date", "want 1993, 2014 or 2035")
	case m.EA != sts.EA07 && m.EA != sts.EA11:
		return fieldErr("ea", "want 07 or 11")
	case m.DKGA != sts.DKGA02 && m.DKGA != sts.DKGA04:
		return fieldErr("dkga", "want 02 or 04")
	case m.DKGA == sts.DKGA02 && m.EA != sts.EA07:
		return fieldErr("ea", "DKGA02 derives 64-bit keys for EA07 only, not EA%s", m.EA)
	case m.Tariff == "":
		return fieldErr("tariff", "required")
	}
	return nil
}

// KeyParams returns the decoder key generation inputs of the meter's
// current key.
func (m *Meter) KeyParams() sts.KeyParams {
	return sts.KeyParams{DKGA: m.DKGA, EA: m.EA, BaseDate: m.BaseDate, KeyType: m.KT,
		SGC: m.SGC, TariffIndex: m.TI, KRN: m.KRN, DRN: m.DRN}
}

// Definition is a fleet definition: the tariffs and the meters, without
// any key. It is what `vendor fleet init` writes, what `vendor serve
// --fleet` reads and what POST /v1/fleet registers.
type Definition struct {
	// Version is [DefinitionVersion].
	Version int `json:"version"`
	// Tariffs are the tariffs the meters refer to by name.
	Tariffs []Tariff `json:"tariffs"`
	// Meters are the meters, in a stable order.
	Meters []Meter `json:"meters"`
}

// definitionJSON defers the meters so that their errors carry an index.
type definitionJSON struct {
	Version int               `json:"version"`
	Tariffs []json.RawMessage `json:"tariffs"`
	Meters  []json.RawMessage `json:"meters"`
}

// ParseDefinition reads and validates a fleet definition. Errors are
// [*FieldError] values naming the field, such as "meters[3].sgc".
func ParseDefinition(data []byte) (*Definition, error) {
	var j definitionJSON
	if err := decodeStrict(data, &j); err != nil {
		return nil, err
	}
	if j.Version != DefinitionVersion {
		return nil, fieldErr("version", "%d: want %d", j.Version, DefinitionVersion)
	}
	d := &Definition{Version: j.Version, Tariffs: make([]Tariff, len(j.Tariffs)),
		Meters: make([]Meter, len(j.Meters))}
	for i, raw := range j.Tariffs {
		if err := d.Tariffs[i].UnmarshalJSON(raw); err != nil {
			return nil, inField(fmt.Sprintf("tariffs[%d]", i), err)
		}
	}
	for i, raw := range j.Meters {
		if err := d.Meters[i].UnmarshalJSON(raw); err != nil {
			return nil, inField(fmt.Sprintf("meters[%d]", i), err)
		}
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// LoadDefinition reads a fleet definition file.
func LoadDefinition(path string) (*Definition, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load fleet definition: %w", err)
	}
	d, err := ParseDefinition(data)
	if err != nil {
		return nil, fmt.Errorf("load fleet definition %s: %w", path, err)
	}
	return d, nil
}

// Validate checks every meter and tariff, that DRNs and tariff names are
// unique, and that each meter's tariff exists and is for its utility.
func (d *Definition) Validate() error {
	tariffs := make(map[string]*Tariff, len(d.Tariffs))
	for i := range d.Tariffs {
		t := &d.Tariffs[i]
		field := fmt.Sprintf("tariffs[%d]", i)
		if err := t.Validate(); err != nil {
			return inField(field, err)
		}
		if tariffs[t.Name] != nil {
			return fieldErr(field+".name", "%q appears twice", t.Name)
		}
		tariffs[t.Name] = t
	}
	seen := make(map[string]bool, len(d.Meters))
	for i := range d.Meters {
		m := &d.Meters[i]
		field := fmt.Sprintf("meters[%d]", i)
		if err := m.Validate(); err != nil {
			return inField(field, err)
		}
		if seen[m.DRN] {
			return fieldErr(field+".drn", "%s appears twice", m.DRN)
		}
		seen[m.DRN] = true
		t := tariffs[m.Tariff]
		if t == nil {
			return fieldErr(field+".tariff", "%q is not among the tariffs", m.Tariff)
		}
		if t.Utility != m.Utility {
			return fieldErr(field+".tariff", "%q prices %s, the meter supplies %s",
				m.Tariff, t.Utility, m.Utility)
		}
	}
	return nil
}

// Marshal returns the definition as indented JSON.
func (d *Definition) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal fleet definition: %w", err)
	}
	return append(b, '\n'), nil
}

// Write writes the definition to path atomically, mode 0644: it holds no
// secret.
func (d *Definition) Write(path string) error {
	b, err := d.Marshal()
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b, 0o644)
}

// decodeStrict unmarshals one JSON value, refusing duplicate keys (at any
// depth: encoding/json would keep the last silently), unknown fields and
// trailing data, and turns decoding errors into [*FieldError] values where
// the field is known.
func decodeStrict(data []byte, v any) error {
	if err := checkDuplicateKeys(data); err != nil {
		return err
	}
	return decodeChecked(data, v)
}

// decodeChecked is [decodeStrict] without the duplicate key scan, for a
// part of a value that decodeStrict has scanned already.
func decodeChecked(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// jsonError names the field of a decoding error when encoding/json says
// which it is.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		if te.Type == reflect.TypeFor[Decimal]() {
			return fieldErr(te.Field, "want a decimal such as \"100.00\"")
		}
		return fieldErr(te.Field, "want a JSON %s", jsonKind(te.Type.Kind().String()))
	}
	if te != nil {
		// The whole value has the wrong type: say so in JSON's
		// words, not Go's.
		return fmt.Errorf("want a JSON %s, not %s", jsonKind(te.Type.Kind().String()), te.Value)
	}
	msg := err.Error()
	const unknown = "json: unknown field "
	if len(msg) > len(unknown) && msg[:len(unknown)] == unknown {
		name, uerr := strconv.Unquote(msg[len(unknown):])
		if uerr == nil {
			if name == "" {
				name = `""`
			}
			return fieldErr(name, "unknown field")
		}
	}
	if errors.Is(err, io.EOF) {
		return errors.New("empty body: want a JSON object")
	}
	return fmt.Errorf("malformed JSON: %w", err)
}

func jsonKind(k string) string {
	switch k {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32",
		"uint64":
		return "integer"
	case "float32", "float64":
		return "number"
	case "slice":
		return "array"
	case "struct", "map", "ptr":
		return "object"
	}
	return k
}
