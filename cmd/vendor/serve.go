package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/natsx"
	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/protocol/wire"
	"github.com/stsfleet/stsfleet/simclock"
	"github.com/stsfleet/stsfleet/vending"
	"github.com/stsfleet/stsfleet/vending/ledger"
)

// serveConfig is what vendor serve takes from its flags. Secret fields
// hold the flag text: the secret itself or @FILE.
type serveConfig struct {
	// Listen is the HTTP API address; loopback by default.
	Listen string
	// Fleet is the fleet definition file; empty serves the fleet the
	// ledger holds (registered through POST /v1/fleet).
	Fleet string
	// Keys is the vending key store file, FILE or @FILE; required.
	Keys string
	// MQTT is the broker URL, tcp:// or ssl://; empty records tokens
	// without publishing them.
	MQTT string
	// MQTTUser and MQTTPassword are the vendor's broker account.
	MQTTUser, MQTTPassword string
	// MQTTClientID is the client identifier; empty picks a random one
	// with a clean session (results come through the vendors' shared
	// subscription, so nothing needs to survive a restart).
	MQTTClientID string
	// DB is the ledger's SQLite file.
	DB string
	// NoSync commits the ledger without fsync.
	NoSync bool
	// Window is how long the ledger waits for a batch to fill; zero is
	// the service's default, negative no wait.
	Window time.Duration
	// APIToken is the bearer token of the HTTP API; required.
	APIToken string
	// SimStart, SimSpeed and SimEpoch set the simulated clock; empty
	// start and epoch mean now, speed 1 is real time.
	SimStart, SimEpoch string
	SimSpeed           float64
	// Metrics is the /metrics address; empty serves it on Listen.
	Metrics string
	// STATables is an STA tables file for EA07; empty means the
	// STSFLEET_STA_TABLES environment variable, or the sample tables.
	STATables string
	// Delivery tunes redelivery.
	Delivery vending.DeliveryConfig
	// TIDWarning is how long before a base date's end the vendor warns.
	TIDWarning time.Duration
	// NATS is the server, or comma-separated cluster, the vendor
	// publishes credit vend events on, through JetStream; empty publishes
	// none.
	NATS string
	// Partitions is the deployment's partition count, which places each
	// vend event on its meter's subject.
	Partitions int
	// StreamReplicas is the stream's replica count, if the vendor is the
	// first to need the stream.
	StreamReplicas int
	// LogLevel is debug, info, warn or error.
	LogLevel string
}

// defaultServeConfig holds the flag defaults: loopback only.
func defaultServeConfig() serveConfig {
	return serveConfig{
		Listen:     "127.0.0.1:8080",
		MQTT:       "tcp://127.0.0.1:1883",
		MQTTUser:   "vendor",
		DB:         "vendor.db",
		SimSpeed:   1,
		TIDWarning: 180 * 24 * time.Hour,
		Partitions: wire.DefaultPartitions,
		// One replica, as the bridge and analytics create it by default.
		StreamReplicas: 1,
		LogLevel:       "info",
		Delivery: vending.DeliveryConfig{InitialBackoff: 5 * time.Second,
			MaxBackoff: 2 * time.Minute, MaxAttempts: 6},
	}
}

