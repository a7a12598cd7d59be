package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"

	"github.com/stsfleet/stsfleet/bridge"
	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/natsx"
	"github.com/stsfleet/stsfleet/protocol/wire"
)

// bridgeConfig is what broker bridge takes from its flags. MQTTPassword
// holds the flag text: the password itself or @FILE.
type bridgeConfig struct {
	// MQTT is the broker to read from: tcp://host:port or ssl://host:port.
	MQTT string
	// MQTTUser and MQTTPassword are an account allowed to read results and
	// telemetry (the broker's analytics account).
	MQTTUser, MQTTPassword string
	// ClientID is the bridge's MQTT client identifier.
	ClientID string
	// Share is the shared-subscription group; empty subscribes directly.
	Share string
	// NATS is the server or comma-separated cluster to publish to; empty
	// starts an embedded server on NATSListen.
	NATS string
	// NATSListen is the embedded server's client address.
	NATSListen string
	// NATSStore is the embedded server's JetStream directory; empty means
	// a temporary one.
	NATSStore string
	// Replicas is the stream's replica count if the bridge creates it.
	Replicas int
	// Partitions is the deployment's partition count.
	Partitions int
	// Workers and Queue size the forwarding workers.
	Workers, Queue int
	// Metrics is the address of the /metrics endpoint; empty turns it off.
	Metrics string
	// LogLevel is debug, info, warn or error.
	LogLevel string
}

// defaultBridgeConfig holds the flag defaults: loopback only.
func defaultBridgeConfig() bridgeConfig {
	return bridgeConfig{
		MQTT:       "tcp://" + broker.DefaultListen,
		MQTTUser:   broker.DefaultAnalyticsUsername,
		ClientID:   bridge.DefaultClientID,
		NATSListen: net.JoinHostPort(natsx.DefaultHost, strconv.Itoa(natsx.DefaultPort)),
		Replicas:   1,
		Partitions: wire.DefaultPartitions,
		Workers:    bridge.DefaultWorkers,
		Queue:      bridge.DefaultQueueSize,
		Metrics:    "127.0.0.1:9105",
		LogLevel:   "info",
	}
}

func newBridgeCmd() *cobra.Command {
	cfg := defaultBridgeConfig()
	cmd := &cobra.Command{
		Use:   "bridge",
		Short: "Forward meters' results and telemetry from MQTT to NATS",
		Long: "bridge reads every meter's results and telemetry from an MQTT broker (any\n" +
			"broker: this one or another) with an analytics account, and publishes them on\n" +
			"NATS: results and final readings through JetStream, ordinary telemetry on core\n" +
			"NATS. Without --nats it starts an embedded NATS server with JetStream on\n" +
			"--nats-listen. broker serve runs the same bridge inside itself; run this one\n" +
			"for another broker, or beside broker serve --no-bridge. Once ready it prints\n" +
			"the addresses.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBridge(cmd.Context(), cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cfg.addFlags(cmd.Flags())
	return cmd
}

// addFlags adds every flag of broker bridge.
func (cfg *bridgeConfig) addFlags(f *pflag.FlagSet) {
	f.StringVar(&cfg.MQTT, "mqtt", cfg.MQTT,
		"MQTT broker URL, tcp://host:port or ssl://host:port")
	f.StringVar(&cfg.MQTTUser, "mqtt-user", cfg.MQTTUser,
		"MQTT account allowed to read results and telemetry")
	f.StringVar(&cfg.MQTTPassword, "mqtt-password", "",
		"password of --mqtt-user, @FILE (required)")
	f.StringVar(&cfg.ClientID, "mqtt-client-id", cfg.ClientID, "MQTT client identifier")
	f.StringVar(&cfg.Share, "mqtt-share", "",
		"shared-subscription group, so several bridges split the messages; empty: none")
	cfg.addNATSFlags(f)
	f.IntVar(&cfg.Workers, "workers", cfg.Workers, "forwarding workers")
	f.IntVar(&cfg.Queue, "queue", cfg.Queue,
		"queue depth per worker; a message finding it full is dropped and counted")
	f.StringVar(&cfg.Metrics, "metrics", cfg.Metrics,
		"address of the Prometheus /metrics endpoint; empty: none")
	f.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
}

// addNATSFlags adds the flags of the bridge's NATS side, which broker serve
// shares.
func (cfg *bridgeConfig) addNATSFlags(f *pflag.FlagSet) {
	f.StringVar(&cfg.NATS, "nats", "",
		"NATS URL, or comma-separated cluster URLs; empty: an embedded server")
	f.StringVar(&cfg.NATSListen, "nats-listen", cfg.NATSListen,
		"client address of the embedded NATS server")
	f.StringVar(&cfg.NATSStore, "nats-store", "",
		"JetStream directory of the embedded NATS server; empty: a temporary one, "+
			"removed at exit")
	f.IntVar(&cfg.Replicas, "stream-replicas", cfg.Replicas,
		"replicas of the JetStream stream, if the bridge creates it")
	f.IntVar(&cfg.Partitions, "partitions", cfg.Partitions,
		"partition count of the deployment, the same everywhere")
}

// runBridge runs the bridge, the embedded NATS server when --nats is empty,
// and the metrics endpoint until ctx ends.
func runBridge(ctx context.Context, cfg bridgeConfig, stdout, stderr io.Writer) error {
	log, err := newLogger(cfg.LogLevel, stderr)
	if err != nil {
		return err
	}
	if cfg.MQTTPassword == "" {
		return errors.New("--mqtt-password is required")
	}
	password, err := readSecret("mqtt-password", cfg.MQTTPassword)
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	run, err := startBridge(cfg, mqttc.Options{Broker: cfg.MQTT, ClientID: cfg.ClientID,
		Username: cfg.MQTTUser, Password: password}, reg, log)
	if err != nil {
		return err
	}
	defer run.close(context.WithoutCancel(ctx))
	var metrics net.Listener
	if cfg.Metrics != "" {
		if metrics, err = net.Listen("tcp", cfg.Metrics); err != nil {
			return fmt.Errorf("--metrics: %w", err)
		}
	}

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return run.br.Run(ctx) })
	if metrics != nil {
		g.Go(func() error { return serveMetrics(ctx, metrics, reg) })
	}
	g.Go(func() error {
		if !run.ready(ctx) {
			return nil
		}
		ready := "mqtt " + cfg.MQTT + " nats " + natsx.RedactURL(run.url)
		if metrics != nil {
			ready += " metrics http://" + metrics.Addr().String() + "/metrics"
		}
		fmt.Fprintln(stdout, ready)
		return nil
	})
	return g.Wait()
}

