package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stsfleet/stsfleet/fleet"
	"github.com/stsfleet/stsfleet/fleet/stack"
	"github.com/stsfleet/stsfleet/meter"
	"github.com/stsfleet/stsfleet/simclock"
	"github.com/stsfleet/stsfleet/vending"
)

// runConfig holds the flags of the run: `fleet` alone, or `fleet run`.
type runConfig struct {
	// Meters is the size of the generated fleet (without --fleet).
	Meters int
	// Mix weighs the generated fleet's utilities, "electricity=80,...".
	Mix string
	// Seed makes the generated fleet and the customers reproducible.
	Seed uint64

	// SimDays, Duration and SimSpeed: simulated span, wall time and
	// speed; any two decide the third.
	SimDays  float64
	Duration time.Duration
	SimSpeed float64
	// SimStart and SimEpoch fix the clock: the simulated time at the
	// wall time SimEpoch (RFC 3339; empty means now).
	SimStart, SimEpoch string

	Step              time.Duration
	TelemetryInterval time.Duration
	TelemetryQoS      int
	ConnectRate       float64
	// Buy and BuyBelow are per utility: "electricity=100,200,500" and
	// "electricity=3".
	Buy, BuyBelow []string
	PurchaseModel string

	// External parts and their credentials.
	Broker, FleetSecret, VendorUser, VendorPassword string
	Vendor, VendorToken                             string
	FleetFile, KeysFile, VendingKeys                string
	Transport                                       string
	MQTTListen, VendorListen, HTTPListen, DB        string

	// NoAnalytics turns analytics off; NATS is an external NATS server;
	// AnalyticsUser and AnalyticsPassword the broker's analytics account.
	NoAnalytics                      bool
	NATS                             string
	AnalyticsUser, AnalyticsPassword string

	State, Events, Shard string
	Summary              string
	Serve, Quiet         bool
	Drain                time.Duration
	LogLevel             string

	changed func(name string) bool
}

func defaultRunConfig() runConfig {
	return runConfig{
		Meters: 1000, SimDays: 3, Duration: time.Minute,
		Step: fleet.DefaultStep, TelemetryInterval: fleet.DefaultTelemetryInterval,
		ConnectRate: fleet.DefaultConnectRate, Transport: stack.TransportMemory,
		Drain: stack.DefaultDrain, LogLevel: "warn",
	}
}

