package receipts

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Default bounds of a [Splitter].
const (
	// DefaultMaxLineBytes is the longest line kept, in bytes.
	DefaultMaxLineBytes = 64 << 10
	// DefaultMaxMessageBytes is the longest message kept, in bytes of
	// normalised text.
	DefaultMaxMessageBytes = 64 << 10
	// sniffBytes is how much of the input is checked for binary content.
	sniffBytes = 8 << 10
)

// ErrBinary reports input that is not UTF-8 text: it holds NUL bytes near
// the start (a binary file, or UTF-16 text).
var ErrBinary = errors.New("input is not UTF-8 text")

// SplitConfig bounds the memory a [Splitter] may use. Zero fields take the
// defaults.
type SplitConfig struct {
	// MaxLineBytes is the longest line, in bytes, that is kept; a longer
	// line becomes a message of its own with a [CodeTooLong] problem.
	// 0 means [DefaultMaxLineBytes].
	MaxLineBytes int
	// MaxMessageBytes bounds the normalised text of one message, in bytes;
	// lines past it are dropped and the message carries a [CodeTooLong]
	// problem. 0 means [DefaultMaxMessageBytes].
	MaxMessageBytes int
}

func (c SplitConfig) withDefaults() SplitConfig {
	if c.MaxLineBytes <= 0 {
		c.MaxLineBytes = DefaultMaxLineBytes
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	return c
}

// Layout records byte-level oddities of a message's raw lines, flattened by
// the splitter but worth a warning.
type Layout uint8

// Layout flags.
const (
	// LayoutTab: a tab between fields.
	LayoutTab Layout = 1 << iota
	// LayoutNoBreakSpace: U+00A0 or U+202F between fields.
	LayoutNoBreakSpace
	// LayoutDoubleSpace: two or more spaces in a row.
	LayoutDoubleSpace
	// LayoutTrailingSpace: spaces at the end of a line.
	LayoutTrailingSpace
	// LayoutCRLF: a line ended in CR LF.
	LayoutCRLF
	// LayoutCR: a line ended in a lone CR.
	LayoutCR
)

// Message is one message part cut from an export, with its lines
// normalised: no-break spaces and tabs turned into spaces, runs of spaces
// collapsed, ends trimmed.
type Message struct {
	// Line is the 1-based line where the message starts.
	Line int
	// Part is "" for a message alone on its lines, or "a", "b", ... for
	// messages glued together on one line.
	Part string
	// Parts is how many parts the record was cut into (1 if not glued).
	Parts int
	// Lines holds the normalised lines; a glued part has one line.
	Lines []string
	// Header is the phone's received header above the message, or nil.
	Header *Header
	// AfterMessage reports a message that directly follows another one,
	// with no header or blank line between.
	AfterMessage bool
	// Layout records oddities of the raw lines.
	Layout Layout
	// Problem is set when the raw lines were unusable: too long, not
	// UTF-8, or holding control characters.
	Problem *Problem
}

// Text returns the message as one line.
func (m Message) Text() string { return strings.Join(m.Lines, " ") }

// Splitter cuts an export into messages following FORMATS.md §5.1. It reads
// its input as a stream, holding at most one line and one message, so its
// memory does not grow with the input. A Splitter is not safe for
// concurrent use.
type Splitter struct {
	cfg     SplitConfig
	br      *bufio.Reader
	sc      *bufio.Scanner
	ls      lineSplit
	started bool
	done    bool
	err     error
	lineNo  int
	// hint is the header waiting for the next message.
	hint  *Header
	cur   *messageBuilder
	queue []Message
}

// NewSplitter returns a Splitter reading r.
func NewSplitter(r io.Reader, cfg SplitConfig) *Splitter {
	cfg = cfg.withDefaults()
	s := &Splitter{cfg: cfg, br: bufio.NewReaderSize(r, 64<<10)}
	s.ls.max = cfg.MaxLineBytes
	s.sc = bufio.NewScanner(s.br)
	s.sc.Buffer(make([]byte, 0, min(4096, cfg.MaxLineBytes+1)), cfg.MaxLineBytes+1)
	s.sc.Split(s.ls.split)
	return s
}

// Lines returns the number of lines read so far.
func (s *Splitter) Lines() int { return s.lineNo }

// Next returns the next message. It returns io.EOF after the last one, an
// error wrapping [ErrBinary] if the input is not text, or the reader's
// error.
func (s *Splitter) Next() (Message, error) {
	if !s.started {
		s.started = true
		if err := s.sniff(); err != nil {
			s.err = err
		}
	}
	for len(s.queue) == 0 {
		if s.err != nil {
			return Message{}, s.err
		}
		if s.done {
			return Message{}, io.EOF
		}
		s.step()
	}
	m := s.queue[0]
	s.queue = s.queue[1:]
	if len(s.queue) == 0 {
		s.queue = s.queue[:0:0]
	}
	return m, nil
}

// sniff rejects binary input and drops a UTF-8 byte order mark.
func (s *Splitter) sniff() error {
	head, err := s.br.Peek(sniffBytes)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return fmt.Errorf("split receipts: read: %w", err)
	}
	if bytes.HasPrefix(head, []byte{0xff, 0xfe}) || bytes.HasPrefix(head, []byte{0xfe, 0xff}) {
		return fmt.Errorf("split receipts: %w: UTF-16 byte order mark (export as UTF-8)",
			ErrBinary)
	}
	if i := bytes.IndexByte(head, 0); i >= 0 {
		return fmt.Errorf("split receipts: %w: NUL byte at offset %d (binary file?)",
			ErrBinary, i)
	}
	if bytes.HasPrefix(head, []byte("\ufeff")) {
		_, _ = s.br.Discard(3)
	}
	return nil
}