// newLogger returns the text logger of --log-level.
func newLogger(level string, stderr io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: l})), nil
}

// bridgeRun is a bridge ready to run: the embedded NATS server, if any,
// the connection to NATS and the bridge over it.
type bridgeRun struct {
	// srv is the embedded server; nil with --nats.
	srv *natsx.Server
	nc  *nats.Conn
	br  *bridge.Bridge
	// url is the NATS server the bridge publishes to.
	url string
}

// startBridge starts the embedded NATS server when cfg.NATS is empty,
// connects to NATS and builds the bridge reading MQTT through mq, its
// metrics on reg. Run it with br.Run; close it after.
func startBridge(cfg bridgeConfig, mq mqttc.Options, reg prometheus.Registerer,
	log *slog.Logger) (*bridgeRun, error) {
	run := &bridgeRun{url: cfg.NATS}
	if run.url == "" {
		srv, err := startEmbeddedNATS(cfg, log)
		if err != nil {
			return nil, err
		}
		run.srv, run.url = srv, srv.ClientURL()
	}
	nc, err := natsx.Connect(natsx.ConnectConfig{URL: run.url, Name: mq.ClientID, Logger: log})
	if err != nil {
		run.close(context.Background())
		return nil, fmt.Errorf("--nats: %w", err)
	}
	run.nc = nc
	run.br, err = bridge.New(bridge.Config{
		MQTT: mq, ShareGroup: cfg.Share,
		NATS: nc, Stream: natsx.StreamConfig{Replicas: cfg.Replicas},
		Partitions: cfg.Partitions, Workers: cfg.Workers, QueueSize: cfg.Queue,
		Logger: log, Registerer: reg,
	})
	if err != nil {
		run.close(context.Background())
		return nil, err
	}
	return run, nil
}

// ready waits until the bridge has subscribed, and reports false if ctx
// ended first.
func (r *bridgeRun) ready(ctx context.Context) bool {
	select {
	case <-r.br.Ready():
		return true
	case <-ctx.Done():
		return false
	}
}

// close closes the NATS connection and stops the embedded server; call it
// once the bridge's Run has returned.
func (r *bridgeRun) close(ctx context.Context) {
	if r.nc != nil {
		r.nc.Close()
	}
	if r.srv != nil {
		r.srv.Shutdown(ctx)
	}
}

// startEmbeddedNATS starts the NATS server of a bridge given no --nats.
func startEmbeddedNATS(cfg bridgeConfig, log *slog.Logger) (*natsx.Server, error) {
	host, portText, err := net.SplitHostPort(cfg.NATSListen)
	port, perr := strconv.Atoi(portText)
	if err != nil || perr != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("--nats-listen %q: want host:port", cfg.NATSListen)
	}
	if port == 0 {
		// Port 0 means "any free port" on the command line, as for
		// --listen; the server spells that -1.
		port = natsx.RandomPort
	}
	srv, err := natsx.Start(natsx.Config{Host: strings.Trim(host, "[]"), Port: port,
		StoreDir: cfg.NATSStore, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("--nats-listen %s: %w", cfg.NATSListen, err)
	}
	return srv, nil
}
