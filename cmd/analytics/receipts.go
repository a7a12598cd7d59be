package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stsfleet/stsfleet/analytics/receipts"
	"github.com/stsfleet/stsfleet/analytics/receipts/chart"
	"github.com/stsfleet/stsfleet/analytics/receipts/xlsx"
)

func newReceiptsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "receipts",
		Short: "Import, chart and model prepaid-token SMS receipts",
	}
	cmd.AddCommand(newImportCmd(), newChartCmd(), newModelCmd())
	return cmd
}

// importConfig is what "receipts import" does.
type importConfig struct {
	// Input is the SMS export to read.
	Input string
	// CSV, XLSX and Report are output paths; "" writes no such file.
	// CSV and XLSX get the accepted rows, Report every row.
	CSV, XLSX, Report string
	// JSON prints the summary as one JSON object on stdout instead of
	// text on stderr.
	JSON bool

	stdout, stderr io.Writer
}

func newImportCmd() *cobra.Command {
	var c importConfig
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Check an SMS export and write clean rows and a report",
		Long: "Import reads an SMS export, checks every message (meter number, token, " +
			"amounts, dates, duplicates) and writes the accepted rows as CSV and XLSX and " +
			"every row, with a status and reason, as a report. Outputs appear whole or not " +
			"at all. A file with no receipt in it is an error and writes nothing.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c.Input, c.stdout, c.stderr = args[0], cmd.OutOrStdout(), cmd.ErrOrStderr()
			return c.run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.CSV, "csv", "", "write accepted rows as CSV to this file")
	f.StringVar(&c.XLSX, "xlsx", "", "write accepted rows as an Excel workbook to this file")
	f.StringVar(&c.Report, "report", "", "write every row with its status and reason as CSV")
	f.BoolVar(&c.JSON, "json", false, "print the summary as one JSON object on stdout")
	return cmd
}

// importResult is the summary printed by import.
type importResult struct {
	Input string `json:"input"`
	receipts.Summary
	Outputs map[string]string `json:"outputs"`
}