// addRunFlags binds the run's flags to cfg.
func addRunFlags(cmd *cobra.Command, cfg *runConfig) {
	f := cmd.Flags()
	f.IntVar(&cfg.Meters, "meters", cfg.Meters, "meters of the generated fleet")
	f.StringVar(&cfg.Mix, "mix", "", "utility mix of the generated fleet, such as "+
		"electricity=80,water=15,gas=5")
	f.Uint64Var(&cfg.Seed, "seed", 0, "seed of the generated fleet and the customers")
	f.Float64Var(&cfg.SimDays, "sim-days", cfg.SimDays, "simulated days the run covers")
	f.DurationVar(&cfg.Duration, "duration", cfg.Duration, "wall time the run takes")
	f.Float64Var(&cfg.SimSpeed, "sim-speed", 0,
		"simulated seconds per wall second (default: sim-days over duration; 1 against "+
			"external servers)")
	f.StringVar(&cfg.SimStart, "sim-start", "", "simulated start time, RFC 3339 (default now, "+
		"or where the last run on --state stopped)")
	f.StringVar(&cfg.SimEpoch, "sim-epoch", "",
		"wall time at which the clock reads --sim-start, RFC 3339 (default now)")
	f.DurationVar(&cfg.Step, "step", cfg.Step, "simulated time between a meter's wake-ups")
	f.DurationVar(&cfg.TelemetryInterval, "telemetry-interval", cfg.TelemetryInterval,
		"simulated time between readings; negative sends only each meter's final one")
	f.IntVar(&cfg.TelemetryQoS, "telemetry-qos", 0, "QoS of periodic readings, 0 or 1")
	f.Float64Var(&cfg.ConnectRate, "connect-rate", cfg.ConnectRate, "meter connections per second")
	f.StringArrayVar(&cfg.Buy, "buy", nil,
		"amounts customers pay, one drawn per purchase: UTILITY=A,B,... (repeatable)")
	f.StringArrayVar(&cfg.BuyBelow, "buy-below", nil,
		"balance under which customers buy: UTILITY=UNITS (repeatable)")
	f.StringVar(&cfg.PurchaseModel, "purchase-model", "",
		"purchase model JSON fitted from receipts, for electricity amounts")
	f.StringVar(&cfg.Broker, "broker", "", "external MQTT broker URL, tcp://host:port")
	f.StringVar(&cfg.FleetSecret, "fleet-secret", "", "fleet secret of an external broker, @FILE")
	f.StringVar(&cfg.VendorUser, "vendor-user", "", "vendor's MQTT username (embedded vendor)")
	f.StringVar(&cfg.VendorPassword, "vendor-password", "", "vendor's MQTT password, @FILE")
	f.StringVar(&cfg.Vendor, "vendor", "", "external vendor URL, http://host:port")
	f.StringVar(&cfg.VendorToken, "vendor-token", "", "vendor API bearer token, @FILE")
	f.StringVar(&cfg.FleetFile, "fleet", "", "fleet definition file (default: generate one)")
	f.StringVar(&cfg.KeysFile, "keys", "", "decoder key injection file of --fleet")
	f.StringVar(&cfg.VendingKeys, "vending-keys", "",
		"vending key store of --fleet, for the embedded vendor")
	f.BoolVar(&cfg.NoAnalytics, "no-analytics", false,
		"run without NATS and analytics (telemetry_aggregated stays 0)")
	f.StringVar(&cfg.NATS, "nats", "", "external NATS URL (default: an embedded server)")
	f.StringVar(&cfg.AnalyticsUser, "analytics-user", "",
		"analytics' MQTT username on an external broker")
	f.StringVar(&cfg.AnalyticsPassword, "analytics-password", "",
		"analytics' MQTT password on an external broker, @FILE; without it analytics is off "+
			"there")
	f.StringVar(&cfg.Transport, "transport", cfg.Transport,
		"meters' transport to the embedded broker: memory or tcp")
	f.StringVar(&cfg.MQTTListen, "mqtt-listen", "", "embedded broker's TCP address "+
		"(default 127.0.0.1, a free port)")
	f.StringVar(&cfg.VendorListen, "vendor-listen", "", "embedded vendor's HTTP address")
	f.StringVar(&cfg.HTTPListen, "http-listen", "", "fleet API and /metrics HTTP address")
	f.StringVar(&cfg.DB, "db", "", "embedded vendor's SQLite ledger (default: vendor.db in "+
		"--state, else a temporary file)")
	f.StringVar(&cfg.State, "state", "", "directory to keep the run in and continue it from "+
		"(meters; with the embedded vendor its ledger, vendor.db, and a generated fleet's keys)")
	f.StringVar(&cfg.Events, "events", "", "file to append every token outcome to, NDJSON")
	f.StringVar(&cfg.Shard, "shard", "", "run a slice of the fleet, i/n")
	f.StringVar(&cfg.Summary, "summary", "", "file to write the summary to, JSON")
	f.BoolVar(&cfg.Serve, "serve", false, "keep everything running after the run")
	f.BoolVar(&cfg.Quiet, "quiet", false, "no progress line")
	f.DurationVar(&cfg.Drain, "drain", cfg.Drain, "longest wait for outstanding tokens")
	f.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	cfg.changed = func(name string) bool { return f.Changed(name) }
}