// step consumes one line.
func (s *Splitter) step() {
	if !s.sc.Scan() {
		if err := s.sc.Err(); err != nil {
			s.err = fmt.Errorf("split receipts: read line %d: %w", s.lineNo+1, err)
			return
		}
		s.flush()
		s.done = true
		return
	}
	s.lineNo++
	if s.ls.tooLong {
		s.addTooLong()
		return
	}
	line, layout, prob := normaliseLine(s.sc.Bytes(), s.lineNo)
	switch s.ls.ending {
	case endCRLF:
		layout |= LayoutCRLF
	case endCR:
		layout |= LayoutCR
	}
	switch {
	case line == "":
		s.flush()
	case strings.Contains(line, "\u00b7") && s.takeHeader(line):
	case startsMessage(line) || s.cur == nil:
		after := s.cur != nil
		s.flush()
		s.open(after)
		s.cur.add(line, layout, prob, s.cfg.MaxMessageBytes)
	default:
		s.cur.add(line, layout, prob, s.cfg.MaxMessageBytes)
	}
}

// takeHeader ends the open message and keeps the header as the hint for
// the next one; two headers in a row simply replace the hint.
func (s *Splitter) takeHeader(line string) bool {
	h, ok := ParseHeader(line)
	if !ok {
		return false
	}
	s.flush()
	s.hint = &h
	return true
}

func (s *Splitter) open(after bool) {
	s.cur = &messageBuilder{line: s.lineNo, header: s.hint, afterMessage: after}
	s.hint = nil
}

// addTooLong turns an over-long line into a message of its own.
func (s *Splitter) addTooLong() {
	s.flush()
	s.open(false)
	s.cur.problem = &Problem{Code: CodeTooLong,
		Text: fmt.Sprintf("line %d is longer than %d bytes", s.lineNo, s.cfg.MaxLineBytes)}
	s.flush()
}

// flush queues the open message, cut into parts if messages are glued.
func (s *Splitter) flush() {
	b := s.cur
	if b == nil {
		return
	}
	s.cur = nil
	m := Message{Line: b.line, Parts: 1, Lines: b.lines, Header: b.header,
		AfterMessage: b.afterMessage, Layout: b.layout, Problem: b.problem}
	parts := gluedParts(m.Text())
	if len(parts) < 2 {
		s.queue = append(s.queue, m)
		return
	}
	for i, p := range parts {
		pm := m
		pm.Part = partName(i)
		pm.Parts = len(parts)
		pm.Lines = []string{p}
		s.queue = append(s.queue, pm)
	}
}

// messageBuilder gathers the lines of the open message.
type messageBuilder struct {
	line         int
	lines        []string
	size         int
	header       *Header
	afterMessage bool
	layout       Layout
	problem      *Problem
}

func (b *messageBuilder) add(line string, layout Layout, prob *Problem, maxBytes int) {
	if b.problem == nil {
		b.problem = prob
	}
	b.layout |= layout
	if b.size+len(line) > maxBytes {
		if b.problem == nil || b.problem.Code != CodeTooLong {
			b.problem = &Problem{Code: CodeTooLong, Text: fmt.Sprintf(
				"message at line %d is longer than %d bytes", b.line, maxBytes)}
		}
		return
	}
	b.size += len(line) + 1
	b.lines = append(b.lines, line)
}

// startsMessage reports a line that always opens a message (§5.1 rule 5).
func startsMessage(line string) bool {
	return strings.HasPrefix(line, "Mtr:") || hasPrefixFold(line, "Update Token Meter Yako")
}

// gluedParts cuts text before every "Mtr:" that starts a word when there
// are two or more of them (§5.1 rule 7); otherwise it returns nil.
func gluedParts(text string) []string {
	var cuts []int
	for i := 0; ; {
		j := strings.Index(text[i:], "Mtr:")
		if j < 0 {
			break
		}
		at := i + j
		if at == 0 || !isAlnum(text[at-1]) {
			cuts = append(cuts, at)
		}
		i = at + len("Mtr:")
	}
	if len(cuts) < 2 {
		return nil
	}
	if cuts[0] != 0 {
		cuts = append([]int{0}, cuts...)
	}
	parts := make([]string, 0, len(cuts))
	for i, c := range cuts {
		end := len(text)
		if i+1 < len(cuts) {
			end = cuts[i+1]
		}
		if p := strings.TrimSpace(text[c:end]); p != "" {
			parts = append(parts, p)
		}
	}
	return parts
}