func newServeCmd() *cobra.Command {
	cfg := defaultServeConfig()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the vending API and deliver tokens over MQTT until interrupted",
		Long: "serve sells credit through an HTTP API (POST /v1/vend and friends, see\n" +
			"docs/vending.md), records every token in a SQLite ledger before publishing\n" +
			"it to the meter's token topic, and reads the meters' results through the\n" +
			"vendors' shared subscription, publishing again until each token has one.\n" +
			"With --nats it announces every credit vend on NATS for analytics, without\n" +
			"ever waiting for NATS: events wait in a bounded queue while it is away.\n" +
			"Secrets are given as @FILE (the file's content, trimmed) or, visibly to\n" +
			"other users of the machine, as the text itself. Once ready it prints the\n" +
			"addresses.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runServe(ctx, cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", cfg.Listen, "HTTP API address, host:port")
	f.StringVar(&cfg.Fleet, "fleet", "", "fleet definition file (from vendor fleet init)")
	f.StringVar(&cfg.Keys, "keys", "", "vending key store file, FILE or @FILE (required)")
	f.StringVar(&cfg.MQTT, "mqtt", cfg.MQTT, "MQTT broker URL; empty: record tokens only")
	f.StringVar(&cfg.MQTTUser, "mqtt-user", cfg.MQTTUser, "MQTT username")
	f.StringVar(&cfg.MQTTPassword, "mqtt-password", "", "MQTT password, @FILE")
	f.StringVar(&cfg.MQTTClientID, "mqtt-client-id", "",
		"MQTT client id (default: random, clean session)")
	f.StringVar(&cfg.DB, "db", cfg.DB, "ledger SQLite file")
	f.BoolVar(&cfg.NoSync, "db-nosync", false,
		"commit without fsync: faster, may lose the last commits in an OS crash")
	f.DurationVar(&cfg.Window, "db-window", vending.DefaultLedgerWindow,
		"wait this long for more vends to join a commit (negative: no wait)")
	f.StringVar(&cfg.APIToken, "api-token", "", "bearer token of the HTTP API, @FILE (required)")
	f.StringVar(&cfg.SimStart, "sim-start", "", "simulated start time, RFC 3339 (default now)")
	f.Float64Var(&cfg.SimSpeed, "sim-speed", cfg.SimSpeed,
		"simulated seconds per wall second")
	f.StringVar(&cfg.SimEpoch, "sim-epoch", "",
		"wall time at which the clock reads --sim-start, RFC 3339 (default now)")
	f.StringVar(&cfg.Metrics, "metrics", "",
		"address of the Prometheus /metrics endpoint (default: on --listen)")
	f.StringVar(&cfg.STATables, "sta-tables", "",
		"STA tables file for EA07 (default $"+sts.TablesEnv+", else the sample tables)")
	f.DurationVar(&cfg.Delivery.InitialBackoff, "redeliver-after", cfg.Delivery.InitialBackoff,
		"wait for a result before the first redelivery; doubles each time")
	f.DurationVar(&cfg.Delivery.MaxBackoff, "redeliver-max", cfg.Delivery.MaxBackoff,
		"longest wait between redeliveries")
	f.IntVar(&cfg.Delivery.MaxAttempts, "redeliver-attempts", cfg.Delivery.MaxAttempts,
		"publications of a token before it is lost")
	f.DurationVar(&cfg.TIDWarning, "tid-warning", cfg.TIDWarning,
		"warn this long (simulated) before a meter's base date runs out of TIDs")
	f.StringVar(&cfg.NATS, "nats", "",
		"NATS URL, or comma-separated cluster URLs, to publish vend events on; empty: none")
	f.IntVar(&cfg.Partitions, "partitions", cfg.Partitions,
		"partition count of the deployment, the same everywhere (with --nats)")
	f.IntVar(&cfg.StreamReplicas, "stream-replicas", cfg.StreamReplicas,
		"replicas of the JetStream stream, if the vendor creates it (with --nats)")
	f.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	return cmd
}

