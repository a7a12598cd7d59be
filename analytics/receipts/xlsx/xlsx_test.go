package xlsx

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/xuri/excelize/v2"

	"github.com/stsfleet/stsfleet/analytics/receipts"
)

// writeFixture imports the receipts fixture and writes its accepted rows
// to a clean CSV (returned) and to an XLSX file at path.
func writeFixture(t *testing.T, path string) [][]string {
	t.Helper()
	in, err := os.Open("../testdata/sample.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var csvBuf bytes.Buffer
	cw := receipts.NewCSVWriter(&csvBuf)
	xw, err := NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer xw.Close()
	_, err = receipts.Import(context.Background(), in, receipts.Config{},
		func(r *receipts.Receipt) error {
			if !r.Accepted() {
				return nil
			}
			if err := cw.Write(r); err != nil {
				return err
			}
			return xw.Write(r)
		})
	if err != nil {
		t.Fatal(err)
	}
	if err := cw.Flush(); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := xw.WriteTo(out); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&csvBuf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestXLSXMatchesCSV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clean.xlsx")
	want := writeFixture(t, path)
	if len(want) < 2 {
		t.Fatalf("fixture gave %d CSV records, want a header and rows", len(want))
	}
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatalf("open written workbook: %v", err)
	}
	defer f.Close()
	raw, err := f.GetRows(Sheet, excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[0], raw[0]); diff != "" {
		t.Fatalf("header row differs (-csv +xlsx):\n%s", diff)
	}
	if len(raw) != len(want) {
		t.Fatalf("workbook has %d rows, CSV %d", len(raw), len(want))
	}
	for i := 1; i < len(want); i++ {
		for j, name := range want[0] {
			got := ""
			if j < len(raw[i]) {
				got = raw[i][j]
			}
			if msg := compareCell(t, f, name, i, j, want[i][j], got); msg != "" {
				t.Errorf("row %d column %s: %s", i+1, name, msg)
			}
		}
	}
}

// compareCell checks one workbook cell against its CSV text and checks
// that numbers and dates are typed.
func compareCell(t *testing.T, f *excelize.File, name string, row, col int, want,
	got string) string {
	t.Helper()
	if want == "" {
		if got != "" {
			return "got " + strconv.Quote(got) + ", want an empty cell"
		}
		return ""
	}
	ref, _ := excelize.CoordinatesToCellName(col+1, row+1)
	typ, err := f.GetCellType(Sheet, ref)
	if err != nil {
		return err.Error()
	}
	switch {
	case name == "timestamp":
		serial, err := strconv.ParseFloat(got, 64)
		if err != nil {
			return "timestamp is not a number: " + got
		}
		ts, err := excelize.ExcelDateToTime(serial, false)
		if err != nil {
			return err.Error()
		}
		wt, err := time.Parse(time.RFC3339, want)
		if err != nil {
			return err.Error()
		}
		if ts.Round(time.Second).Format("2006-01-02 15:04:05") != wt.Format("2006-01-02 15:04:05") {
			return "date " + ts.String() + " differs from " + want
		}
	case isNumericColumn(name):
		if typ == excelize.CellTypeSharedString || typ == excelize.CellTypeInlineString {
			return "number stored as text"
		}
		g, err1 := strconv.ParseFloat(got, 64)
		w, err2 := strconv.ParseFloat(want, 64)
		if err1 != nil || err2 != nil || strconv.FormatFloat(g, 'f', 2, 64) !=
			strconv.FormatFloat(w, 'f', 2, 64) && name != "line" || name == "line" && g != w {
			return "got " + got + ", want " + want
		}
	case got != want:
		return "got " + strconv.Quote(got) + ", want " + strconv.Quote(want)
	}
	return ""
}

func isNumericColumn(name string) bool {
	switch name {
	case "line", "units_kwh", "amount", "token_amount", "other_charges", "vat",
		"fuel_energy", "forex", "epra", "wra", "rep", "inflation_adj", "debt":
		return true
	}
	return false
}

func TestXLSXHasAutofilter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clean.xlsx")
	recs := writeFixture(t, path)
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var sheet []byte
	for _, zf := range zr.File {
		if zf.Name != "xl/worksheets/sheet1.xml" {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		sheet, err = io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	last, _ := excelize.CoordinatesToCellName(len(receipts.Columns), len(recs), true)
	// excelize writes the range with absolute references.
	if want := `<autoFilter ref="$A$1:` + last + `"`; !strings.Contains(string(sheet), want) {
		t.Errorf("worksheet has no %s", want)
	}
}

func TestXLSXTooManyRowsIsAnError(t *testing.T) {
	w, err := NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.rows = MaxRows
	r := receipts.Receipt{Line: 1, Status: receipts.StatusAccept}
	if err := w.Write(&r); !errors.Is(err, ErrTooManyRows) {
		t.Errorf("Write past MaxRows: got %v, want %v", err, ErrTooManyRows)
	}
}