// partName returns "a" for 0, "b" for 1, ... "z", "aa", "ab", ...
func partName(i int) string {
	name := ""
	for i++; i > 0; i = (i - 1) / 26 {
		name = string(rune('a'+(i-1)%26)) + name
	}
	return name
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// normaliseLine turns a raw line into text with single spaces (§5.1 rule 2)
// and reports what it had to change.
func normaliseLine(raw []byte, lineNo int) (string, Layout, *Problem) {
	if plainASCII(raw) {
		return string(raw), 0, nil
	}
	var layout Layout
	var prob *Problem
	s := string(raw)
	if !utf8.ValidString(s) {
		prob = &Problem{Code: CodeEncoding, Text: fmt.Sprintf("line %d is not valid UTF-8", lineNo)}
		s = strings.ToValidUTF8(s, "\ufffd")
	}
	if bytes.Contains(raw, []byte("  ")) {
		layout |= LayoutDoubleSpace
	}
	if n := len(raw); n > 0 && (raw[n-1] == ' ' || raw[n-1] == '\t') {
		layout |= LayoutTrailingSpace
	}
	var b strings.Builder
	b.Grow(len(s))
	space := true // drops leading spaces
	for _, r := range s {
		switch {
		case r == '\t':
			layout |= LayoutTab
			r = ' '
		case r == '\u00a0' || r == '\u202f':
			layout |= LayoutNoBreakSpace
			r = ' '
		case unicode.IsSpace(r):
			r = ' '
		case unicode.IsControl(r):
			if prob == nil {
				prob = &Problem{Code: CodeEncoding, Text: fmt.Sprintf(
					"line %d holds control characters (binary data?)", lineNo)}
			}
			r = ' '
		}
		if r == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteRune(r)
	}
	return strings.TrimRight(b.String(), " "), layout, prob
}

// plainASCII reports printable ASCII with single inner spaces and no
// leading or trailing space: the common case, which needs no rewriting.
func plainASCII(raw []byte) bool {
	if len(raw) == 0 {
		return true
	}
	if raw[0] == ' ' || raw[len(raw)-1] == ' ' {
		return false
	}
	prev := byte(0)
	for _, c := range raw {
		if c < 0x20 || c > 0x7e || c == ' ' && prev == ' ' {
			return false
		}
		prev = c
	}
	return true
}

type lineEnding uint8

const (
	endNone lineEnding = iota
	endLF
	endCRLF
	endCR
)

// lineSplit is a [bufio.SplitFunc] that ends lines at LF, CR LF or a lone
// CR, and cuts lines longer than max: it returns the first max bytes once,
// flagged tooLong, and discards the rest up to the line end.
type lineSplit struct {
	max        int
	discarding bool
	tooLong    bool
	ending     lineEnding
}

func (ls *lineSplit) split(data []byte, atEOF bool) (int, []byte, error) {
	end, adv, ending := ls.findEnd(data, atEOF)
	if end == -2 {
		return 0, nil, nil
	}
	if end < 0 && atEOF && len(data) > 0 {
		end, adv, ending = len(data), len(data), endNone
	}
	if end >= 0 {
		if ls.discarding {
			ls.discarding = false
			return adv, nil, nil
		}
		ls.tooLong, ls.ending = false, ending
		return adv, data[:end], nil
	}
	if len(data) < ls.max {
		return 0, nil, nil
	}
	if ls.discarding {
		return len(data), nil, nil
	}
	ls.discarding, ls.tooLong = true, true
	return len(data), data[:ls.max], nil
}

// findEnd locates the first line end. It returns end -1 if there is none
// and -2 if a final CR needs the next byte to tell CR from CR LF.
func (ls *lineSplit) findEnd(data []byte, atEOF bool) (end, adv int, ending lineEnding) {
	lf := bytes.IndexByte(data, '\n')
	seg := data
	if lf >= 0 {
		seg = data[:lf]
	}
	cr := bytes.IndexByte(seg, '\r')
	switch {
	case cr >= 0 && cr+1 < len(data):
		if data[cr+1] == '\n' {
			return cr, cr + 2, endCRLF
		}
		return cr, cr + 1, endCR
	case cr >= 0 && (atEOF || len(data) >= ls.max):
		return cr, cr + 1, endCR
	case cr >= 0:
		return -2, 0, endNone
	case lf >= 0:
		return lf, lf + 1, endLF
	}
	return -1, 0, endNone
}