// runServe runs the vending service until ctx ends: the HTTP API, the
// metrics endpoint, the MQTT link and the service's workers. Shutdown
// stops the HTTP intake first, then the workers, then MQTT, and closes the
// ledger last.
func runServe(ctx context.Context, cfg serveConfig, stdout, stderr io.Writer) error {
	vc, log, err := cfg.vendingConfig(stderr)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	vc.Registry = reg
	link := &serveLink{}
	if cfg.MQTT != "" {
		vc.Publisher = link
	}
	if cfg.NATS != "" {
		events, err := startNATS(ctx, cfg, reg, log)
		if err != nil {
			return err
		}
		// Deferred first, so it runs last: after the service has
		// stopped emitting.
		defer events.close()
		vc.Events = events
	}
	svc, err := vending.New(ctx, vc)
	if err != nil {
		return err
	}
	defer svc.Close()

	api, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	defer api.Close()
	var metrics net.Listener
	if cfg.Metrics != "" {
		if metrics, err = net.Listen("tcp", cfg.Metrics); err != nil {
			return fmt.Errorf("--metrics: %w", err)
		}
		defer metrics.Close()
	}
	if cfg.MQTT != "" {
		if err := link.connect(ctx, cfg, svc, log); err != nil {
			return err
		}
		defer link.close()
	}

	g, gctx := errgroup.WithContext(ctx)
	workers, stopWorkers := context.WithCancel(context.WithoutCancel(gctx))
	defer stopWorkers()
	runDone := make(chan error, 1)
	go func() { runDone <- svc.Run(workers) }()

	handler := http.Handler(svc.Handler())
	promHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	if metrics == nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promHandler)
		mux.Handle("/", handler)
		handler = mux
	} else {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promHandler)
		g.Go(func() error { return serveHTTP(gctx, metrics, mux, "metrics") })
	}
	g.Go(func() error { return serveHTTP(gctx, api, handler, "api") })

	ready := "api http://" + api.Addr().String()
	if metrics != nil {
		ready += " metrics http://" + metrics.Addr().String() + "/metrics"
	} else {
		ready += " metrics http://" + api.Addr().String() + "/metrics"
	}
	if cfg.MQTT != "" {
		ready += " mqtt " + cfg.MQTT
	}
	if cfg.NATS != "" {
		ready += " nats " + natsx.RedactURL(cfg.NATS)
	}
	fmt.Fprintln(stdout, ready)
	log.Info("vendor serving", "addr", api.Addr().String(), "meters", svc.Summary().Meters)

	err = g.Wait()
	// The HTTP servers have stopped: no new vends. Let the workers handle
	// the results already received, then close MQTT and the ledger.
	stopWorkers()
	err = errors.Join(err, <-runDone)
	return err
}

// serveHTTP serves h on ln until ctx ends, then shuts down gracefully.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, name string) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve %s: %w", name, err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdown)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("serve %s: %w", name, err)
	}
	return nil
}

// vendingConfig turns the flags into the service's configuration and
// logger. Errors name the flag; none repeats a secret.
func (cfg serveConfig) vendingConfig(stderr io.Writer) (vending.Config, *slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return vending.Config{}, nil, fmt.Errorf("--log-level %q: want debug, info, warn or "+
			"error", cfg.LogLevel)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	vc := vending.Config{DBPath: cfg.DB, Logger: log, Delivery: cfg.Delivery,
		TIDWarning: cfg.TIDWarning, Ledger: ledger.Options{NoSync: cfg.NoSync, Window: cfg.Window}}
	if cfg.Keys == "" {
		return vc, nil, errors.New("--keys is required: the vending key store file")
	}
	ks, err := vending.LoadKeyStore(strings.TrimPrefix(cfg.Keys, "@"))
	if err != nil {
		return vc, nil, fmt.Errorf("--keys: %w", err)
	}
	vc.Keys = ks
	if cfg.Fleet != "" {
		if vc.Definition, err = vending.LoadDefinition(cfg.Fleet); err != nil {
			return vc, nil, fmt.Errorf("--fleet: %w", err)
		}
		vc.FleetPath = cfg.Fleet
	}
	if cfg.APIToken == "" {
		return vc, nil, errors.New("--api-token is required: the bearer token, or @FILE")
	}
	if vc.APIToken, err = serveSecret("api-token", cfg.APIToken); err != nil {
		return vc, nil, err
	}
	if vc.Clock, err = cfg.clock(); err != nil {
		return vc, nil, err
	}
	if vc.Tables, err = sts.TablesFromEnv(cfg.STATables); err != nil {
		return vc, nil, fmt.Errorf("--sta-tables: %w", err)
	}
	if vc.Tables != nil {
		log.Info("STA tables loaded", "fingerprint", vc.Tables.Fingerprint(),
			"sample", vc.Tables.IsSample())
	}
	if cfg.MQTT != "" && cfg.MQTTPassword == "" {
		return vc, nil, errors.New("--mqtt-password is required with --mqtt (or --mqtt '' " +
			"to record tokens without publishing)")
	}
	return vc, log, nil
}

