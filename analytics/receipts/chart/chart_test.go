package chart

import (
	"context"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gonum.org/v1/plot/vg"

	"github.com/stsfleet/stsfleet/analytics/receipts"
)

func fixtureRows(t *testing.T) []receipts.Receipt {
	t.Helper()
	f, err := os.Open("../testdata/sample.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []receipts.Receipt
	_, err = receipts.Import(context.Background(), f, receipts.Config{},
		func(r *receipts.Receipt) error {
			rows = append(rows, *r)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestRenderFixture(t *testing.T) {
	dir := t.TempDir()
	opt := Options{Width: 6 * vg.Inch, Height: 3 * vg.Inch, DPI: 100}
	paths, err := Render(fixtureRows(t), dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{UnitsFile, SpendFile, AmountFile, PriceFile}
	if len(paths) != len(want) {
		t.Fatalf("wrote %v, want %v", paths, want)
	}
	for i, p := range paths {
		if filepath.Base(p) != want[i] {
			t.Errorf("chart %d is %s, want %s", i, p, want[i])
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if b := img.Bounds(); b.Dx() != 600 || b.Dy() != 300 {
			t.Errorf("%s is %dx%d, want 600x300", p, b.Dx(), b.Dy())
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func TestRenderWithoutData(t *testing.T) {
	if _, err := Render(nil, t.TempDir(), Options{}); !errors.Is(err, ErrNoData) {
		t.Errorf("no rows: got %v, want %v", err, ErrNoData)
	}
	rows := fixtureRows(t)
	if _, err := Render(rows, t.TempDir(), Options{Currency: "EUR"}); !errors.Is(err, ErrNoData) {
		t.Errorf("no rows in EUR: got %v, want %v", err, ErrNoData)
	}
}

// TestRenderSkipsTimeCharts gives only undated rows: the amount chart is
// drawn, the charts over time are left out.
func TestRenderSkipsTimeCharts(t *testing.T) {
	var undated []receipts.Receipt
	for _, r := range fixtureRows(t) {
		r.Time, r.TimeSource = time.Time{}, receipts.TimeNone
		undated = append(undated, r)
	}
	paths, err := Render(undated, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 1 || filepath.Base(paths[0]) != AmountFile {
		t.Errorf("wrote %v, want only %s", paths, AmountFile)
	}
}

func TestMonthTicks(t *testing.T) {
	day := func(y int, m time.Month, d int) time.Time {
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}
	tests := []struct {
		from, to  time.Time
		maxLabels int
	}{
		{day(2023, 5, 13), day(2025, 10, 14), 8},
		{day(2024, 1, 2), day(2024, 6, 30), 8},
		{day(2000, 1, 1), day(2030, 1, 1), 9},
	}
	for _, tt := range tests {
		ticks := monthTicks{}.Ticks(float64(tt.from.Unix()), float64(tt.to.Unix()))
		labels := 0
		for _, tk := range ticks {
			tm := time.Unix(int64(tk.Value), 0).UTC()
			if tm.Day() != 1 || tm.Hour() != 0 || tm.Before(tt.from) || tm.After(tt.to) {
				t.Errorf("tick at %v, want month starts within %v..%v", tm, tt.from, tt.to)
			}
			if tk.Label != "" {
				labels++
			}
		}
		if labels < 2 || labels > tt.maxLabels {
			t.Errorf("%v..%v: %d labels, want 2..%d", tt.from, tt.to, labels, tt.maxLabels)
		}
	}
}

func TestFormatMoney(t *testing.T) {
	tests := map[float64]string{0: "0", 50: "50", 1000: "1,000", 1234567.5: "1,234,567.50",
		52.05: "52.05"}
	for v, want := range tests {
		if got := formatMoney(v); got != want {
			t.Errorf("formatMoney(%v) = %q, want %q", v, got, want)
		}
	}
}
