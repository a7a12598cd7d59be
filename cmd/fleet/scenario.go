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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stsfleet/stsfleet/fleet/stack"
	"github.com/stsfleet/stsfleet/scenarios"
	"github.com/stsfleet/stsfleet/statuspage"
)

// Exit codes of `fleet run FILE...`.
const (
	exitFailed  = 1
	exitInvalid = 2
)

// exitError carries the exit code a command wants; the error has been
// reported already.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// ExitCode returns the process exit code.
func (e *exitError) ExitCode() int { return e.code }

// exitCode maps a command's error to the process exit code: the code an
// [exitError] carries, 128 + the signal's number for a run a signal
// interrupted, 1 for any other error, 0 for none.
func exitCode(err error) int {
	var (
		ee *exitError
		se signalError
	)
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, errInterrupted) && errors.As(err, &se):
		return se.exitCode()
	}
	return exitFailed
}

// scenarioConfig is what `fleet run FILE...` reads from its flags.
type scenarioConfig struct {
	// Report is the file the JSON report goes to; empty writes none.
	Report string
	// Serve keeps /metrics up on HTTPListen while the scenarios run.
	Serve      bool
	HTTPListen string
	// Broker, FleetSecret and the vendor-role account point the
	// scenarios at an external broker; Vendor and VendorToken at an
	// external vending service.
	Broker, FleetSecret, User, Password string
	Vendor, VendorToken                 string
	LogLevel                            string
	// NoAnalytics runs the scenarios without NATS, the bridge and
	// analytics beside their embedded broker.
	NoAnalytics bool
}

// withScenarioFiles makes `fleet run` take scenario files: with files it
// runs each as a scenario, without any it is the all-in-one run as before.
func withScenarioFiles(run *cobra.Command) *cobra.Command {
	allInOne := run.RunE
	var report string
	run.Use = "run [FILE...]"
	run.Args = cobra.ArbitraryArgs
	run.Long = "Without arguments, run the fleet through simulated days and print the summary.\n\n" +
		"With scenario files (or the names of shipped scenarios, see `fleet scenarios list`),\n" +
		"run each scenario on its own fleet, by default with its own embedded broker,\n" +
		"vendor and analytics, and print a report of every expectation. --broker and\n" +
		"--vendor point the scenarios at external ones. Exit status 1 when an expectation\n" +
		"fails, 2 when a file is invalid or the --report file cannot be written (nothing\n" +
		"runs then)."
	run.Flags().StringVar(&report, "report", "", "with scenario files: write the report to "+
		"this file as JSON (checked before the run, written whole at its end)")
	run.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return allInOne(cmd, args)
		}
		cfg := scenarioFlags(cmd.Flags())
		cfg.Report = report
		code := runScenarioFiles(cmd.Context(), cfg, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		if code != 0 {
			cmd.SilenceErrors = true
			return &exitError{code: code}
		}
		return nil
	}
	return run
}

// scenarioFlags reads the run's flags that scenarios share with it.
func scenarioFlags(f *pflag.FlagSet) scenarioConfig {
	get := func(name string) string {
		v, _ := f.GetString(name)
		return v
	}
	serve, _ := f.GetBool("serve")
	noAnalytics, _ := f.GetBool("no-analytics")
	return scenarioConfig{Serve: serve, NoAnalytics: noAnalytics,
		HTTPListen: get("http-listen"), Broker: get("broker"),
		FleetSecret: get("fleet-secret"), User: get("vendor-user"),
		Password: get("vendor-password"), Vendor: get("vendor"),
		VendorToken: get("vendor-token"), LogLevel: get("log-level")}
}

// runScenarioFiles validates every file, then runs the scenarios one after
// the other and reports them. It returns the exit code.
func runScenarioFiles(ctx context.Context, cfg scenarioConfig, files []string,
	stdout, stderr io.Writer) int {
	var all []*scenarios.Scenario
	invalid := false
	for _, f := range files {
		sc, err := loadScenario(f)
		if err != nil {
			fmt.Fprintln(stderr, err)
			invalid = true
			continue
		}
		all = append(all, sc)
	}
	// A report that cannot be written would be found out only after the
	// whole run.
	if cfg.Report != "" {
		if err := checkOutputPath(cfg.Report); err != nil {
			fmt.Fprintf(stderr, "--report %s: %v\n", cfg.Report, err)
			invalid = true
		}
	}
	if invalid {
		return exitInvalid
	}
	stack, err := cfg.stackConfig(stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	var current atomic.Pointer[prometheus.Registry]
	if cfg.Serve {
		stop, err := serveScenarioMetrics(ctx, cfg.HTTPListen, &current, stderr)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitFailed
		}
		defer stop()
	}
	var reports []*scenarios.Report
	code := 0
	for _, sc := range all {
		reg := prometheus.NewRegistry()
		current.Store(reg)
		stack.Registerer = reg
		rep := scenarios.RunScenario(ctx, sc, stack)
		reports = append(reports, rep)
		rep.WriteText(stdout)
		if !rep.Passed {
			code = exitFailed
		}
	}
	if cfg.Report != "" {
		if err := writeReport(cfg.Report, reports); err != nil {
			fmt.Fprintln(stderr, err)
			return exitFailed
		}
	}
	return code
}