// newRunCmd returns `fleet run`.
func newRunCmd() *cobra.Command {
	cfg := defaultRunConfig()
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run a fleet through simulated days and print the summary (the default)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAll(cmd.Context(), cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	addRunFlags(cmd, &cfg)
	return cmd
}

// Errors of the run.
var (
	// errConservation is returned when the run's conservation checks fail.
	errConservation = errors.New("conservation failed")
	// errInterrupted is returned when the run's context ended before its
	// simulated span did.
	errInterrupted = errors.New("run interrupted")
)

// interruptedError is an interrupted run: [errInterrupted] and the cause,
// such as a [signalError].
type interruptedError struct {
	// when says how far the run got and why it stopped.
	when  string
	cause error
}

func (e *interruptedError) Error() string { return errInterrupted.Error() + " " + e.when }

func (e *interruptedError) Unwrap() []error { return []error{errInterrupted, e.cause} }

// runAll is the run: start the stack, live through the simulated span,
// drain, print and write the summary.
func runAll(ctx context.Context, cfg runConfig, stdout, stderr io.Writer) error {
	sc, rc, err := cfg.stackConfig(stderr)
	if err != nil {
		return err
	}
	if cfg.Events != "" {
		// Outcomes carry tokens, spendable credit until typed in: 0600.
		f, err := os.OpenFile(cfg.Events, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("--events: %w", err)
		}
		defer f.Close()
		sc.Fleet.Events = f
	}
	s, err := stack.Start(ctx, sc)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		s.Shutdown(sctx)
	}()
	if cfg.Serve {
		printAddrs(stderr, s.Addrs())
	}
	sum, err := s.Run(ctx, rc)
	if err != nil {
		return err
	}
	if err := sum.WriteTable(stdout); err != nil {
		return err
	}
	if cfg.Summary != "" {
		if err := writeSummary(cfg.Summary, &sum); err != nil {
			return err
		}
	}
	if cfg.Serve {
		fmt.Fprintln(stderr, "serving until interrupted")
		printAddrs(stderr, s.Addrs())
		<-ctx.Done()
	}
	var errs []error
	if sum.Interrupted {
		errs = append(errs, &interruptedError{when: sum.Interruption(),
			cause: context.Cause(ctx)})
	}
	if !sum.Passed {
		errs = append(errs, fmt.Errorf("%w: %s", errConservation,
			strings.Join(sum.Failures(), "; ")))
	}
	return errors.Join(errs...)
}

func printAddrs(w io.Writer, a stack.Addrs) {
	fmt.Fprintf(w, "mqtt       %s\nvendor     %s\nfleet      %s\nmetrics    %s\n",
		a.MQTT, a.Vendor, a.Fleet, a.Metrics)
	if a.Analytics != "" {
		fmt.Fprintf(w, "nats       %s\nanalytics  %s\n", a.NATS, a.Analytics)
	}
}

func writeSummary(path string, sum *stack.Summary) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--summary: %w", err)
	}
	if err := sum.WriteJSON(f); err != nil {
		f.Close()
		return fmt.Errorf("--summary: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--summary: %w", err)
	}
	return nil
}

// clock builds the simulated clock and the simulated span from the
// flags: any two of span, duration and speed decide the third.
func (cfg *runConfig) clock() (*simclock.Clock, time.Duration, error) {
	start, epoch := time.Now(), time.Now()
	var err error
	switch {
	case cfg.SimStart != "":
		if start, err = time.Parse(time.RFC3339, cfg.SimStart); err != nil {
			return nil, 0, fmt.Errorf("--sim-start: %w", err)
		}
	case cfg.State != "" && cfg.Vendor == "":
		// A continued run goes on from the simulated time the last one
		// stopped at. An external vendor keeps its own clock, which the
		// fleet's must agree with.
		t, ok, err := stack.ResumeTime(cfg.State)
		if err != nil {
			return nil, 0, fmt.Errorf("--state: %w", err)
		}
		if ok {
			start = t
		}
	}
	if cfg.SimEpoch != "" {
		if epoch, err = time.Parse(time.RFC3339, cfg.SimEpoch); err != nil {
			return nil, 0, fmt.Errorf("--sim-epoch: %w", err)
		}
	}
	span := time.Duration(cfg.SimDays * float64(24*time.Hour))
	speed := cfg.SimSpeed
	external := cfg.Broker != "" || cfg.Vendor != ""
	switch {
	case cfg.changed("sim-speed") && cfg.changed("duration") && cfg.changed("sim-days"):
		return nil, 0, errors.New("give at most two of --sim-days, --duration and --sim-speed")
	case cfg.changed("sim-speed") && cfg.changed("duration"):
		span = time.Duration(float64(cfg.Duration) * speed)
	case cfg.changed("sim-speed"):
	case external && !cfg.changed("duration"):
		// Separate processes agree on real time unless told otherwise.
		speed = 1
	default:
		speed = float64(span) / float64(cfg.Duration)
	}
	if speed <= 0 {
		return nil, 0, errors.New("--sim-speed must be positive")
	}
	return &simclock.Clock{Start: start, Speed: speed, Epoch: epoch}, span, nil
}

