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
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/natsx"
)

// serveConfig is what broker serve takes from its flags. Secret fields hold
// the flag text: the secret itself or @FILE.
type serveConfig struct {
	// Listen is the MQTT TCP address; loopback by default.
	Listen string
	// TLSCert and TLSKey are PEM files; both or neither.
	TLSCert, TLSKey string
	// FleetSecret derives the meters' passwords; required.
	FleetSecret string
	// VendorUser and VendorPassword are the vendor account; no password
	// means no vendor account.
	VendorUser, VendorPassword string
	// AnalyticsUser and AnalyticsPassword are the analytics account, for
	// analytics and the NATS bridge; no password means none.
	AnalyticsUser, AnalyticsPassword string
	// Metrics is the address of the /metrics endpoint; empty turns it off.
	Metrics string
	// SessionExpiry is how long an offline meter's session is kept.
	SessionExpiry time.Duration
	// MaxClients bounds the connected clients; 0 means no limit.
	MaxClients int
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// NoBridge turns the bridge to NATS off, and with it the embedded
	// NATS server.
	NoBridge bool
	// Bridge is the NATS side of the bridge the broker runs: the server
	// or cluster to publish to, or the embedded server to start. Its MQTT
	// fields are unused: the bridge reads the broker in memory.
	Bridge bridgeConfig
}

// The bridge inside broker serve signs in over the in-memory transport
// with an account of its own, whose password is made at each start and
// never leaves the process. Its client identifier differs from broker
// bridge's default, so that a bridge run beside it does not take its
// session over.
const (
	embeddedBridgeUser     = "stsfleet-bridge"
	embeddedBridgeClientID = "stsfleet-broker-bridge"
)

// defaultServeConfig holds the flag defaults: loopback only.
func defaultServeConfig() serveConfig {
	return serveConfig{
		Listen:        broker.DefaultListen,
		VendorUser:    broker.DefaultVendorUsername,
		AnalyticsUser: broker.DefaultAnalyticsUsername,
		Metrics:       "127.0.0.1:9101",
		SessionExpiry: 7 * 24 * time.Hour,
		LogLevel:      "info",
		Bridge:        defaultBridgeConfig(),
	}
}

func newServeCmd() *cobra.Command {
	cfg := defaultServeConfig()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve MQTT until interrupted",
		Long: "serve listens for MQTT on --listen (TLS with --tls-cert and --tls-key) and\n" +
			"serves Prometheus metrics on --metrics until it is interrupted. It runs the\n" +
			"bridge to NATS inside itself (see broker bridge): results and final readings\n" +
			"go to JetStream, telemetry to core NATS, on an embedded NATS server with\n" +
			"JetStream on --nats-listen, or on the server --nats names; --no-bridge turns\n" +
			"both off. Secrets are given as @FILE (the file's content, trimmed) or,\n" +
			"visibly to other users of the machine, as the text itself. Once ready it\n" +
			"prints the addresses.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", cfg.Listen, "MQTT TCP address, host:port")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate chain file; turns TLS on")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key file of --tls-cert")
	f.StringVar(&cfg.FleetSecret, "fleet-secret", "",
		"secret the meters' passwords derive from, @FILE (required)")
	f.StringVar(&cfg.VendorUser, "vendor-user", cfg.VendorUser, "vendor account username")
	f.StringVar(&cfg.VendorPassword, "vendor-password", "",
		"vendor account password, @FILE; empty: no vendor account")
	f.StringVar(&cfg.AnalyticsUser, "analytics-user", cfg.AnalyticsUser,
		"analytics account username")
	f.StringVar(&cfg.AnalyticsPassword, "analytics-password", "",
		"analytics account password, @FILE; empty: no analytics account")
	f.StringVar(&cfg.Metrics, "metrics", cfg.Metrics,
		"address of the Prometheus /metrics endpoint; empty: none")
	f.DurationVar(&cfg.SessionExpiry, "session-expiry", cfg.SessionExpiry,
		"how long an offline client's persistent session and queued messages are kept")
	f.IntVar(&cfg.MaxClients, "max-clients", 0, "most clients connected at once; 0: no limit")
	f.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	f.BoolVar(&cfg.NoBridge, "no-bridge", false,
		"run no bridge to NATS, and no embedded NATS server")
	cfg.Bridge.addNATSFlags(f)
	return cmd
}

