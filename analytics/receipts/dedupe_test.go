package receipts

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func importString(t *testing.T, input string) []Receipt {
	t.Helper()
	var rows []Receipt
	_, err := Import(context.Background(), strings.NewReader(input), Config{},
		func(r *Receipt) error {
			rows = append(rows, *r)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestDeduper(t *testing.T) {
	first := "Mtr:" + okMeter + " Token:" + okToken + kplcTail
	otherMeter := strings.Replace(first, okMeter, "43016234684", 1)
	otherAmount := strings.Replace(strings.Replace(first, "Amt:50.00", "Amt:60.00", 1),
		"OtherCharges:21.09", "OtherCharges:31.09", 1)
	tests := []struct {
		name       string
		second     string
		wantStatus Status
		wantReason string
	}{
		{"exact resend", first, StatusDuplicate, "same token and details as line 1"},
		{"another meter", otherMeter, StatusReject,
			"token already seen at line 1 for another meter"},
		{"another amount", otherAmount, StatusReject,
			"token already seen at line 1 for another amount"},
		{"another meter and amount", strings.Replace(otherAmount, okMeter, "43016234684", 1),
			StatusReject, "token already seen at line 1 for another meter and amount"},
		{"resent on lines, no dashes, no trailer", strings.Join(strings.Fields(strings.Replace(
			strings.TrimSuffix(first, " For Details dial *977#"), okToken, okDigits, 1)), "\n"),
			StatusDuplicate, "same token as line 1 (written without dashes, multi-line, " +
				"no trailer)"},
		{"other fields differ", strings.Replace(first, "19:13", "19:14", 1), StatusDuplicate,
			"same token as line 1 (other fields differ)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := importString(t, first+"\n\n"+tt.second+"\n")
			if len(rows) != 2 {
				t.Fatalf("got %d rows, want 2", len(rows))
			}
			if rows[0].Status != StatusAccept {
				t.Fatalf("first row %s (%s), want accept", rows[0].Status, rows[0].Reason)
			}
			got := rows[1]
			if got.Status != tt.wantStatus || got.Reason != tt.wantReason {
				t.Errorf("second row %s %q, want %s %q", got.Status, got.Reason, tt.wantStatus,
					tt.wantReason)
			}
		})
	}
}

func TestDeduperIgnoresRejectedRows(t *testing.T) {
	bad := "Mtr:" + okMeter + " Token:" + okToken +
		strings.Replace(kplcTail, "Amt:50.00", "Amt:55.00", 1)
	good := "Mtr:" + okMeter + " Token:" + okToken + kplcTail
	rows := importString(t, bad+"\n"+good+"\n")
	got := []Status{rows[0].Status, rows[1].Status}
	if diff := cmp.Diff([]Status{StatusReject, StatusAccept}, got); diff != "" {
		t.Errorf("statuses differ (-want +got):\n%s", diff)
	}
}

// TestReadCSVRoundTrip writes the fixture report and reads it back.
func TestReadCSVRoundTrip(t *testing.T) {
	rows, _ := importFile(t, "testdata/sample.txt")
	var buf bytes.Buffer
	w := NewCSVWriter(&buf)
	for i := range rows {
		if err := w.Write(&rows[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	written := buf.String()
	var back [][]string
	err := ReadCSV(strings.NewReader(written), func(r *Receipt) error {
		back = append(back, r.Record())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var want [][]string
	for i := range rows {
		want = append(want, rows[i].Record())
	}
	if diff := cmp.Diff(want, back); diff != "" {
		t.Errorf("rows read back differ (-written +read):\n%s", diff)
	}
}

func TestReadCSVRejectsOtherCSV(t *testing.T) {
	err := ReadCSV(strings.NewReader("a,b\n1,2\n"), func(*Receipt) error { return nil })
	if err == nil {
		t.Fatal("ReadCSV accepted a CSV with another header")
	}
}

func TestCSVWriterEmptyHasHeader(t *testing.T) {
	var buf bytes.Buffer
	if err := NewCSVWriter(&buf).Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), strings.Join(Columns, ",")+"\n"; got != want {
		t.Errorf("empty CSV is %q, want %q", got, want)
	}
}