// loadScenario reads a scenario file, or a shipped scenario by name when
// no such file exists.
func loadScenario(arg string) (*scenarios.Scenario, error) {
	if _, err := os.Stat(arg); errors.Is(err, os.ErrNotExist) {
		if data, ok := scenarios.ShippedFile(arg); ok {
			return scenarios.Parse(strings.TrimSuffix(arg, ".yaml")+".yaml", data)
		}
	}
	return scenarios.LoadFile(arg)
}

func (cfg scenarioConfig) stackConfig(stderr io.Writer) (scenarios.StackConfig, error) {
	var sc scenarios.StackConfig
	level := slog.LevelWarn
	if cfg.LogLevel != "" {
		if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
			return sc, fmt.Errorf("--log-level %q: want debug, info, warn or error",
				cfg.LogLevel)
		}
	}
	sc.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if cfg.Vendor != "" && cfg.Broker == "" {
		return sc, errors.New("--vendor needs --broker: an external vendor cannot reach " +
			"the scenario's embedded broker")
	}
	if cfg.Broker != "" {
		secret, err := secretArg(cfg.FleetSecret)
		if err != nil {
			return sc, fmt.Errorf("--fleet-secret: %w", err)
		}
		password, err := secretArg(cfg.Password)
		if err != nil {
			return sc, fmt.Errorf("--vendor-password: %w", err)
		}
		if secret == "" || cfg.User == "" {
			return sc, errors.New("--broker needs --fleet-secret and a vendor account " +
				"(--vendor-user, --vendor-password) to run scenarios")
		}
		sc.BrokerURL, sc.FleetSecret = cfg.Broker, []byte(secret)
		sc.Username, sc.Password = cfg.User, password
	}
	if cfg.Vendor != "" {
		token, err := secretArg(cfg.VendorToken)
		if err != nil {
			return sc, fmt.Errorf("--vendor-token: %w", err)
		}
		sc.VendorURL, sc.VendorToken = strings.TrimSuffix(cfg.Vendor, "/"), token
	}
	// Each scenario runs with its own analytics, as the all-in-one does,
	// so served metrics include fraud attempts and energy; beside an
	// external broker analytics has no account.
	if !cfg.NoAnalytics && cfg.Broker == "" {
		sc.Analytics = stack.NATSAnalytics("", sc.Logger)
	}
	return sc, nil
}

// secretArg reads a secret given literally or as @FILE.
func secretArg(arg string) (string, error) {
	path, ok := strings.CutPrefix(arg, "@")
	if !ok {
		return arg, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}

// writeReport writes the JSON report atomically.
func writeReport(path string, reports []*scenarios.Report) error {
	err := writeFileAtomic(path, func(w io.Writer) error {
		return scenarios.WriteJSON(w, reports)
	})
	if err != nil {
		return fmt.Errorf("--report %s: %w", path, err)
	}
	return nil
}

// registryGatherer gathers from the registry of the scenario running now.
type registryGatherer struct {
	current *atomic.Pointer[prometheus.Registry]
}

func (g registryGatherer) Gather() ([]*dto.MetricFamily, error) {
	if r := g.current.Load(); r != nil {
		return r.Gather()
	}
	return nil, nil
}

// serveScenarioMetrics serves /metrics of the running scenario, and the
// status page over them at /, until stop.
func serveScenarioMetrics(ctx context.Context, addr string,
	current *atomic.Pointer[prometheus.Registry], stderr io.Writer) (stop func(), err error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	page, err := statuspage.New(statuspage.Config{Gatherer: registryGatherer{current},
		Title: "stsfleet scenarios"})
	if err != nil {
		return nil, fmt.Errorf("--serve: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--serve: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(registryGatherer{current},
		promhttp.HandlerOpts{}))
	mux.Handle("GET /{$}", page)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	pctx, stopPage := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { srv.Serve(ln) })
	wg.Go(func() { page.Run(pctx) })
	fmt.Fprintf(stderr, "metrics: http://%s/metrics\nstatus:  http://%s/\n", ln.Addr(),
		ln.Addr())
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		stopPage()
		wg.Wait()
	}, nil
}

// newScenariosCmd is `fleet scenarios`: the shipped scenarios.
func newScenariosCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "scenarios", Short: "The scenarios shipped with the product"}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the shipped scenarios with their descriptions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return listScenarios(cmd.OutOrStdout())
		},
	}, &cobra.Command{
		Use:   "show NAME",
		Short: "Print a shipped scenario's file",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, ok := scenarios.ShippedFile(args[0])
			if !ok {
				return fmt.Errorf("no shipped scenario %q: see fleet scenarios list", args[0])
			}
			_, err := cmd.OutOrStdout().Write(data)
			return err
		},
	}, &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of scenario files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(scenarios.Schema)
			return err
		},
	})
	return cmd
}

func listScenarios(w io.Writer) error {
	all, err := scenarios.Shipped()
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, sc := range all {
		fmt.Fprintf(&b, "%-20s %s\n", sc.Name, wrap(sc.Description, 58, 21))
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// wrap breaks text into lines of at most width columns, indenting the
// continuation lines.
func wrap(text string, width, indent int) string {
	var b strings.Builder
	col := 0
	for _, word := range strings.Fields(text) {
		if col > 0 && col+1+len(word) > width {
			b.WriteString("\n" + strings.Repeat(" ", indent))
			col = 0
		} else if col > 0 {
			b.WriteString(" ")
			col++
		}
		b.WriteString(word)
		col += len(word)
	}
	return b.String()
}