// runServe runs the broker, the bridge to NATS and the metrics endpoint
// until ctx ends. At the end the bridge leaves first, so that what it took
// from the broker is forwarded, then the broker stops, then NATS.
func runServe(ctx context.Context, cfg serveConfig, stdout, stderr io.Writer) error {
	bcfg, log, err := cfg.brokerConfig(stderr)
	if err != nil {
		return err
	}
	bridgePassword := hex.EncodeToString(randomBytes(16))
	if !cfg.NoBridge {
		bcfg.Accounts = append(bcfg.Accounts, broker.Account{Username: embeddedBridgeUser,
			Password: bridgePassword, Role: broker.RoleAnalytics})
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	bcfg.Registerer = reg
	b, err := broker.New(bcfg)
	if err != nil {
		return err
	}

	var metrics net.Listener
	if cfg.Metrics != "" {
		if metrics, err = net.Listen("tcp", cfg.Metrics); err != nil {
			return fmt.Errorf("--metrics: %w", err)
		}
	}
	if err := b.Start(ctx); err != nil {
		if metrics != nil {
			metrics.Close()
		}
		return err
	}
	var run *bridgeRun
	if !cfg.NoBridge {
		// The bridge reads the broker in memory; the URL names it in logs.
		run, err = startBridge(cfg.Bridge, mqttc.Options{Broker: b.URL(), Dialer: b.Dial,
			ClientID: embeddedBridgeClientID, Username: embeddedBridgeUser,
			Password: bridgePassword}, reg, log)
		if err != nil {
			if metrics != nil {
				metrics.Close()
			}
			return errors.Join(err, b.Shutdown(context.WithoutCancel(ctx)))
		}
		defer run.close(context.WithoutCancel(ctx))
	}
	return serveAll(ctx, b, run, metrics, reg, stdout, log)
}

// serveAll runs the started broker, the bridge (nil for none) and the
// metrics endpoint (nil for none), prints the ready line once the bridge
// has subscribed, and waits for the end.
func serveAll(ctx context.Context, b *broker.Broker, run *bridgeRun, metrics net.Listener,
	reg *prometheus.Registry, stdout io.Writer, log *slog.Logger) error {
	g, ctx := errgroup.WithContext(ctx)
	bridgeDone := make(chan struct{})
	if run != nil {
		g.Go(func() error {
			defer close(bridgeDone)
			return run.br.Run(ctx)
		})
	} else {
		close(bridgeDone)
	}
	g.Go(func() error {
		<-ctx.Done()
		<-bridgeDone
		return b.Shutdown(context.WithoutCancel(ctx))
	})
	if metrics != nil {
		g.Go(func() error { return serveMetrics(ctx, metrics, reg) })
	}
	g.Go(func() error {
		ready := "mqtt " + b.URL()
		if run != nil {
			if !run.ready(ctx) {
				return nil
			}
			ready += " nats " + natsx.RedactURL(run.url)
		}
		if metrics != nil {
			ready += " metrics http://" + metrics.Addr().String() + "/metrics"
		}
		fmt.Fprintln(stdout, ready)
		log.Info("broker serving", "addr", b.Addr(), "bridge", run != nil)
		return nil
	})
	return g.Wait()
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// serveMetrics serves /metrics on ln until ctx ends, or fails.
func serveMetrics(ctx context.Context, ln net.Listener, reg *prometheus.Registry) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()

	select {
	case err := <-done:
		return fmt.Errorf("serve metrics: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdown)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("serve metrics: %w", err)
	}
	return nil
}

// brokerConfig turns the flags into the broker's configuration and logger.
// Errors name the flag; none repeats a secret.
func (cfg serveConfig) brokerConfig(stderr io.Writer) (broker.Config, *slog.Logger, error) {
	log, err := newLogger(cfg.LogLevel, stderr)
	if err != nil {
		return broker.Config{}, nil, err
	}

	if cfg.FleetSecret == "" {
		return broker.Config{}, nil, errors.New("--fleet-secret is required")
	}
	secret, err := readSecret("fleet-secret", cfg.FleetSecret)
	if err != nil {
		return broker.Config{}, nil, err
	}
	bc := broker.Config{
		Listen:        cfg.Listen,
		TLSCertFile:   cfg.TLSCert,
		TLSKeyFile:    cfg.TLSKey,
		FleetSecret:   []byte(secret),
		SessionExpiry: cfg.SessionExpiry,
		MaxClients:    cfg.MaxClients,
		Logger:        log,
	}
	for _, a := range []struct {
		flag, user, password string
		role                 broker.Role
	}{
		{"vendor-password", cfg.VendorUser, cfg.VendorPassword, broker.RoleVendor},
		{"analytics-password", cfg.AnalyticsUser, cfg.AnalyticsPassword, broker.RoleAnalytics},
	} {
		if a.password == "" {
			continue
		}
		pw, err := readSecret(a.flag, a.password)
		if err != nil {
			return broker.Config{}, nil, err
		}
		bc.Accounts = append(bc.Accounts, broker.Account{Username: a.user, Password: pw,
			Role: a.role})
	}
	return bc, log, nil
}

// readSecret returns a secret flag's value: the text, or for @FILE the
// file's content without surrounding white space.
func readSecret(flag, v string) (string, error) {
	path, ok := strings.CutPrefix(v, "@")
	if !ok {
		return v, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--%s: %w", flag, err)
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return "", fmt.Errorf("--%s: %s is empty", flag, path)
	}
	return s, nil
}
