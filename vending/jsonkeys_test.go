package vending

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

func TestCheckDuplicateKeys(t *testing.T) {
	many := func(extra string) string {
		var b strings.Builder
		b.WriteString(`{`)
		for i := range 20 {
			fmt.Fprintf(&b, `"k%d":%d,`, i, i)
		}
		return b.String() + extra + `}`
	}
	tests := []struct {
		name, body string
		// field is the key the error names; "" wants no error.
		field string
	}{
		{"none", `{"meter":"A","amount":"1"}`, ""},
		{"top level", `{"meter":"A","meter":"B","amount":"1"}`, "meter"},
		{"spaced", "{ \"meter\" : \"A\" ,\n\t\"meter\" : \"B\" }", "meter"},
		{"other case", `{"meter":"A","Meter":"B"}`, "Meter"},
		{"kelvin sign folds to k", `{"key":1,"\u212aey":2}`, "\u212aey"},
		{"escaped", `{"meter":"A","met\u0065r":"B"}`, "meter"},
		{"escaped quote in key", `{"a\"b":1,"a\"b":2}`, `a"b`},
		{"empty key", `{"":1,"":2}`, `""`},
		{"same key in sibling objects", `{"a":{"x":1},"b":{"x":2}}`, ""},
		{"same key at two depths", `{"x":{"x":1}}`, ""},
		{"nested object", `{"a":{"b":{"c":1,"c":2}}}`, "a.b.c"},
		{"in an array", `{"vends":[{"meter":"A"},{"meter":"A","meter":"B"}]}`,
			"vends[1].meter"},
		{"array of arrays", `[[1],[{"a":1,"a":2}]]`, "[1][0].a"},
		{"after an array", `{"a":[1,2,{"b":[]}],"a":3}`, "a"},
		{"strings hold braces and quotes", `{"a":"{\"a\":1,\"a\":2}","b":"\\"}`, ""},
		{"many keys", many(`"k3":0`), "k3"},
		{"many keys other case", many(`"K19":0`), "K19"},
		{"many keys, none twice", many(`"k20":0`), ""},
		{"scalar", `"meter"`, ""},
		{"empty", ``, ""},
		// Malformed input is the decoder's to report.
		{"malformed after a duplicate", `{"a":1,"a":2,`, "a"},
		{"malformed before a duplicate", `{"a":1 "a":2}`, ""},
		{"unterminated string", `{"a":"x`, ""},
		{"too deep", strings.Repeat("[", maxKeyDepth+1) + `{"a":1,"a":2}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkDuplicateKeys([]byte(tt.body))
			if tt.field == "" {
				if err != nil {
					t.Errorf("got %v, want no error", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, errDuplicateKey) ||
				fe.Field != tt.field {
				t.Errorf("got %v, want %s: duplicate key", err, tt.field)
			}
		})
	}
}

// TestDecodersRefuseDuplicateKeys checks every strict decoder of a request
// body or a file.
func TestDecodersRefuseDuplicateKeys(t *testing.T) {
	f, err := NewFleet(FleetConfig{Meters: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	def, err := f.Definition.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := f.Keys.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		decode func([]byte) error
		body   string
		field  string
	}{
		{"vend", func(b []byte) error { _, err := DecodeVendRequest(b); return err },
			`{"meter":"47000000019","meter":"47000000027","amount":"1"}`, "meter"},
		{"batch", func(b []byte) error { _, err := DecodeBatchRequest(b); return err },
			`{"vends":[{"meter":"47000000019","amount":"1","amount":"2"}]}`,
			"vends[0].amount"},
		{"batch twice", func(b []byte) error { _, err := DecodeBatchRequest(b); return err },
			`{"vends":[{"meter":"47000000019","amount":"1"}],"vends":[]}`, "vends"},
		{"management", func(b []byte) error { _, err := DecodeManagementRequest(b); return err },
			`{"function":"clear_credit","function":"clear_tamper"}`, "function"},
		{"key change", func(b []byte) error { _, err := DecodeKeyChangeRequest(b); return err },
			`{"krn":2,"krn":3}`, "krn"},
		{"definition", func(b []byte) error { _, err := ParseDefinition(b); return err },
			strings.Replace(string(def), `"sgc": `, `"sgc": "123456", "sgc": `, 1),
			"meters[0].sgc"},
		{"key store", func(b []byte) error { _, err := ParseKeyStore(b); return err },
			strings.Replace(string(keys), `"version": `, `"version": 1, "version": `, 1),
			"version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.decode([]byte(tt.body))
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, errDuplicateKey) {
				t.Errorf("got %v, want %s: duplicate key", err, tt.field)
			}
		})
	}
}

// FuzzCheckDuplicateKeys compares the scanner with a plain walk of
// json.Decoder tokens: on valid JSON both find the same first duplicate.
func FuzzCheckDuplicateKeys(f *testing.F) {
	for _, s := range []string{
		`{"meter":"A","meter":"B"}`, `{"vends":[{"meter":"A","Meter":"B"}]}`,
		`{"a":{"b":[1,{"c":1,"c":2}]}}`, `{"a\u0062":1,"ab":2}`, `{"":1,"":2}`,
		`[{"x":1},{"x":1}]`, `{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"K0":8}`,
		`{"s":"\"}","s2":"\\"}`, `{"a":1,`, `"x"`, `12`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := checkDuplicateKeys(data)
		if !json.Valid(data) {
			return
		}
		want, err := firstDuplicate(data)
		if err != nil {
			t.Fatalf("token walk of valid JSON: %v", err)
		}
		var fe *FieldError
		switch {
		case want == "" && got != nil:
			t.Errorf("%q: got %v, want no duplicate", data, got)
		case want != "" && (!errors.As(got, &fe) || fe.Field != want):
			t.Errorf("%q: got %v, want %s: duplicate key", data, got, want)
		}
	})
}

// firstDuplicate returns the path of the first duplicate key of the JSON
// value data, "" for none, found by walking its tokens.
func firstDuplicate(data []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	// Numbers are skipped whatever their size.
	dec.UseNumber()
	return tokenDuplicate(dec)
}

// tokenDuplicate walks one value of dec and returns the path of its first
// duplicate key, "" for none.
func tokenDuplicate(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	switch tok {
	case json.Delim('{'):
		var seen []string
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return "", err
			}
			key := kt.(string)
			name := key
			if name == "" {
				name = `""`
			}
			for _, k := range seen {
				if strings.EqualFold(k, key) {
					return name, nil
				}
			}
			seen = append(seen, key)
			if path, err := tokenDuplicate(dec); err != nil || path != "" {
				return joinPath(name, path), err
			}
		}
		_, err = dec.Token()
		return "", err
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if path, err := tokenDuplicate(dec); err != nil || path != "" {
				return joinPath("["+strconv.Itoa(i)+"]", path), err
			}
		}
		_, err = dec.Token()
		return "", err
	}
	return "", nil
}

func joinPath(parent, path string) string {
	switch {
	case path == "":
		return ""
	case path[0] == '[':
		return parent + path
	}
	return parent + "." + path
}
