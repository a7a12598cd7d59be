package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// productionTables is the path of a production STA tables file given in
// the environment, if any. TestMain takes it out of the environment so that
// every other test runs under the sample tables.
var productionTables string

func TestMain(m *testing.M) {
	productionTables = os.Getenv(sts.TablesEnv)
	os.Unsetenv(sts.TablesEnv)
	os.Exit(m.Run())
}

// testNow is the fixed clock of the tests.
var testNow = time.Date(2026, 12, 3, 13, 55, 42, 0, time.UTC)

// testNibble is what the test random source returns for RND.
const testNibble = 9

// fixedReader yields one byte over and over, standing in for the key
// material source.
type fixedReader byte

func (r fixedReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

func testEnv() env {
	return env{
		now:    func() time.Time { return testNow },
		nibble: func() uint8 { return testNibble },
		random: fixedReader(0xA5),
	}
}

// outcome is what one command line printed and returned.
type outcome struct {
	stdout, stderr string
	code           int
}

// vendor runs the command tree in-process with args.
func vendor(t *testing.T, args ...string) outcome {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), newRoot(testEnv()), args, &out, &errOut)
	return outcome{stdout: out.String(), stderr: errOut.String(), code: code}
}

// mustJSON runs args with --json, requires success and decodes the object.
func mustJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	o := vendor(t, append(args, "--json")...)
	if o.code != 0 {
		t.Fatalf("vendor %s: exit %d, stderr %q", strings.Join(args, " "), o.code, o.stderr)
	}
	return decodeObject(t, o.stdout)
}

// decodeObject parses exactly one JSON object.
func decodeObject(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("output is not a JSON object: %v\n%s", err, s)
	}
	if dec.More() {
		t.Fatalf("output holds more than one JSON value:\n%s", s)
	}
	return m
}

// mustFail runs args, requires a non-zero exit and an error on stderr that
// mentions every one of want.
func mustFail(t *testing.T, args []string, want ...string) outcome {
	t.Helper()
	o := vendor(t, args...)
	if o.code == 0 {
		t.Fatalf("vendor %s: exit 0, want failure; stdout %q", strings.Join(args, " "), o.stdout)
	}
	if o.stderr == "" {
		t.Fatalf("vendor %s: failed without a message", strings.Join(args, " "))
	}
	for _, w := range want {
		if !strings.Contains(o.stderr, w) {
			t.Errorf("vendor %s: stderr %q does not mention %q", strings.Join(args, " "),
				o.stderr, w)
		}
	}
	return o
}

func keys(m map[string]any) []string {
	var k []string
	for name := range m {
		k = append(k, name)
	}
	sort.Strings(k)
	return k
}

// tokensOf returns the token entries of an issue or key-change result.
func tokensOf(t *testing.T, m map[string]any) []map[string]any {
	t.Helper()
	list, ok := m["tokens"].([]any)
	if !ok || len(list) == 0 {
		t.Fatalf("no tokens in %v", m)
	}
	var out []map[string]any
	for _, e := range list {
		out = append(out, e.(map[string]any))
	}
	return out
}

// str returns a JSON value as text: strings as they are, numbers in
// decimal, booleans as true/false.
func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "true"
		}
		return "false"
	case nil:
		return "<absent>"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func TestHelpListsCommands(t *testing.T) {
	o := vendor(t, "--help")
	if o.code != 0 {
		t.Fatalf("exit %d: %s", o.code, o.stderr)
	}
	for _, name := range []string{"key", "token"} {
		if !strings.Contains(o.stdout, name) {
			t.Errorf("help does not list %q:\n%s", name, o.stdout)
		}
	}
	o = vendor(t, "token", "--help")
	for _, name := range []string{"issue", "key-change", "decode"} {
		if !strings.Contains(o.stdout, name) {
			t.Errorf("token help does not list %q:\n%s", name, o.stdout)
		}
	}
}

func TestUnknownCommandFails(t *testing.T) {
	mustFail(t, []string{"token", "mint"}, "unknown command")
	mustFail(t, []string{"token", "issue", "--colour", "red"}, "--colour")
}
