package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stsfleet/stsfleet/bench"
	"github.com/stsfleet/stsfleet/bench/load"
	"github.com/stsfleet/stsfleet/bench/report"
	"github.com/stsfleet/stsfleet/vending"
	"github.com/stsfleet/stsfleet/vending/ledger"
)

// errThresholds is returned when a run finished but did not pass, so that
// the command exits non-zero.
var errThresholds = errors.New("bench did not pass its thresholds")

// benchFlags holds the flags every bench shares.
type benchFlags struct {
	// Rate is the constant target rate per second, or the start rate of
	// Stages (zero there unless given).
	Rate float64
	// Duration is how long a constant rate runs.
	Duration time.Duration
	// Stages is a ramp such as 30s:500,60s:5000,30s:0; it replaces
	// Duration.
	Stages string
	// Transport is mem or tcp.
	Transport string
	// MaxInFlight, Timeout and Drain are bench.Common's.
	MaxInFlight int
	Timeout     time.Duration
	Drain       time.Duration
	// Thresholds are threshold expressions; all must hold.
	Thresholds []string
	// FindMax steps the rate up from Rate by StepRate until a threshold
	// breaks; StepDuration, MaxRate and Refine tune it.
	FindMax      bool
	StepRate     float64
	StepDuration time.Duration
	MaxRate      float64
	Refine       int
	// JSON, CSV and HTML are report files; empty writes none.
	JSON, CSV, HTML string
	// Metrics is the address of a live /metrics while the bench runs;
	// empty serves none.
	Metrics string
	// Quiet turns the progress line off.
	Quiet bool
	// Verbose logs the components' warnings to stderr.
	Verbose bool
	// CPUProfile, when set, is a file for a CPU profile of the run.
	CPUProfile string
	// MemProfile, when set, is a file for the allocation profile.
	MemProfile string

	// changed reports whether a flag was given on the command line.
	changed func(name string) bool
}

