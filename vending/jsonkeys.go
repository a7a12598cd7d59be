package vending

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// errDuplicateKey is the cause of a [*FieldError] for a key that appears
// twice in one JSON object.
var errDuplicateKey = errors.New("duplicate key")

// errStopScan ends a duplicate key scan at input the scanner does not
// follow (malformed, or nested too deep): the decoder says what is wrong.
var errStopScan = errors.New("stop scan")

// maxKeyDepth is encoding/json's nesting limit: deeper input is refused by
// the decoder, so the scanner stops there rather than recurse further.
const maxKeyDepth = 10000

// smallObject is the number of keys an object may have before its keys are
// checked through a map rather than against each other.
const smallObject = 8

// checkDuplicateKeys scans one JSON value in a single pass and returns a
// [*FieldError] naming the first key that appears twice in one object,
// at any depth, as "vends[0].meter". Keys are the same when encoding/json
// would decode them into the same field: equal once unescaped, ignoring
// case. Otherwise malformed input is left to the decoder: the scan stops
// there and returns nil. It allocates only for a key with escapes and for
// objects of more than smallObject keys.
func checkDuplicateKeys(data []byte) error {
	s := keyScanner{data: data}
	if err := s.value(); err != nil && err != errStopScan {
		return err
	}
	return nil
}

// keyScanner walks a JSON value for [checkDuplicateKeys].
type keyScanner struct {
	data  []byte
	pos   int
	depth int
}

func (s *keyScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *keyScanner) value() error {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return errStopScan
	}
	switch s.data[s.pos] {
	case '{':
		return s.object()
	case '[':
		return s.array()
	case '"':
		_, err := s.str()
		return err
	}
	// A number or a literal: up to the next delimiter.
	start := s.pos
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			if s.pos == start {
				return errStopScan
			}
			return nil
		}
		s.pos++
	}
	return nil
}

// str reads a string from its opening quote and returns its raw content,
// escapes still in.
func (s *keyScanner) str() ([]byte, error) {
	start := s.pos + 1
	for i := start; ; {
		n := bytes.IndexByte(s.data[i:], '"')
		if n < 0 {
			return nil, errStopScan
		}
		i += n
		// The quote is escaped when an odd number of backslashes
		// precedes it.
		bs := 0
		for j := i - 1; j >= start && s.data[j] == '\\'; j-- {
			bs++
		}
		if bs%2 == 0 {
			s.pos = i + 1
			return s.data[start:i], nil
		}
		i++
	}
}

func (s *keyScanner) enter() error {
	if s.depth++; s.depth > maxKeyDepth {
		return errStopScan
	}
	s.pos++
	return nil
}

func (s *keyScanner) array() error {
	if err := s.enter(); err != nil {
		return err
	}
	defer func() { s.depth-- }()
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return nil
	}
	for i := 0; ; i++ {
		if err := s.value(); err != nil {
			return inKeyPath("["+strconv.Itoa(i)+"]", err)
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return errStopScan
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return errStopScan
		}
	}
}

func (s *keyScanner) object() error {
	if err := s.enter(); err != nil {
		return err
	}
	defer func() { s.depth-- }()
	var keys keySet
	for {
		s.skipSpace()
		if s.pos >= len(s.data) {
			return errStopScan
		}
		if s.data[s.pos] == '}' {
			s.pos++
			return nil
		}
		if s.data[s.pos] != '"' {
			return errStopScan
		}
		raw, err := s.str()
		if err != nil {
			return err
		}
		key := unescapeKey(raw)
		if !keys.add(key) {
			return &FieldError{Field: keyName(key), Err: errDuplicateKey}
		}
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return errStopScan
		}
		s.pos++
		if err := s.value(); err != nil {
			return inKeyPath(keyName(key), err)
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return errStopScan
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return errStopScan
		}
	}
}

// inKeyPath puts the path of a member or element before the field of a
// duplicate key found inside it: "vends" and "[0]" and "meter" make
// "vends[0].meter".
func inKeyPath(parent string, err error) error {
	var fe *FieldError
	if !errors.As(err, &fe) {
		return err
	}
	if fe.Field[0] == '[' {
		fe.Field = parent + fe.Field
	} else {
		fe.Field = parent + "." + fe.Field
	}
	return fe
}

// keyName is a key as an error names it; the empty key is written "".
func keyName(key []byte) string {
	if len(key) == 0 {
		return `""`
	}
	return string(key)
}

// unescapeKey returns the key as encoding/json decodes it, escapes
// resolved and invalid UTF-8 replaced. Raw keys of valid UTF-8 without a
// backslash, nearly all of them, are returned as they are.
func unescapeKey(raw []byte) []byte {
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return raw
	}
	quoted := make([]byte, 0, len(raw)+2)
	quoted = append(append(append(quoted, '"'), raw...), '"')
	var key string
	if err := json.Unmarshal(quoted, &key); err != nil {
		// A bad escape: the decoder refuses the body anyway.
		return raw
	}
	return []byte(key)
}

// keySet holds the keys of one object: compared with each other while
// few, through a map of their folded forms beyond smallObject.
type keySet struct {
	small [smallObject][]byte
	n     int
	big   map[string]struct{}
}

// add adds key and reports whether it is new.
func (ks *keySet) add(key []byte) bool {
	if ks.big != nil {
		f := string(foldKey(key))
		if _, ok := ks.big[f]; ok {
			return false
		}
		ks.big[f] = struct{}{}
		return true
	}
	for _, k := range ks.small[:ks.n] {
		if bytes.EqualFold(k, key) {
			return false
		}
	}
	if ks.n < smallObject {
		ks.small[ks.n] = key
		ks.n++
		return true
	}
	ks.big = make(map[string]struct{}, 2*smallObject)
	for _, k := range ks.small {
		ks.big[string(foldKey(k))] = struct{}{}
	}
	ks.big[string(foldKey(key))] = struct{}{}
	return true
}

// foldKey maps key to a form equal for exactly the keys bytes.EqualFold
// calls equal: ASCII upper case, and every other rune the smallest of its
// fold orbit.
func foldKey(key []byte) []byte {
	out := make([]byte, 0, len(key))
	for i := 0; i < len(key); {
		if c := key[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(key[i:])
		out = utf8.AppendRune(out, foldRune(r))
		i += n
	}
	return out
}

// foldRune returns the smallest rune of r's fold orbit.
func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}