func (c *importConfig) run(ctx context.Context) error {
	if err := c.checkOutputs(); err != nil {
		return err
	}
	in, err := openInput(c.Input)
	if err != nil {
		return err
	}
	defer in.Close()
	sinks, err := c.openSinks()
	if err != nil {
		return err
	}
	sum, err := receipts.Import(ctx, in, receipts.Config{}, func(r *receipts.Receipt) error {
		for _, s := range sinks {
			if err := s.write(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && sum.Receipts() == 0 {
		// Empty outputs of an input that is not an export hide the
		// mistake: say so and write nothing.
		abortAll(sinks)
		return fmt.Errorf("%w in %s", receipts.ErrNoReceipts, c.Input)
	}
	if err == nil {
		err = commitAll(sinks)
	}
	if err != nil {
		abortAll(sinks)
		return fmt.Errorf("%s: %w", c.Input, err)
	}
	res := importResult{Input: c.Input, Summary: sum, Outputs: map[string]string{}}
	for _, s := range sinks {
		res.Outputs[s.name] = s.path
	}
	if c.JSON {
		enc := json.NewEncoder(c.stdout)
		return enc.Encode(res)
	}
	printSummary(c.stderr, res, sinks)
	return nil
}

// checkOutputs refuses one file named for two outputs.
func (c *importConfig) checkOutputs() error {
	seen := map[string]string{}
	for flag, path := range map[string]string{"--csv": c.CSV, "--xlsx": c.XLSX,
		"--report": c.Report} {
		if path == "" {
			continue
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return fmt.Errorf("%s %s: %w", flag, path, err)
		}
		if other, ok := seen[abs]; ok {
			return fmt.Errorf("%s and %s name the same file %s", other, flag, path)
		}
		seen[abs] = flag
	}
	return nil
}

// openInput opens a file to read, with a clear error for what cannot be
// read.
func openInput(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read input: %w", err)
	}
	st, err := f.Stat()
	if err == nil && st.IsDir() {
		err = errors.New("is a directory")
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read input %s: %w", path, err)
	}
	return f, nil
}

// sink is one output file being written. Outputs are finished in two
// phases, so that a failure leaves none of them behind: prepare writes
// everything into the temporary file, commit only renames it into place.
type sink struct {
	name, path string
	rows       int
	write      func(*receipts.Receipt) error
	prepare    func() error
	commit     func() error
	abort      func()
}

func (c *importConfig) openSinks() ([]*sink, error) {
	var sinks []*sink
	add := func(s *sink, err error) error {
		if err != nil {
			abortAll(sinks)
			return err
		}
		sinks = append(sinks, s)
		return nil
	}
	if c.Report != "" {
		if err := add(csvSink("report", c.Report, false)); err != nil {
			return nil, err
		}
	}
	if c.CSV != "" {
		if err := add(csvSink("csv", c.CSV, true)); err != nil {
			return nil, err
		}
	}
	if c.XLSX != "" {
		if err := add(xlsxSink(c.XLSX)); err != nil {
			return nil, err
		}
	}
	return sinks, nil
}

func csvSink(name, path string, acceptedOnly bool) (*sink, error) {
	f, err := receipts.CreateAtomic(path, 0o644)
	if err != nil {
		return nil, err
	}
	w := receipts.NewCSVWriter(f)
	s := &sink{name: name, path: path, abort: f.Abort, prepare: w.Flush, commit: f.Commit}
	s.write = func(r *receipts.Receipt) error {
		if acceptedOnly && !r.Accepted() {
			return nil
		}
		s.rows++
		return w.Write(r)
	}
	return s, nil
}

func xlsxSink(path string) (*sink, error) {
	// The file is created now, so that an unwritable path fails before
	// any input is read.
	f, err := receipts.CreateAtomic(path, 0o644)
	if err != nil {
		return nil, err
	}
	w, err := xlsx.NewWriter()
	if err != nil {
		f.Abort()
		return nil, err
	}
	s := &sink{name: "xlsx", path: path, commit: f.Commit,
		abort: func() { f.Abort(); _ = w.Close() }}
	s.write = func(r *receipts.Receipt) error {
		if !r.Accepted() {
			return nil
		}
		s.rows++
		return w.Write(r)
	}
	s.prepare = func() error {
		defer w.Close()
		_, err := w.WriteTo(f)
		return err
	}
	return s, nil
}

// commitAll finishes every output: all are prepared before any is renamed
// into place, and after a failure none is.
func commitAll(sinks []*sink) error {
	for _, s := range sinks {
		if err := s.prepare(); err != nil {
			abortAll(sinks)
			return fmt.Errorf("write %s: %w", s.path, err)
		}
	}
	for i, s := range sinks {
		if err := s.commit(); err != nil {
			abortAll(sinks[i+1:])
			return err
		}
	}
	return nil
}

func abortAll(sinks []*sink) {
	for _, s := range sinks {
		s.abort()
	}
}

func printSummary(w io.Writer, res importResult, sinks []*sink) {
	s := res.Summary
	fmt.Fprintf(w, "%s: %d lines, %d messages\n", res.Input, s.Lines, s.Messages)
	fmt.Fprintf(w, "  accepted    %6d\n", s.Accepted)
	fmt.Fprintf(w, "  duplicates  %6d\n", s.Duplicates)
	fmt.Fprintf(w, "  rejected    %6d\n", s.Rejected)
	printCounts(w, s.RejectedBy)
	fmt.Fprintf(w, "  skipped     %6d\n", s.Skipped)
	printCounts(w, s.SkippedBy)
	for _, sk := range sinks {
		fmt.Fprintf(w, "wrote %s (%d rows)\n", sk.path, sk.rows)
	}
}

func printCounts(w io.Writer, counts map[receipts.ReasonCode]int) {
	for _, code := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(w, "    %-18s %4d\n", code, counts[code])
	}
}

// eachAccepted calls fn with every accepted row of path, which is either an
// SMS export or a report or clean CSV written by import.
func eachAccepted(ctx context.Context, path string, fn func(*receipts.Receipt)) error {
	in, err := openInput(path)
	if err != nil {
		return err
	}
	defer in.Close()
	br := bufio.NewReader(in)
	emit := func(r *receipts.Receipt) error {
		if r.Accepted() {
			fn(r)
		}
		return nil
	}
	if isReportCSV(br) {
		err = receipts.ReadCSV(br, emit)
	} else {
		_, err = receipts.Import(ctx, br, receipts.Config{}, emit)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// isReportCSV reports input that starts with the report header.
func isReportCSV(br *bufio.Reader) bool {
	header := strings.Join(receipts.Columns, ",")
	head, _ := br.Peek(len(header))
	return string(head) == header
}

// chartConfig is what "receipts chart" does.
type chartConfig struct {
	// Input is an SMS export, or a report or clean CSV.
	Input string
	// Out is the directory the PNG files go to; it is created if needed.
	Out string
	// Currency picks the money charts' currency; "" the most common one.
	Currency string

	stderr io.Writer
}

func newChartCmd() *cobra.Command {
	var c chartConfig
	cmd := &cobra.Command{
		Use:   "chart FILE",
		Short: "Draw PNG charts of the accepted receipts",
		Long: "Chart draws energy bought over time, spend per month, the distribution of " +
			"amounts and the effective price per kWh. FILE is an SMS export or a CSV " +
			"written by import.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c.Input, c.stderr = args[0], cmd.ErrOrStderr()
			return c.run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&c.Out, "out", "charts", "directory to write the PNG files to")
	cmd.Flags().StringVar(&c.Currency, "currency", "",
		"currency of the money charts (default: the most common)")
	return cmd
}

func (c *chartConfig) run(ctx context.Context) error {
	var rows []receipts.Receipt
	err := eachAccepted(ctx, c.Input, func(r *receipts.Receipt) { rows = append(rows, *r) })
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return fmt.Errorf("chart output: %w", err)
	}
	paths, err := chart.Render(rows, c.Out, chart.Options{Currency: c.Currency})
	if err != nil {
		return fmt.Errorf("%s: %w", c.Input, err)
	}
	for _, p := range paths {
		fmt.Fprintf(c.stderr, "wrote %s\n", p)
	}
	return nil
}

// modelConfig is what "receipts model" does.
type modelConfig struct {
	// Input is an SMS export, or a report or clean CSV.
	Input string
	// Out is the model JSON file; "" or "-" prints it on stdout.
	Out string
	// Fit tunes the fit (currency, hour prior).
	Fit receipts.FitOptions

	stdout, stderr io.Writer
}

func newModelCmd() *cobra.Command {
	var c modelConfig
	cmd := &cobra.Command{
		Use:   "model FILE",
		Short: "Fit a purchase model (amount, interval, hour of day) to the receipts",
		Long: "Model fits how much is bought, how long passes between purchases of a " +
			"meter and at what hour, and writes it as JSON (docs/purchase-model.schema.json) " +
			"for the fleet simulator. FILE is an SMS export or a CSV written by import.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c.Input, c.stdout, c.stderr = args[0], cmd.OutOrStdout(), cmd.ErrOrStderr()
			return c.run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.Out, "out", "", "write the model to this file (default: stdout)")
	f.StringVar(&c.Fit.Currency, "currency", "",
		"fit receipts of this currency (default: the most common)")
	f.Float64Var(&c.Fit.HourPrior, "hour-prior", 0,
		"pseudo-count added to every hour so unseen hours keep a small weight")
	return cmd
}

func (c *modelConfig) run(ctx context.Context) error {
	fitter := receipts.NewModelFitter()
	if err := eachAccepted(ctx, c.Input, fitter.Add); err != nil {
		return err
	}
	m, err := fitter.Fit(c.Fit)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Input, err)
	}
	if c.Out == "" || c.Out == "-" {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	}
	if err := m.WriteFile(c.Out); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "%s: %s model from %d purchases of %d meters, %d intervals "+
		"(median %.1f days), amounts by the %s method\nwrote %s\n", c.Input, m.Currency,
		m.Fitted.Purchases, m.Fitted.Meters, m.Fitted.Intervals, medianHours(m)/24,
		m.Amount.Method, c.Out)
	return nil
}

// medianHours returns the median interval of an empirical model, or the
// log-normal median.
func medianHours(m *receipts.PurchaseModel) float64 {
	if q := m.Interval.QuantilesHours; len(q) > 0 {
		mid := (len(q) - 1) / 2
		if len(q)%2 == 1 {
			return q[mid]
		}
		return (q[mid] + q[mid+1]) / 2
	}
	if m.Interval.LogNormal != nil {
		return math.Exp(m.Interval.LogNormal.Mu)
	}
	return 0
}