// register adds the flags to fs; threshold is an example threshold in the
// bench's own vocabulary, for the help.
func (f *benchFlags) register(fs *pflag.FlagSet, threshold string) {
	fs.Float64Var(&f.Rate, "rate", bench.DefaultRate,
		"target rate per second (with --stages: the ramp's start rate, 0 unless given)")
	fs.DurationVar(&f.Duration, "duration", bench.DefaultDuration, "how long --rate runs")
	fs.StringVar(&f.Stages, "stages", "", "ramp between targets, such as 30s:500,60s:5000,30s:0")
	fs.StringVar(&f.Transport, "transport", bench.TransportMemory, "MQTT transport: mem or tcp")
	fs.IntVar(&f.MaxInFlight, "max-inflight", bench.DefaultMaxInFlight,
		"requests in flight at most; arrivals beyond fail as in_flight_limit")
	fs.DurationVar(&f.Timeout, "timeout", bench.DefaultTimeout,
		"answer within this after the intended send time, or count as timed out")
	fs.DurationVar(&f.Drain, "drain", 0, "wait for the last answers (default 2x --timeout)")
	fs.StringArrayVar(&f.Thresholds, "threshold", nil,
		"must hold for exit 0, such as '"+threshold+"' (repeatable)")
	fs.BoolVar(&f.FindMax, "find-max", false, "step the rate up until a threshold breaks")
	fs.Float64Var(&f.StepRate, "step-rate", 0, "rate added per find-max step (default --rate)")
	fs.DurationVar(&f.StepDuration, "step-duration", 0,
		"how long each find-max step runs (default --duration)")
	fs.Float64Var(&f.MaxRate, "max-rate", 0, "highest rate find-max tries (0: no limit)")
	fs.IntVar(&f.Refine, "refine", 2, "find-max bisection steps after the break (0: none)")
	fs.StringVar(&f.JSON, "json", "", "write the full result as JSON to this file")
	fs.StringVar(&f.CSV, "csv", "", "write the per-second series as CSV to this file")
	fs.StringVar(&f.HTML, "html", "", "write a self-contained HTML report to this file")
	fs.StringVar(&f.Metrics, "metrics", "", "serve live Prometheus metrics on this address")
	fs.BoolVarP(&f.Quiet, "quiet", "q", false, "no progress line")
	fs.BoolVarP(&f.Verbose, "verbose", "v", false, "log the components' warnings to stderr")
	fs.StringVar(&f.CPUProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	fs.StringVar(&f.MemProfile, "memprofile", "",
		"write a profile of the run's allocations to this file")
	f.changed = fs.Changed
}

// validate refuses, before anything starts, a value a flag cannot take,
// naming the flag and what it takes. A flag whose zero stands for a
// default further down refuses a zero given on the command line.
func (f *benchFlags) validate() error {
	switch {
	case f.FindMax && f.Stages != "":
		return errors.New("--find-max runs steps of constant rate: give --rate, not --stages")
	case f.Stages == "" && f.Rate <= 0:
		return fmt.Errorf("--rate %g: want more than 0", f.Rate)
	case f.Rate < 0:
		return fmt.Errorf("--rate %g: want 0 or more", f.Rate)
	case f.Stages == "" && f.Duration <= 0:
		return fmt.Errorf("--duration %s: want more than 0", f.Duration)
	case f.Transport != bench.TransportMemory && f.Transport != bench.TransportTCP:
		return fmt.Errorf("--transport %q: want %s or %s", f.Transport, bench.TransportMemory,
			bench.TransportTCP)
	case f.MaxInFlight < 1:
		return fmt.Errorf("--max-inflight %d: want at least 1", f.MaxInFlight)
	case f.Timeout <= 0:
		return fmt.Errorf("--timeout %s: want more than 0", f.Timeout)
	case f.changed("drain") && f.Drain <= 0:
		return fmt.Errorf("--drain %s: want more than 0 (default 2x --timeout)", f.Drain)
	}
	if !f.FindMax {
		return nil
	}
	switch {
	case f.changed("step-rate") && f.StepRate <= 0:
		return fmt.Errorf("--step-rate %g: want more than 0 (default --rate)", f.StepRate)
	case f.changed("step-duration") && f.StepDuration <= 0:
		return fmt.Errorf("--step-duration %s: want more than 0 (default --duration)",
			f.StepDuration)
	case f.MaxRate < 0:
		return fmt.Errorf("--max-rate %g: want 0 (no limit) or more", f.MaxRate)
	case f.Refine < 0:
		return fmt.Errorf("--refine %d: want 0 or more", f.Refine)
	}
	return nil
}

// common turns the flags into the benches' shared configuration.
func (f *benchFlags) common(names load.Names, stderr io.Writer) (bench.Common, error) {
	c := bench.Common{Transport: f.Transport, MaxInFlight: f.MaxInFlight, Timeout: f.Timeout,
		Drain: f.Drain}
	if err := f.validate(); err != nil {
		return c, err
	}
	rate := f.Rate
	if f.Stages != "" && !f.changed("rate") {
		rate = 0
	}
	var err error
	if f.Stages != "" {
		c.Profile, err = load.ParseStages(f.Stages, rate)
	} else {
		c.Profile = load.Constant(rate, f.Duration)
		if err = c.Profile.Validate(); err != nil {
			err = fmt.Errorf("--rate %g: %w", rate, err)
		}
	}
	if err != nil {
		return c, err
	}
	for _, s := range f.Thresholds {
		th, err := bench.ParseThreshold(names, s)
		if err != nil {
			return c, err
		}
		c.Thresholds = append(c.Thresholds, th)
	}
	if f.FindMax {
		start := rate
		if start == 0 {
			start = c.Profile.Peak()
		}
		if f.MaxRate > 0 && f.MaxRate < start {
			return c, fmt.Errorf("--max-rate %g: below the start rate %g: want at least "+
				"--rate, or 0 for no limit", f.MaxRate, start)
		}
		// The library's zero Refine means its default; none is negative.
		refine := f.Refine
		if refine == 0 {
			refine = -1
		}
		c.FindMax = &bench.FindMax{Start: start, Step: f.StepRate, Max: f.MaxRate,
			StepDuration: f.StepDuration, Refine: refine}
	}
	if !f.Quiet {
		c.Progress = stderr
	}
	if f.Verbose {
		c.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{
			Level: slog.LevelWarn}))
	}
	return c, nil
}

// reportFile is one report the flags ask for: the flag, its path and
// what writes it.
type reportFile struct {
	flag, path string
	write      func(io.Writer, *bench.Report) error
}

// reportFiles returns the report files named on the command line.
func (f *benchFlags) reportFiles() []reportFile {
	var files []reportFile
	for _, r := range []reportFile{{"json", f.JSON, report.WriteJSON},
		{"csv", f.CSV, report.WriteCSV}, {"html", f.HTML, report.WriteHTML}} {
		if r.path != "" {
			files = append(files, r)
		}
	}
	return files
}

