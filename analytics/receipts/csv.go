package receipts

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// CSVWriter writes report rows as CSV: a header of [Columns], then one
// record per row. Whether it holds every row (report.csv) or only the
// accepted ones (clean.csv) is up to the caller. It is not safe for
// concurrent use.
type CSVWriter struct {
	bw     *bufio.Writer
	cw     *csv.Writer
	header bool
	rows   int
}

// NewCSVWriter returns a CSVWriter writing to w.
func NewCSVWriter(w io.Writer) *CSVWriter {
	bw := bufio.NewWriterSize(w, 64<<10)
	return &CSVWriter{bw: bw, cw: csv.NewWriter(bw)}
}

// Write adds one row, after the header if it is the first.
func (w *CSVWriter) Write(r *Receipt) error {
	if !w.header {
		w.header = true
		if err := w.cw.Write(Columns); err != nil {
			return fmt.Errorf("write csv header: %w", err)
		}
	}
	if err := w.cw.Write(r.Record()); err != nil {
		return fmt.Errorf("write csv row %d: %w", w.rows+1, err)
	}
	w.rows++
	return nil
}

// Rows returns the number of rows written, header excluded.
func (w *CSVWriter) Rows() int { return w.rows }

// Flush writes the header if no row came, and everything buffered.
func (w *CSVWriter) Flush() error {
	if !w.header {
		w.header = true
		if err := w.cw.Write(Columns); err != nil {
			return fmt.Errorf("write csv header: %w", err)
		}
	}
	w.cw.Flush()
	if err := w.cw.Error(); err != nil {
		return fmt.Errorf("flush csv: %w", err)
	}
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("flush csv: %w", err)
	}
	return nil
}

// ErrNotReport reports CSV whose header is not [Columns].
var ErrNotReport = errors.New("not a receipts report")

// ReadCSV reads a report or clean CSV written by [CSVWriter] and calls
// emit with each row, in order. Rows read back carry what the columns
// hold; the *Receipt is valid only during the call.
func ReadCSV(r io.Reader, emit func(*Receipt) error) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(Columns)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("read receipts csv: %w", err)
	}
	if strings.Join(header, ",") != strings.Join(Columns, ",") {
		return fmt.Errorf("read receipts csv: %w: header is %q", ErrNotReport,
			strings.Join(header, ","))
	}
	for row := 2; ; row++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read receipts csv: %w", err)
		}
		var rc Receipt
		if err := rc.fromRecord(rec); err != nil {
			return fmt.Errorf("read receipts csv row %d: %w", row, err)
		}
		if err := emit(&rc); err != nil {
			return err
		}
	}
}

// fromRecord fills r from cells in [Columns] order.
func (r *Receipt) fromRecord(rec []string) error {
	var err error
	if rec[0] != "" {
		if r.Line, err = strconv.Atoi(rec[0]); err != nil {
			return fmt.Errorf("line: %w", err)
		}
	}
	r.Part, r.Status, r.Reason = rec[1], Status(rec[2]), rec[3]
	r.Variant, r.Kind, r.Meter, r.Token = Variant(rec[4]), Kind(rec[5]), rec[6], rec[7]
	r.KCT1, r.KCT2, r.Currency = rec[8], rec[9], rec[12]
	decimals := map[int]*Decimal{10: &r.Units, 11: &r.Amount, 13: &r.TokenAmount,
		14: &r.OtherCharges, 15: &r.VAT, 16: &r.FuelEnergy, 17: &r.Forex, 18: &r.EPRA,
		19: &r.WRA, 20: &r.REP, 21: &r.InflationAdj, 22: &r.Debt}
	for i, dst := range decimals {
		if err := dst.UnmarshalText([]byte(rec[i])); err != nil {
			return fmt.Errorf("%s: %w", Columns[i], err)
		}
	}
	r.TimeSource = TimeSource(rec[24])
	if rec[23] != "" {
		if r.Time, err = time.Parse(time.RFC3339, rec[23]); err != nil {
			return fmt.Errorf("timestamp: %w", err)
		}
	}
	if rec[25] != "" {
		r.Warnings = strings.Split(rec[25], "; ")
	}
	return nil
}