// validate checks the numeric flags. A flag whose zero would mean the
// default further down is refused when given as zero: its default is
// already the flag's.
func (cfg *runConfig) validate() error {
	switch {
	case cfg.Meters < 1:
		return fmt.Errorf("--meters %d: want at least 1", cfg.Meters)
	case cfg.SimDays <= 0:
		return fmt.Errorf("--sim-days %g: want more than 0", cfg.SimDays)
	case cfg.Duration <= 0:
		return fmt.Errorf("--duration %s: want more than 0", cfg.Duration)
	case cfg.changed("sim-speed") && cfg.SimSpeed <= 0:
		return fmt.Errorf("--sim-speed %g: want more than 0", cfg.SimSpeed)
	case cfg.Step <= 0:
		return fmt.Errorf("--step %s: want more than 0", cfg.Step)
	case cfg.TelemetryInterval == 0:
		return errors.New("--telemetry-interval 0: want more than 0, or negative for " +
			"final readings only")
	case cfg.ConnectRate <= 0:
		return fmt.Errorf("--connect-rate %g: want more than 0", cfg.ConnectRate)
	case cfg.Drain <= 0:
		return fmt.Errorf("--drain %s: want more than 0", cfg.Drain)
	}
	return nil
}

// stackConfig turns the flags into the stack's and the run's
// configuration. Errors name the flag.
func (cfg *runConfig) stackConfig(stderr io.Writer) (stack.Config, stack.RunConfig, error) {
	var sc stack.Config
	if err := cfg.validate(); err != nil {
		return sc, stack.RunConfig{}, err
	}
	clock, span, err := cfg.clock()
	if err != nil {
		return sc, stack.RunConfig{}, err
	}
	level, err := parseLevel(cfg.LogLevel)
	if err != nil {
		return sc, stack.RunConfig{}, err
	}
	sc = stack.Config{
		Meters: cfg.Meters, Seed: cfg.Seed, Clock: clock,
		BrokerURL: cfg.Broker, BrokerListen: cfg.MQTTListen, Transport: cfg.Transport,
		VendorUser: cfg.VendorUser, VendorURL: cfg.Vendor, VendorListen: cfg.VendorListen,
		DBPath: cfg.DB, HTTPListen: cfg.HTTPListen,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}
	if cfg.Transport != stack.TransportMemory && cfg.Transport != stack.TransportTCP {
		return sc, stack.RunConfig{}, fmt.Errorf("--transport %q: want memory or tcp",
			cfg.Transport)
	}
	if cfg.Mix != "" {
		if sc.Mix, err = vending.ParseMix(cfg.Mix); err != nil {
			return sc, stack.RunConfig{}, fmt.Errorf("--mix: %w", err)
		}
	}
	if err := cfg.secrets(&sc); err != nil {
		return sc, stack.RunConfig{}, err
	}
	if err := cfg.fleetFiles(&sc); err != nil {
		return sc, stack.RunConfig{}, err
	}
	cfg.analytics(&sc)
	if sc.Fleet, err = cfg.fleetConfig(); err != nil {
		return sc, stack.RunConfig{}, err
	}
	rc := stack.RunConfig{SimDuration: span, Drain: cfg.Drain}
	if !cfg.Quiet {
		rc.Progress = stderr
	}
	return sc, rc, nil
}

func (cfg *runConfig) secrets(sc *stack.Config) error {
	var err error
	if cfg.FleetSecret != "" {
		s, err := readSecret(cfg.FleetSecret)
		if err != nil {
			return fmt.Errorf("--fleet-secret: %w", err)
		}
		sc.FleetSecret = []byte(s)
	}
	if cfg.VendorPassword != "" {
		if sc.VendorPassword, err = readSecret(cfg.VendorPassword); err != nil {
			return fmt.Errorf("--vendor-password: %w", err)
		}
	}
	if cfg.VendorToken != "" {
		if sc.VendorToken, err = readSecret(cfg.VendorToken); err != nil {
			return fmt.Errorf("--vendor-token: %w", err)
		}
	}
	if cfg.AnalyticsPassword != "" {
		if sc.AnalyticsPassword, err = readSecret(cfg.AnalyticsPassword); err != nil {
			return fmt.Errorf("--analytics-password: %w", err)
		}
	}
	return nil
}

