// Package xlsx writes receipt rows to an Excel workbook with typed cells:
// numbers as numbers, times as dates, identifiers as text so that leading
// zeros survive. It lives apart from package receipts so that programs
// which only need the receipt model do not link the spreadsheet library.
//
// A [Writer] streams rows to disk-backed buffers and is not safe for
// concurrent use.
package xlsx

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/stsfleet/stsfleet/analytics/receipts"
)

// Sheet is the name of the worksheet that holds the rows.
const Sheet = "receipts"

// MaxRows is the most data rows a worksheet holds (Excel's 1,048,576 rows
// less the header).
const MaxRows = 1<<20 - 1

// ErrTooManyRows reports more rows than a worksheet holds.
var ErrTooManyRows = errors.New("more rows than a worksheet holds")

// timeFormat is how timestamp cells display. Excel times have no zone:
// cells hold the receipt's local wall-clock time.
const timeFormat = "yyyy-mm-dd hh:mm:ss"

// Writer builds a workbook with a header row of [receipts.Columns], a
// frozen header and an autofilter over the rows.
type Writer struct {
	f      *excelize.File
	sw     *excelize.StreamWriter
	rows   int
	header int
	number int
	date   int
	done   bool
}

// NewWriter starts a workbook. Call [Writer.WriteTo] to finish it and
// [Writer.Close] to release its buffers.
func NewWriter() (*Writer, error) {
	f := excelize.NewFile()
	w := &Writer{f: f}
	if err := w.setup(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start workbook: %w", err)
	}
	return w, nil
}

func (w *Writer) setup() error {
	if err := w.f.SetSheetName("Sheet1", Sheet); err != nil {
		return err
	}
	var err error
	if w.header, err = w.f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true},
		Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDE4EE"}}}); err != nil {
		return err
	}
	if w.number, err = w.f.NewStyle(&excelize.Style{NumFmt: 2}); err != nil {
		return err
	}
	format := timeFormat
	if w.date, err = w.f.NewStyle(&excelize.Style{CustomNumFmt: &format}); err != nil {
		return err
	}
	if w.sw, err = w.f.NewStreamWriter(Sheet); err != nil {
		return err
	}
	for i, name := range receipts.Columns {
		if err := w.sw.SetColWidth(i+1, i+1, columnWidth(name)); err != nil {
			return err
		}
	}
	if err := w.sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2",
		ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	cells := make([]any, len(receipts.Columns))
	for i, name := range receipts.Columns {
		cells[i] = excelize.Cell{StyleID: w.header, Value: name}
	}
	return w.sw.SetRow("A1", cells)
}

func columnWidth(name string) float64 {
	switch name {
	case "token", "kct1", "kct2":
		return 23
	case "timestamp":
		return 20
	case "meter", "variant", "kind", "ts_source":
		return 16
	case "reason", "warnings":
		return 40
	}
	return 11
}

// Write adds one row.
func (w *Writer) Write(r *receipts.Receipt) error {
	if w.rows >= MaxRows {
		return fmt.Errorf("write xlsx row %d: %w", w.rows+1, ErrTooManyRows)
	}
	w.rows++
	cell, err := excelize.CoordinatesToCellName(1, w.rows+1)
	if err != nil {
		return fmt.Errorf("write xlsx row %d: %w", w.rows, err)
	}
	if err := w.sw.SetRow(cell, w.cells(r)); err != nil {
		return fmt.Errorf("write xlsx row %d: %w", w.rows, err)
	}
	return nil
}

// cells types one row: the line as an integer, decimals as numbers, the
// timestamp as a date, the rest as text; absent values as empty cells.
func (w *Writer) cells(r *receipts.Receipt) []any {
	text := r.Record()
	decimals := r.Decimals()
	out := make([]any, len(receipts.Columns))
	for i, name := range receipts.Columns {
		switch d, isDecimal := decimals[name]; {
		case name == "line":
			out[i] = r.Line
		case isDecimal && d.Valid():
			out[i] = excelize.Cell{StyleID: w.number, Value: d.Float64()}
		case isDecimal:
			out[i] = nil
		case name == "timestamp" && text[i] != "":
			out[i] = excelize.Cell{StyleID: w.date, Value: wallClock(r.Time)}
		case text[i] == "":
			out[i] = nil
		default:
			out[i] = text[i]
		}
	}
	return out
}

// wallClock keeps the local date and time and drops the zone, which Excel
// cannot hold.
func wallClock(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
}

// Rows returns the number of data rows written.
func (w *Writer) Rows() int { return w.rows }

// WriteTo finishes the workbook (autofilter over header and rows) and
// writes it to out. It may be called once.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	if w.done {
		return 0, errors.New("write xlsx: already finished")
	}
	w.done = true
	last, err := excelize.CoordinatesToCellName(len(receipts.Columns), w.rows+1)
	if err != nil {
		return 0, fmt.Errorf("write xlsx: %w", err)
	}
	if err := w.f.AutoFilter(Sheet, "A1:"+last, nil); err != nil {
		return 0, fmt.Errorf("write xlsx autofilter: %w", err)
	}
	if err := w.sw.Flush(); err != nil {
		return 0, fmt.Errorf("write xlsx: %w", err)
	}
	n, err := w.f.WriteTo(out)
	if err != nil {
		return n, fmt.Errorf("write xlsx: %w", err)
	}
	return n, nil
}

// Close releases the workbook's temporary buffers.
func (w *Writer) Close() error {
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("close xlsx: %w", err)
	}
	return nil
}
