package receipts

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// splitAll returns every message of input, or the first error.
func splitAll(t *testing.T, input string, cfg SplitConfig) ([]Message, error) {
	t.Helper()
	sp := NewSplitter(strings.NewReader(input), cfg)
	var out []Message
	for {
		m, err := sp.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
}

// brief is what the table tests compare of a message.
type brief struct {
	Line  int
	Part  string
	Lines []string
	// Header is "" or the header's hour:minute.
	Header string
	After  bool
}

func briefs(ms []Message) []brief {
	if len(ms) == 0 {
		return nil
	}
	out := make([]brief, len(ms))
	for i, m := range ms {
		out[i] = brief{Line: m.Line, Part: m.Part, Lines: m.Lines, After: m.AfterMessage}
		if m.Header != nil {
			out[i].Header = itoa2(m.Header.Hour) + ":" + itoa2(m.Header.Minute)
		}
	}
	return out
}

func itoa2(n int) string { return string([]byte{byte('0' + n/10), byte('0' + n%10)}) }

const hdr = "Saturday, May 13, 2023 \u00b7 9:14\u202fPM "

func TestSplitter(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []brief
	}{
		{"empty input", "", nil},
		{"only blank lines", "\n\n \n\t\n", nil},
		{"header then message", hdr + "\nMtr:1 Token:2\n",
			[]brief{{Line: 2, Lines: []string{"Mtr:1 Token:2"}, Header: "21:14"}}},
		{"no final newline", "Mtr:1 Token:2",
			[]brief{{Line: 1, Lines: []string{"Mtr:1 Token:2"}}}},
		{"CRLF line ends", "Mtr:1\r\nToken:2\r\n\r\nMtr:3\r\n",
			[]brief{{Line: 1, Lines: []string{"Mtr:1", "Token:2"}},
				{Line: 4, Lines: []string{"Mtr:3"}}}},
		{"lone CR line ends", "Mtr:1\rToken:2\r\rMtr:3",
			[]brief{{Line: 1, Lines: []string{"Mtr:1", "Token:2"}},
				{Line: 4, Lines: []string{"Mtr:3"}}}},
		{"mixed line ends", "a\nb\r\nc\rd",
			[]brief{{Line: 1, Lines: []string{"a", "b", "c", "d"}}}},
		{"spaces normalised", "Mtr:1  Token:2\u00a0 Date:3\tUnits:4   ",
			[]brief{{Line: 1, Lines: []string{"Mtr:1 Token:2 Date:3 Units:4"}}}},
		{"Mtr starts a message", "Mtr:1 a\nMtr:2 b\n",
			[]brief{{Line: 1, Lines: []string{"Mtr:1 a"}},
				{Line: 2, Lines: []string{"Mtr:2 b"}, After: true}}},
		{"key change starts a message", "Mtr:1\nUpdate Token Meter Yako: x\n",
			[]brief{{Line: 1, Lines: []string{"Mtr:1"}},
				{Line: 2, Lines: []string{"Update Token Meter Yako: x"}, After: true}}},
		{"other lines continue", "Mtr:1\nToken:2\nFor Details dial *977#\n",
			[]brief{{Line: 1, Lines: []string{"Mtr:1", "Token:2", "For Details dial *977#"}}}},
		{"header ends a message", "Mtr:1\n" + hdr + "\nToken:2\n",
			[]brief{{Line: 1, Lines: []string{"Mtr:1"}},
				{Line: 3, Lines: []string{"Token:2"}, Header: "21:14"}}},
		{"second header replaces the first",
			hdr + "\nSunday, August 4, 2024 \u00b7 11:50\u202fAM \nMtr:1\n",
			[]brief{{Line: 3, Lines: []string{"Mtr:1"}, Header: "11:50"}}},
		{"header hint is for the next message only", hdr + "\nMtr:1\nMtr:2\n",
			[]brief{{Line: 2, Lines: []string{"Mtr:1"}, Header: "21:14"},
				{Line: 3, Lines: []string{"Mtr:2"}, After: true}}},
		{"header shapes",
			"Wednesday, Jan 15 \u00b7 11:16\u202fAM \nx\nMonday \u00b7 12:50\u202fAM \ny\n",
			[]brief{{Line: 2, Lines: []string{"x"}, Header: "11:16"},
				{Line: 4, Lines: []string{"y"}, Header: "00:50"}}},
		{"middle dot that is no header", "Mtr:1 \u00b7 x\n",
			[]brief{{Line: 1, Lines: []string{"Mtr:1 \u00b7 x"}}}},
		{"glued messages", "Mtr:1 a #Mtr:2 b Mtr:3 c\n",
			[]brief{{Line: 1, Part: "a", Lines: []string{"Mtr:1 a #"}},
				{Line: 1, Part: "b", Lines: []string{"Mtr:2 b"}},
				{Line: 1, Part: "c", Lines: []string{"Mtr:3 c"}}}},
		{"Mtr inside a word is no cut", "Mtr:1 XMtr:2\n",
			[]brief{{Line: 1, Lines: []string{"Mtr:1 XMtr:2"}}}},
		{"byte order mark dropped", "\ufeffMtr:1\n",
			[]brief{{Line: 1, Lines: []string{"Mtr:1"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := splitAll(t, tt.input, SplitConfig{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, briefs(got)); diff != "" {
				t.Errorf("messages differ (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSplitterLayoutFlags(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  Layout
	}{
		{"plain", "Mtr:1 Token:2\n", 0},
		{"tab", "Mtr:1\tToken:2\n", LayoutTab},
		{"no-break space", "Mtr:1\u00a0Token:2\n", LayoutNoBreakSpace},
		{"double space", "Mtr:1  Token:2\n", LayoutDoubleSpace},
		{"trailing space", "Mtr:1 \n", LayoutTrailingSpace},
		{"CRLF", "Mtr:1\r\n", LayoutCRLF},
		{"CR", "Mtr:1\rx", LayoutCR},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := splitAll(t, tt.input, SplitConfig{})
			if err != nil || len(ms) != 1 {
				t.Fatalf("got %d messages, %v; want 1", len(ms), err)
			}
			if ms[0].Layout != tt.want {
				t.Errorf("layout %b, want %b", ms[0].Layout, tt.want)
			}
		})
	}
}

func TestSplitterProblems(t *testing.T) {
	long := "Mtr:" + strings.Repeat("9", 200)
	tests := []struct {
		name     string
		input    string
		cfg      SplitConfig
		wantCode ReasonCode
		// wantAfter is the text of the message after the bad one.
		wantAfter string
	}{
		{"invalid UTF-8", "Mtr:1 \xff\xfe Token:2\nMtr:3\n", SplitConfig{}, CodeEncoding, "Mtr:3"},
		{"control character", "Mtr:1 \x01 Token:2\nMtr:3\n", SplitConfig{}, CodeEncoding, "Mtr:3"},
		{"line too long", long + "\nMtr:3\n", SplitConfig{MaxLineBytes: 64}, CodeTooLong, "Mtr:3"},
		{"line too long with CRLF", long + "\r\nMtr:3\r\n", SplitConfig{MaxLineBytes: 64},
			CodeTooLong, "Mtr:3"},
		{"message too long", "Mtr:1\n" + strings.Repeat("x\n", 100) + "\nMtr:3\n",
			SplitConfig{MaxMessageBytes: 64}, CodeTooLong, "Mtr:3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := splitAll(t, tt.input, tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != 2 {
				t.Fatalf("got %d messages, want 2: %+v", len(ms), ms)
			}
			if ms[0].Problem == nil || ms[0].Problem.Code != tt.wantCode {
				t.Errorf("problem %+v, want code %s", ms[0].Problem, tt.wantCode)
			}
			if ms[1].Text() != tt.wantAfter || ms[1].Problem != nil {
				t.Errorf("next message %q (problem %v), want %q", ms[1].Text(), ms[1].Problem,
					tt.wantAfter)
			}
		})
	}
}

func TestSplitterLineNumbersAfterLongLine(t *testing.T) {
	input := "a\n" + strings.Repeat("z", 5000) + "\nb\nc\n\nMtr:1\n"
	ms, err := splitAll(t, input, SplitConfig{MaxLineBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, m := range ms {
		lines = append(lines, m.Line)
	}
	if diff := cmp.Diff([]int{1, 2, 3, 6}, lines); diff != "" {
		t.Errorf("start lines differ (-want +got):\n%s", diff)
	}
}

func TestSplitterBinary(t *testing.T) {
	tests := []struct {
		name  string
		input string
	}{
		{"NUL bytes", "Mtr:1\x00\x00\x00binary"},
		{"UTF-16 little endian", "\xff\xfeM\x00t\x00r\x00"},
		{"UTF-16 big endian", "\xfe\xff\x00M\x00t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := splitAll(t, tt.input, SplitConfig{})
			if !errors.Is(err, ErrBinary) {
				t.Errorf("got %v, want %v", err, ErrBinary)
			}
		})
	}
}

func TestSplitterReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader("Mtr:1\n"), iotest.ErrReader(boom))
	sp := NewSplitter(r, SplitConfig{})
	var err error
	for err == nil {
		_, err = sp.Next()
	}
	if !errors.Is(err, boom) {
		t.Errorf("got %v, want %v", err, boom)
	}
}

func TestSplitterOneByteReads(t *testing.T) {
	input := hdr + "\r\nMtr:1\r\nToken:2\rx\n\nMtr:3"
	want, err := splitAll(t, input, SplitConfig{})
	if err != nil {
		t.Fatal(err)
	}
	sp := NewSplitter(iotest.OneByteReader(strings.NewReader(input)), SplitConfig{})
	var got []Message
	for {
		m, err := sp.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	if diff := cmp.Diff(briefs(want), briefs(got)); diff != "" {
		t.Errorf("one-byte reads split differently (-whole +bytewise):\n%s", diff)
	}
}

func TestPartName(t *testing.T) {
	tests := []struct {
		i    int
		want string
	}{{0, "a"}, {1, "b"}, {25, "z"}, {26, "aa"}, {27, "ab"}, {701, "zz"}, {702, "aaa"}}
	for _, tt := range tests {
		if got := partName(tt.i); got != tt.want {
			t.Errorf("partName(%d) = %q, want %q", tt.i, got, tt.want)
		}
	}
}