// analytics turns on NATS and analytics: always beside an embedded broker,
// against an external one when it has an analytics account.
func (cfg *runConfig) analytics(sc *stack.Config) {
	if cfg.NoAnalytics || cfg.Broker != "" && sc.AnalyticsPassword == "" {
		return
	}
	if sc.AnalyticsPassword == "" {
		b := make([]byte, 16)
		rand.Read(b)
		sc.AnalyticsPassword = hex.EncodeToString(b)
	}
	sc.AnalyticsUser = cfg.AnalyticsUser
	sc.Analytics = stack.NATSAnalytics(cfg.NATS, sc.Logger)
}

func (cfg *runConfig) fleetFiles(sc *stack.Config) error {
	var err error
	if (cfg.FleetFile == "") != (cfg.KeysFile == "") {
		return errors.New("--fleet and --keys go together")
	}
	if cfg.FleetFile == "" {
		return nil
	}
	if sc.Definition, err = vending.LoadDefinition(cfg.FleetFile); err != nil {
		return fmt.Errorf("--fleet: %w", err)
	}
	if sc.Injection, err = vending.LoadInjection(cfg.KeysFile); err != nil {
		return fmt.Errorf("--keys: %w", err)
	}
	if cfg.VendingKeys != "" {
		if sc.Keys, err = vending.LoadKeyStore(cfg.VendingKeys); err != nil {
			return fmt.Errorf("--vending-keys: %w", err)
		}
	}
	return nil
}

func (cfg *runConfig) fleetConfig() (fleet.Config, error) {
	fc := fleet.Config{
		Step: cfg.Step, TelemetryInterval: cfg.TelemetryInterval,
		TelemetryQoS: byte(cfg.TelemetryQoS), ConnectRate: cfg.ConnectRate,
		StateDir: cfg.State, Seed: cfg.Seed,
	}
	if cfg.TelemetryQoS < 0 || cfg.TelemetryQoS > 1 {
		return fc, fmt.Errorf("--telemetry-qos %d: want 0 or 1", cfg.TelemetryQoS)
	}
	if cfg.Shard != "" {
		sh, err := fleet.ParseShard(cfg.Shard)
		if err != nil {
			return fc, fmt.Errorf("--shard: %w", err)
		}
		fc.Shard = sh
	}
	p, err := cfg.purchases()
	if err != nil {
		return fc, err
	}
	fc.Purchases = p
	return fc, nil
}

func (cfg *runConfig) purchases() (fleet.PurchasePolicy, error) {
	p := fleet.PurchasePolicy{Below: map[vending.Utility]meter.Milli{},
		Amounts: map[vending.Utility]fleet.Sampler{}}
	for _, kv := range cfg.Buy {
		u, v, err := utilityValue(kv)
		if err != nil {
			return p, fmt.Errorf("--buy: %w", err)
		}
		if p.Amounts[u], err = fleet.ParseChoice(v); err != nil {
			return p, fmt.Errorf("--buy: %w", err)
		}
	}
	for _, kv := range cfg.BuyBelow {
		u, v, err := utilityValue(kv)
		if err != nil {
			return p, fmt.Errorf("--buy-below: %w", err)
		}
		if p.Below[u], err = fleet.ParseUnits(v); err != nil {
			return p, fmt.Errorf("--buy-below: %w", err)
		}
	}
	if cfg.PurchaseModel != "" {
		s, err := loadPurchaseModel(cfg.PurchaseModel)
		if err != nil {
			return p, fmt.Errorf("--purchase-model: %w", err)
		}
		p.Amounts[vending.Electricity] = s
	}
	return p, nil
}

func utilityValue(kv string) (vending.Utility, string, error) {
	k, v, ok := strings.Cut(kv, "=")
	if !ok {
		return "", "", fmt.Errorf("%q: want UTILITY=VALUE", kv)
	}
	u, err := vending.ParseUtility(k)
	return u, v, err
}

// readSecret reads a secret given as @FILE, or literally.
func readSecret(arg string) (string, error) {
	path, ok := strings.CutPrefix(arg, "@")
	if !ok {
		return arg, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}
