package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stsfleet/stsfleet/analytics/receipts"
)

const fixture = "testdata/sample.txt"

// runCmd runs one command line and returns its exit code and output.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := execute(context.Background(), newRootCmd(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func readRecords(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestImportWritesEveryOutput(t *testing.T) {
	dir := t.TempDir()
	report, clean, book := filepath.Join(dir, "report.csv"), filepath.Join(dir, "clean.csv"),
		filepath.Join(dir, "clean.xlsx")
	code, _, stderr := runCmd(t, "receipts", "import", fixture, "--report", report, "--csv",
		clean, "--xlsx", book)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rows := readRecords(t, report)[1:]
	accepted := 0
	for _, r := range rows {
		if r[2] == string(receipts.StatusAccept) {
			accepted++
		}
	}
	if got := len(readRecords(t, clean)) - 1; got != accepted {
		t.Errorf("clean.csv has %d rows, the report %d accepted", got, accepted)
	}
	for _, want := range []string{fmt.Sprintf("accepted    %6d", accepted),
		"wrote " + report + " (" + strconv.Itoa(len(rows)) + " rows)",
		"wrote " + book + " (" + strconv.Itoa(accepted) + " rows)"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("summary lacks %q:\n%s", want, stderr)
		}
	}
	if st, err := os.Stat(book); err != nil || st.Size() == 0 {
		t.Errorf("workbook: %v", err)
	}
	assertOnly(t, dir, "clean.csv", "clean.xlsx", "report.csv")
}

// assertOnly checks that dir holds exactly the named files: no temporary
// file is left behind.
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if diff := cmp.Diff(names, got); diff != "" {
		t.Errorf("directory holds other files (-want +got):\n%s", diff)
	}
}

func TestImportJSON(t *testing.T) {
	report := filepath.Join(t.TempDir(), "report.csv")
	code, stdout, stderr := runCmd(t, "receipts", "import", fixture, "--json", "--report",
		report)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		Messages   int            `json:"messages"`
		Accepted   int            `json:"accepted"`
		Duplicates int            `json:"duplicates"`
		Rejected   int            `json:"rejected"`
		RejectedBy map[string]int `json:"rejected_by_reason"`
		Skipped    int            `json:"skipped"`
		Outputs    map[string]string
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout)
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	rows := readRecords(t, report)[1:]
	for _, r := range rows {
		want[r[2]]++
	}
	got := map[string]int{"accept": res.Accepted, "duplicate": res.Duplicates,
		"reject": res.Rejected, "skip": res.Skipped}
	if diff := cmp.Diff(want, got); diff != "" || res.Messages != len(rows) {
		t.Errorf("JSON counts differ from the report (-report +json):\n%s", diff)
	}
	byReason := 0
	for _, n := range res.RejectedBy {
		byReason += n
	}
	if byReason != res.Rejected || res.Outputs["report"] != report {
		t.Errorf("rejected_by_reason adds to %d of %d; outputs %v", byReason, res.Rejected,
			res.Outputs)
	}
	if stderr != "" {
		t.Errorf("--json printed on stderr: %q", stderr)
	}
}

func TestImportBadInput(t *testing.T) {
	dir := t.TempDir()
	binary := filepath.Join(dir, "photo.jpg")
	if err := os.WriteFile(binary, []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.txt")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A payment confirmation and a stray line: messages, but no receipt.
	noReceipt := filepath.Join(dir, "payments.txt")
	if err := os.WriteFile(noReceipt, []byte("SBK7H2M9PL Confirmed. Ksh100.00 sent to KPLC "+
		"PREPAID for account 53348390344 on 3/2/25 at 11:28 AM New M-PESA balance is "+
		"Ksh1,234.56. Transaction cost, Ksh0.00.\n\nsee you tomorrow\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		input string
		want  string
	}{
		{"missing file", filepath.Join(dir, "nope.txt"), "no such file or directory"},
		{"directory", dir, "is a directory"},
		{"binary file", binary, "not UTF-8 text"},
		{"empty file", empty, "no receipts found in " + empty},
		{"no receipt", noReceipt, "no receipts found in " + noReceipt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			code, _, stderr := runCmd(t, "receipts", "import", tt.input, "--csv",
				filepath.Join(out, "c.csv"), "--xlsx", filepath.Join(out, "c.xlsx"), "--report",
				filepath.Join(out, "r.csv"))
			if code == 0 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want non-zero and %q", code, stderr, tt.want)
			}
			assertOnly(t, out)
		})
	}
}

func TestImportUsageErrors(t *testing.T) {
	dir := t.TempDir()
	same := filepath.Join(dir, "x.csv")
	for _, args := range [][]string{
		{"receipts", "import"},
		{"receipts", "import", fixture, "--csv", same, "--report", same},
		{"receipts", "import", fixture, "--bogus"},
	} {
		if code, _, _ := runCmd(t, args...); code == 0 {
			t.Errorf("%v: exit 0", args)
		}
	}
	assertOnly(t, dir)
}

func TestChartCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "charts")
	code, _, stderr := runCmd(t, "receipts", "chart", fixture, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	assertOnly(t, out, "amount_distribution.png", "price_per_kwh.png", "spend_per_month.png",
		"units_over_time.png")
}

// TestModelCommand fits the fixture from the export and from the clean CSV
// import writes: both must give the same model.
func TestModelCommand(t *testing.T) {
	dir := t.TempDir()
	clean := filepath.Join(dir, "clean.csv")
	if code, _, stderr := runCmd(t, "receipts", "import", fixture, "--csv", clean); code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	fromExport, fromCSV := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	for _, c := range [][]string{{fixture, fromExport}, {clean, fromCSV}} {
		if code, _, stderr := runCmd(t, "receipts", "model", c[0], "--out", c[1]); code != 0 {
			t.Fatalf("model %s: exit %d: %s", c[0], code, stderr)
		}
	}
	a, err := receipts.LoadPurchaseModel(fromExport)
	if err != nil {
		t.Fatal(err)
	}
	b, err := receipts.LoadPurchaseModel(fromCSV)
	if err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Errorf("models differ:\nexport %s\ncsv    %s", ja, jb)
	}
	code, stdout, _ := runCmd(t, "receipts", "model", fixture)
	if code != 0 {
		t.Fatalf("model to stdout: exit %d", code)
	}
	if _, err := receipts.DecodePurchaseModel([]byte(stdout)); err != nil {
		t.Errorf("stdout model: %v", err)
	}
}

// TestImportLeavesNothingOnFailure checks that an output that cannot be
// written stops the import before any other output appears.
func TestImportLeavesNothingOnFailure(t *testing.T) {
	dir := t.TempDir()
	report, clean := filepath.Join(dir, "report.csv"), filepath.Join(dir, "clean.csv")
	book := filepath.Join(dir, "missing", "clean.xlsx")
	code, _, stderr := runCmd(t, "receipts", "import", fixture, "--report", report, "--csv",
		clean, "--xlsx", book)
	if code == 0 {
		t.Fatal("import into a missing directory succeeded")
	}
	if !strings.Contains(stderr, "missing") {
		t.Errorf("error does not name the path: %s", stderr)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("files left after a failed import: %v", entries)
	}
}