// clock builds the simulated clock from --sim-start, --sim-speed and
// --sim-epoch; processes given the same three agree on the time.
func (cfg serveConfig) clock() (*simclock.Clock, error) {
	now := time.Now()
	start, epoch := now, now
	var err error
	if cfg.SimStart != "" {
		if start, err = time.Parse(time.RFC3339, cfg.SimStart); err != nil {
			return nil, fmt.Errorf("--sim-start %q: want RFC 3339", cfg.SimStart)
		}
	}
	if cfg.SimEpoch != "" {
		if epoch, err = time.Parse(time.RFC3339, cfg.SimEpoch); err != nil {
			return nil, fmt.Errorf("--sim-epoch %q: want RFC 3339", cfg.SimEpoch)
		}
	}
	if cfg.SimSpeed <= 0 {
		return nil, fmt.Errorf("--sim-speed %g: must be positive", cfg.SimSpeed)
	}
	return &simclock.Clock{Start: start, Speed: cfg.SimSpeed, Epoch: epoch}, nil
}

// serveSecret reads a secret flag: the text itself, or the trimmed content
// of FILE for @FILE. Errors never repeat the secret.
func serveSecret(flag, v string) (string, error) {
	path, ok := strings.CutPrefix(v, "@")
	if !ok {
		return v, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--%s: %w", flag, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("--%s: %s is empty", flag, path)
	}
	return s, nil
}

// errNotConnected reports a publication before the MQTT link is up; the
// service retries the token with backoff.
var errNotConnected = errors.New("mqtt link not connected")

// serveLink is the vendor's MQTT client: it publishes tokens
// (vending.Publisher) and hands results from the shared subscription to
// the service without blocking the client.
type serveLink struct {
	client *mqttc.Client
}

// Publish implements vending.Publisher.
func (l *serveLink) Publish(ctx context.Context, topic string, qos byte, retained bool,
	payload []byte) error {
	if l.client == nil {
		return errNotConnected
	}
	return l.client.Publish(ctx, topic, qos, retained, payload)
}

func (l *serveLink) connect(ctx context.Context, cfg serveConfig, svc *vending.Service,
	log *slog.Logger) error {
	password, err := serveSecret("mqtt-password", cfg.MQTTPassword)
	if err != nil {
		return err
	}
	id, clean := cfg.MQTTClientID, cfg.MQTTClientID == ""
	if clean {
		b := make([]byte, 4)
		rand.Read(b)
		id = "vendor-" + hex.EncodeToString(b)
	}
	handle := func(m mqttc.Message) {
		drn, kind, err := wire.ParseTopic(m.Topic)
		if err != nil || kind != wire.KindResult {
			return
		}
		svc.HandleResult(drn, m.Payload)
	}
	c, err := mqttc.Connect(ctx, mqttc.Options{
		Broker: cfg.MQTT, ClientID: id, Username: cfg.MQTTUser, Password: password,
		CleanSession: clean, ConnectRetry: true, LogConnection: true,
		Subscriptions: []mqttc.Subscription{{Filter: wire.SharedResultFilter, QoS: 1,
			Handler: handle}},
		DefaultHandler: func(mqttc.Message) {},
		Logger:         log.With("component", "mqtt"),
	})
	if err != nil {
		// The error names the broker, its password hidden, and the account.
		return fmt.Errorf("--mqtt: %w", err)
	}
	l.client = c
	return nil
}

func (l *serveLink) close() {
	if l.client != nil {
		l.client.Disconnect(250 * time.Millisecond)
	}
}