// checkOutputs checks, before the bench starts, that every report can be
// written when it ends; the error names each flag and path that cannot.
func (f *benchFlags) checkOutputs() error {
	var errs []error
	for _, r := range f.reportFiles() {
		if err := checkOutputPath(r.path); err != nil {
			errs = append(errs, fmt.Errorf("--%s %s: %w", r.flag, r.path, err))
		}
	}
	return errors.Join(errs...)
}

// finish prints the table, writes each report atomically (one that fails
// does not keep the others from being written) and turns a failed run into
// errThresholds, an interrupted one into an error that exits as the
// signal says.
func (f *benchFlags) finish(ctx context.Context, stdout io.Writer, rep *bench.Report) error {
	if err := report.WriteTable(stdout, rep); err != nil {
		return err
	}
	var errs []error
	for _, r := range f.reportFiles() {
		err := writeFileAtomic(r.path, func(w io.Writer) error { return r.write(w, rep) })
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s %s: %w", r.flag, r.path, err))
		}
	}
	switch {
	case rep.Interrupted:
		// What ran is reported; the exit says it was cut short.
		errs = append(errs, &interruptedError{when: rep.Interruption(),
			cause: context.Cause(ctx)})
	case !rep.Passed:
		errs = append(errs, errThresholds)
	}
	return errors.Join(errs...)
}

// profile starts the CPU profile, if asked for, and returns what stops
// it and writes the profiles asked for: the allocation profile covers the
// whole process, start-up included.
func (f *benchFlags) profile() (stop func() error, err error) {
	var cpu, mem *os.File
	if f.CPUProfile != "" {
		if cpu, err = os.Create(f.CPUProfile); err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
	}
	if f.MemProfile != "" {
		if mem, err = os.Create(f.MemProfile); err != nil {
			if cpu != nil {
				cpu.Close()
			}
			return nil, fmt.Errorf("memory profile: %w", err)
		}
	}
	if cpu != nil {
		if err := pprof.StartCPUProfile(cpu); err != nil {
			cpu.Close()
			if mem != nil {
				mem.Close()
			}
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
	}
	return func() error {
		var errs []error
		if cpu != nil {
			pprof.StopCPUProfile()
			errs = append(errs, cpu.Close())
		}
		if mem != nil {
			err := pprof.Lookup("allocs").WriteTo(mem, 0)
			if err != nil {
				err = fmt.Errorf("memory profile: %w", err)
			}
			errs = append(errs, err, mem.Close())
		}
		return errors.Join(errs...)
	}, nil
}

// serveMetrics serves reg on addr until ctx ends; empty addr serves nothing.
func serveMetrics(ctx context.Context, addr string, reg *prometheus.Registry,
	stderr io.Writer) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	fmt.Fprintf(stderr, "metrics on http://%s/metrics\n", ln.Addr())
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
	}, nil
}

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test the vending path and the broker (open-model, HDR latencies)",
	}
	cmd.AddCommand(newBenchVendCmd(), newBenchBrokerCmd(), newBenchConnectCmd(),
		newBenchServeBrokerCmd())
	return cmd
}

// vendBenchConfig holds the flags of `fleet bench vend`.
type vendBenchConfig struct {
	benchFlags
	// Meters is the embedded fleet's size.
	Meters int
	// Seed makes the embedded fleet reproducible.
	Seed uint64
	// API is http or direct.
	API string
	// Amount is paid per token.
	Amount string
	// HTTPConns caps the connections to the vendor.
	HTTPConns int
	// Batch and BatchWait send purchases in batches.
	Batch     int
	BatchWait time.Duration
	// CompareBroker runs the broker bench's find-max after the vend
	// bench's and reports the pipeline's share of it.
	CompareBroker bool
	// SplitLink gives the embedded vendor separate MQTT connections to
	// publish tokens and to read results.
	SplitLink bool
	// LedgerWindow and LedgerNoSync tune the embedded vendor's ledger.
	LedgerWindow time.Duration
	LedgerNoSync bool
	// Vendor, VendorToken, Broker, BrokerUser, BrokerPassword and Fleet
	// point the bench at an external vendor and broker.
	Vendor, VendorToken                string
	Broker, BrokerUser, BrokerPassword string
	Fleet                              string
}

