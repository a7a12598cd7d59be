package receipts

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

func TestImportEmpty(t *testing.T) {
	calls := 0
	sum, err := Import(context.Background(), strings.NewReader(""), Config{},
		func(*Receipt) error { calls++; return nil })
	if err != nil || calls != 0 || sum.Messages != 0 || sum.Receipts() != 0 {
		t.Errorf("empty input: %d rows, summary %+v, error %v; want nothing", calls, sum, err)
	}
}

func TestSummaryReceipts(t *testing.T) {
	tests := []struct {
		name     string
		statuses []Status
		want     int
	}{
		{"none", nil, 0},
		{"only skipped", []Status{StatusSkip, StatusSkip}, 0},
		{"one reject", []Status{StatusSkip, StatusReject}, 1},
		{"every kind", []Status{StatusAccept, StatusDuplicate, StatusReject, StatusSkip}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sum Summary
			for _, st := range tt.statuses {
				sum.Add(&Receipt{Status: st})
			}
			if got := sum.Receipts(); got != tt.want {
				t.Errorf("Receipts() = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestImportBinary(t *testing.T) {
	data := make([]byte, 1<<16)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.UintN(256))
	}
	data[100] = 0
	_, err := Import(context.Background(), bytes.NewReader(data), Config{},
		func(*Receipt) error { return nil })
	if !errors.Is(err, ErrBinary) {
		t.Errorf("binary input: got %v, want %v", err, ErrBinary)
	}
}

// TestImportNoiseWithoutNUL feeds bytes that pass the binary sniff; every
// row must be a clean reject or skip.
func TestImportNoiseWithoutNUL(t *testing.T) {
	data := make([]byte, 1<<18)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(1 + r.UintN(255))
	}
	sum, err := Import(context.Background(), bytes.NewReader(data), Config{},
		func(rec *Receipt) error {
			checkReceipt(t, rec)
			if rec.Status == StatusAccept {
				t.Errorf("noise accepted at line %d: %v", rec.Line, rec.Record())
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Messages == 0 {
		t.Error("noise gave no rows")
	}
}

func TestImportInvalidUTF8(t *testing.T) {
	input := "Mtr:" + okMeter + " Token:" + okToken +
		strings.Replace(kplcTail, "19:13", "19:13\xff\xfe", 1) + "\n"
	rows := importString(t, input)
	if len(rows) != 1 {
		t.Fatalf("got %d rows, want 1", len(rows))
	}
	r := rows[0]
	if r.Status != StatusReject || r.Code != CodeEncoding || r.Meter != okMeter ||
		r.Token != okDigits || !strings.HasPrefix(r.Reason, "line 1 is not valid UTF-8") {
		t.Errorf("got %v, want a reject for invalid UTF-8 keeping meter and token", r.Record())
	}
}

func TestImportVeryLongLine(t *testing.T) {
	const size = 16 << 20
	valid := "Mtr:" + okMeter + " Token:" + okToken + kplcTail
	input := strings.Repeat("Mtr:"+okMeter+" ", size/16) + "\n" + valid + "\n"
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	peak := heapPeak{every: 1}
	var rows []Receipt
	_, err := Import(context.Background(), strings.NewReader(input), Config{},
		func(r *Receipt) error {
			peak.sample()
			rows = append(rows, *r)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("got %d rows, want 2", len(rows))
	}
	if rows[0].Status != StatusReject || rows[0].Code != CodeTooLong {
		t.Errorf("long line: got %s %s, want reject %s", rows[0].Status, rows[0].Code,
			CodeTooLong)
	}
	if rows[1].Status != StatusAccept || rows[1].Line != 2 {
		t.Errorf("line after it: got %s at line %d, want accept at line 2", rows[1].Status,
			rows[1].Line)
	}
	// The input string itself is live; the import must not add a copy.
	if grown := int64(peak.peak) - int64(before.HeapAlloc); grown > size/2 {
		t.Errorf("heap grew by %d bytes reading a %d-byte line", grown, size)
	}
}

func TestImportEmitErrorStops(t *testing.T) {
	boom := errors.New("disk full")
	n := 0
	_, err := Import(context.Background(), strings.NewReader("Mtr:1\n\nMtr:2\n"), Config{},
		func(*Receipt) error { n++; return boom })
	if !errors.Is(err, boom) || n != 1 {
		t.Errorf("got %v after %d rows, want %v after 1", err, n, boom)
	}
}

func TestImportCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Import(ctx, strings.NewReader("Mtr:1\n"), Config{}, func(*Receipt) error {
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want %v", err, context.Canceled)
	}
}

// TestImportLargeStream imports a generated export of 48 MB with a fixed
// number of distinct tokens and checks the counts and that the live heap
// stays far below the input size.
func TestImportLargeStream(t *testing.T) {
	if testing.Short() {
		t.Skip("large input")
	}
	const size, distinct = 48 << 20, 20_000
	runtime.GC()
	peak := heapPeak{every: 4096}
	sum, err := Import(context.Background(), newReceiptStream(size, distinct), Config{},
		func(r *Receipt) error {
			peak.sample()
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	bad := (distinct + 96) / 97
	if sum.Accepted != distinct-bad || sum.RejectedBy[CodeBadMeter] == 0 ||
		sum.Accepted+sum.Duplicates+sum.Rejected != sum.Messages {
		t.Errorf("summary %+v: want %d accepted and the rest duplicates or bad meters",
			sum, distinct-bad)
	}
	t.Logf("%d MB, %d rows, %d distinct tokens: peak live heap %.1f MiB", size>>20,
		sum.Messages, sum.DistinctTokens, float64(peak.peak)/(1<<20))
	if peak.peak > size/4 {
		t.Errorf("peak heap %d bytes for a %d-byte input", peak.peak, size)
	}
}
