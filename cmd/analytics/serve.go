package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/stsfleet/stsfleet/analytics"
	"github.com/stsfleet/stsfleet/natsx"
	"github.com/stsfleet/stsfleet/protocol/wire"
	"github.com/stsfleet/stsfleet/statuspage"
)

// serveConfig is what analytics serve takes from its flags.
type serveConfig struct {
	// NATS is the server or comma-separated cluster.
	NATS string
	// Partitions ("0-15") or Instance ("0/2") choose the instance's
	// share; at most one may be given, neither means every partition.
	Partitions, Instance string
	// PartitionCount is the deployment's partition count.
	PartitionCount int
	// Name is the durable consumer's name; empty derives it from the
	// partitions.
	Name string
	// State is the checkpoint directory; empty keeps totals in memory.
	State string
	// Listen is the HTTP address of /metrics and /v1/summary.
	Listen string
	// Replicas is the stream's replica count if this instance creates it.
	Replicas int
	// CheckpointInterval is the longest time between checkpoints.
	CheckpointInterval time.Duration
	// LogLevel is debug, info, warn or error.
	LogLevel string
}

func defaultServeConfig() serveConfig {
	return serveConfig{
		NATS:               natsx.DefaultURL,
		PartitionCount:     wire.DefaultPartitions,
		Listen:             "127.0.0.1:9104",
		Replicas:           1,
		CheckpointInterval: analytics.DefaultCheckpointInterval,
		LogLevel:           "info",
	}
}

func newServeCmd() *cobra.Command {
	cfg := defaultServeConfig()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Aggregate the fleet's results, readings and vends from NATS",
		Long: "serve consumes the partitions it owns (--partitions or --instance; all by\n" +
			"default) from NATS, aggregates them and serves /metrics and /v1/summary on\n" +
			"--listen. Instances over disjoint partitions share the fleet by meter: the\n" +
			"deployment's totals are the sum of theirs. With --state, totals survive a\n" +
			"restart through a checkpoint; without, each start rebuilds them from the\n" +
			"JetStream stream. The status page at / shows the totals and charts.\n" +
			"Once ready it prints the addresses.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.NATS, "nats", cfg.NATS, "NATS URL, or comma-separated cluster URLs")
	f.StringVar(&cfg.Partitions, "partitions", "",
		`partitions this instance owns, such as "0-15" or "0-3,8"; default: all`)
	f.StringVar(&cfg.Instance, "instance", "",
		`this instance's share as i/n, such as "0/2": the i-th of n equal blocks`)
	f.IntVar(&cfg.PartitionCount, "partition-count", cfg.PartitionCount,
		"partition count of the deployment, the same everywhere")
	f.StringVar(&cfg.Name, "name", "",
		"durable consumer name; default: derived from the partitions")
	f.StringVar(&cfg.State, "state", "",
		"checkpoint directory; empty: totals in memory, rebuilt from the stream on start")
	f.StringVar(&cfg.Listen, "listen", cfg.Listen,
		"HTTP address of the status page (/), /metrics and /v1/summary")
	f.IntVar(&cfg.Replicas, "stream-replicas", cfg.Replicas,
		"replicas of the JetStream stream, if this instance creates it")
	f.DurationVar(&cfg.CheckpointInterval, "checkpoint-interval", cfg.CheckpointInterval,
		"longest time between checkpoints (and acknowledgements)")
	f.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	return cmd
}

// partitions returns the share the flags name.
func (cfg serveConfig) partitions() (analytics.PartitionSet, error) {
	switch {
	case cfg.Partitions != "" && cfg.Instance != "":
		return analytics.PartitionSet{},
			errors.New("--partitions and --instance exclude each other")
	case cfg.Instance != "":
		ps, err := analytics.ParseInstance(cfg.Instance, cfg.PartitionCount)
		if err != nil {
			return ps, fmt.Errorf("--instance: %w", err)
		}
		return ps, nil
	case cfg.Partitions != "":
		ps, err := analytics.ParsePartitions(cfg.Partitions, cfg.PartitionCount)
		if err != nil {
			return ps, fmt.Errorf("--partitions: %w", err)
		}
		return ps, nil
	}
	ps, err := analytics.AllPartitions(cfg.PartitionCount)
	if err != nil {
		return ps, fmt.Errorf("--partition-count: %w", err)
	}
	return ps, nil
}

// runServe runs one analytics instance until ctx ends.
func runServe(ctx context.Context, cfg serveConfig, stdout, stderr io.Writer) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", cfg.LogLevel)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ps, err := cfg.partitions()
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	page, err := statuspage.New(statuspage.Config{Gatherer: reg,
		Title:  fmt.Sprintf("stsfleet analytics, partitions %s of %d", ps, ps.Count()),
		Logger: log})
	if err != nil {
		l.Close()
		return err
	}
	svc, err := analytics.New(analytics.Config{
		URL: cfg.NATS, Partitions: ps, Name: cfg.Name, StateDir: cfg.State,
		Stream:             natsx.StreamConfig{Replicas: cfg.Replicas},
		CheckpointInterval: cfg.CheckpointInterval,
		Listener:           l, Registry: reg, Logger: log, Index: page,
	})
	if err != nil {
		l.Close()
		return err
	}

	// The status page samples the metrics for as long as the service runs.
	pageCtx, stopPage := context.WithCancel(ctx)
	var sampling sync.WaitGroup
	sampling.Go(func() { page.Run(pageCtx) })
	defer func() {
		stopPage()
		sampling.Wait()
	}()

	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	select {
	case <-svc.Ready():
		fmt.Fprintf(stdout, "analytics http://%s partitions %s of %d nats %s\n",
			l.Addr(), ps, ps.Count(), natsx.RedactURL(cfg.NATS))
	case err := <-done:
		return err
	}
	return <-done
}
