package receipts

import (
	"context"
	"encoding/csv"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// strictColumns must agree with sample.expected.csv in every row.
var strictColumns = []string{
	"line", "part", "status", "reason", "variant", "kind", "meter", "token", "kct1", "kct2",
	"units_kwh", "amount", "currency", "token_amount", "other_charges", "vat", "fuel_energy",
	"forex", "epra", "wra", "rep", "inflation_adj", "debt", "timestamp", "ts_source",
}

func readCSV(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return recordsToMaps(recs)
}

func recordsToMaps(recs [][]string) []map[string]string {
	var rows []map[string]string
	for _, rec := range recs[1:] {
		row := make(map[string]string)
		for i, name := range recs[0] {
			row[name] = rec[i]
		}
		rows = append(rows, row)
	}
	return rows
}

func importFile(t *testing.T, path string) ([]Receipt, Summary) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []Receipt
	sum, err := Import(context.Background(), f, Config{}, func(r *Receipt) error {
		rows = append(rows, *r)
		return nil
	})
	if err != nil {
		t.Fatalf("import %s: %v", path, err)
	}
	return rows, sum
}

func TestFixture(t *testing.T) {
	want := readCSV(t, "testdata/sample.expected.csv")
	rows, _ := importFile(t, "testdata/sample.txt")
	if len(rows) != len(want) {
		t.Fatalf("got %d rows, want %d", len(rows), len(want))
	}
	for i, r := range rows {
		rec := r.Record()
		got := make(map[string]string)
		for j, name := range Columns {
			got[name] = rec[j]
		}
		w := want[i]
		t.Run("line"+w["line"]+w["part"], func(t *testing.T) {
			for _, col := range strictColumns {
				if got[col] != w[col] {
					t.Errorf("%s: got %q, want %q", col, got[col], w[col])
				}
			}
			if got["warnings"] != w["warnings"] {
				t.Logf("warnings: got %q, fixture %q", got["warnings"], w["warnings"])
			}
		})
	}
}

func TestFixtureHeaderMatchesColumns(t *testing.T) {
	f, err := os.Open("testdata/sample.expected.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	header, err := csv.NewReader(f).Read()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(header, Columns); diff != "" {
		t.Errorf("columns differ from the fixture (-fixture +Columns):\n%s", diff)
	}
}