func newBenchVendCmd() *cobra.Command {
	var c vendBenchConfig
	cmd := &cobra.Command{
		Use:   "vend",
		Short: "Purchase -> token -> MQTT -> meter credit -> result, at a target rate",
		Long: "Runs purchases at an open-model rate through the vending path and measures " +
			"vend_to_issue, issue_to_credit and vend_to_credit per token from its intended " +
			"send time. With no --vendor, broker, vendor and fleet run in this process.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBenchVend(cmd.Context(), c, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	c.register(fs, "p99(vend_to_credit)<50ms")
	fs.IntVar(&c.Meters, "meters", 1000, "meters in the embedded fleet")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the embedded fleet")
	fs.StringVar(&c.API, "api", bench.APIHTTP, "how to reach the embedded vendor: http or direct")
	fs.StringVar(&c.Amount, "amount", bench.DefaultAmount, "amount paid per token")
	fs.IntVar(&c.HTTPConns, "http-conns", bench.DefaultHTTPConns,
		"HTTP connections to the vendor at most")
	fs.IntVar(&c.Batch, "batch", 1,
		"purchases per request: above 1, POST /v1/vend/batch instead of /v1/vend")
	fs.DurationVar(&c.BatchWait, "batch-wait", bench.DefaultBatchWait,
		"send a batch that is not full once its first purchase has waited this long")
	fs.BoolVar(&c.CompareBroker, "compare-broker", false,
		"with --find-max: then find the broker's own top rate on the same transport and\n"+
			"clients, and report the pipeline's share of it")
	fs.BoolVar(&c.SplitLink, "split-link", true,
		"embedded vendor: publish tokens and read results on separate MQTT connections,\n"+
			"as the all-in-one does (false: one connection, as vendor serve)")
	fs.DurationVar(&c.LedgerWindow, "ledger-window", vending.DefaultLedgerWindow,
		"embedded vendor: wait this long for a ledger batch to fill\n"+
			"(0: the vendor's default; negative: no wait)")
	fs.BoolVar(&c.LedgerNoSync, "ledger-nosync", false,
		"embedded vendor: commit the ledger without fsync (SQLite synchronous=NORMAL)")
	fs.StringVar(&c.Vendor, "vendor", "", "external vendor API URL (needs --broker and --fleet)")
	fs.StringVar(&c.VendorToken, "vendor-token", os.Getenv("STSFLEET_VENDOR_TOKEN"),
		"external vendor's bearer token (default $STSFLEET_VENDOR_TOKEN)")
	fs.StringVar(&c.Broker, "broker", "", "external broker URL to read results from")
	fs.StringVar(&c.BrokerUser, "broker-user", "vendor", "account allowed to read results")
	fs.StringVar(&c.BrokerPassword, "broker-password", os.Getenv("STSFLEET_BROKER_PASSWORD"),
		"its password (default $STSFLEET_BROKER_PASSWORD)")
	fs.StringVar(&c.Fleet, "fleet", "", "fleet definition of the external vendor's meters")
	return cmd
}

// validate refuses the vend bench's own flags that cannot be run, as
// [benchFlags.validate] does the shared ones.
func (c *vendBenchConfig) validate() error {
	switch {
	case c.Meters < 1:
		return fmt.Errorf("--meters %d: want at least 1", c.Meters)
	case c.Vendor == "" && vending.CheckAmount(c.Amount) != nil:
		return fmt.Errorf("--amount %q: %v", c.Amount, vending.CheckAmount(c.Amount))
	case c.API != bench.APIHTTP && c.API != bench.APIDirect:
		return fmt.Errorf("--api %q: want %s or %s", c.API, bench.APIHTTP, bench.APIDirect)
	case c.HTTPConns < 1:
		return fmt.Errorf("--http-conns %d: want at least 1", c.HTTPConns)
	case c.Batch < 1 || c.Batch > vending.MaxBatchVends:
		return fmt.Errorf("--batch %d: want 1 to %d", c.Batch, vending.MaxBatchVends)
	case c.BatchWait <= 0:
		return fmt.Errorf("--batch-wait %s: want more than 0", c.BatchWait)
	case c.LedgerWindow > vending.MaxLedgerWindow:
		return fmt.Errorf("--ledger-window %s: want at most %s (0: the vendor's default; "+
			"negative: no wait)", c.LedgerWindow, vending.MaxLedgerWindow)
	case c.CompareBroker && (!c.FindMax || c.Vendor != ""):
		return errors.New("--compare-broker: want --find-max and the embedded vendor " +
			"(no --vendor)")
	}
	return nil
}

func runBenchVend(ctx context.Context, c vendBenchConfig, stdout, stderr io.Writer) error {
	if err := c.validate(); err != nil {
		return err
	}
	common, err := c.common(bench.VendNames, stderr)
	if err != nil {
		return err
	}
	if err := c.checkOutputs(); err != nil {
		return err
	}
	reg := newRegistry()
	common.Registerer = reg
	cfg := bench.VendConfig{Common: common, Meters: c.Meters, Seed: c.Seed, API: c.API,
		Amount: c.Amount, HTTPConns: c.HTTPConns, Batch: c.Batch, BatchWait: c.BatchWait,
		SplitLink: c.SplitLink,
		Ledger:    ledger.Options{Window: c.LedgerWindow, NoSync: c.LedgerNoSync},
		VendorURL: c.Vendor, VendorToken: c.VendorToken,
		BrokerURL: c.Broker, BrokerUser: c.BrokerUser, BrokerPassword: c.BrokerPassword}
	if c.Fleet != "" {
		if cfg.Definition, err = vending.LoadDefinition(c.Fleet); err != nil {
			return err
		}
	}
	stop, err := serveMetrics(ctx, c.Metrics, reg, stderr)
	if err != nil {
		return err
	}
	defer stop()
	stopProfile, err := c.profile()
	if err != nil {
		return err
	}
	rep, err := bench.RunVend(ctx, cfg)
	if err == nil && c.CompareBroker {
		err = bench.BrokerBaseline(ctx, cfg, rep)
	}
	if perr := stopProfile(); err == nil {
		err = perr
	}
	if err != nil {
		return err
	}
	return c.finish(ctx, stdout, rep)
}

// brokerBenchConfig holds the flags of `fleet bench broker`.
type brokerBenchConfig struct {
	benchFlags
	// Clients, Vendors, Payload and Split are bench.BrokerConfig's.
	Clients, Vendors, Payload int
	Split                     bool
}

func newBenchBrokerCmd() *cobra.Command {
	var c brokerBenchConfig
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Raw MQTT QoS 1 round trips through the embedded broker, at a target rate",
		Long: "A vendor account publishes each probe to a meter's token topic and the meter " +
			"publishes it back on its result topic: the two QoS 1 legs of a token, without " +
			"STS or vending, to set the pipeline's rate against.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBenchBroker(cmd.Context(), c, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	c.register(fs, "p99(round_trip)<20ms")
	fs.IntVar(&c.Clients, "clients", 100, "meter clients")
	fs.IntVar(&c.Vendors, "vendors", 1, "vendor connections publishing and reading results")
	fs.IntVar(&c.Payload, "payload", 200, "probe size in bytes")
	fs.BoolVar(&c.Split, "split", true,
		"read echoes on their own connections, not on the publishing ones,\n"+
			"as the all-in-one's vendor does (false: one connection, as vendor serve)")
	return cmd
}

// validate refuses the broker bench's own flags that cannot be run.
func (c *brokerBenchConfig) validate() error {
	switch {
	case c.Clients < 1:
		return fmt.Errorf("--clients %d: want at least 1", c.Clients)
	case c.Vendors < 1:
		return fmt.Errorf("--vendors %d: want at least 1", c.Vendors)
	case c.Payload < bench.MinPayload || c.Payload > bench.MaxPayload:
		return fmt.Errorf("--payload %d: want %d to %d bytes", c.Payload, bench.MinPayload,
			bench.MaxPayload)
	}
	return nil
}

func runBenchBroker(ctx context.Context, c brokerBenchConfig, stdout, stderr io.Writer) error {
	if err := c.validate(); err != nil {
		return err
	}
	common, err := c.common(bench.BrokerNames, stderr)
	if err != nil {
		return err
	}
	if err := c.checkOutputs(); err != nil {
		return err
	}
	reg := newRegistry()
	common.Registerer = reg
	stop, err := serveMetrics(ctx, c.Metrics, reg, stderr)
	if err != nil {
		return err
	}
	defer stop()
	stopProfile, err := c.profile()
	if err != nil {
		return err
	}
	rep, err := bench.RunBroker(ctx, bench.BrokerConfig{Common: common, Clients: c.Clients,
		Vendors: c.Vendors, Payload: c.Payload, Split: c.Split})
	if perr := stopProfile(); err == nil {
		err = perr
	}
	if err != nil {
		return err
	}
	return c.finish(ctx, stdout, rep)
}
