package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/fleet"
	"github.com/stsfleet/stsfleet/simclock"
	"github.com/stsfleet/stsfleet/vending"
)

// ConnectConfig configures [RunConnect]: a fleet of meters connecting to
// a broker over TCP at a target rate, to measure connections per second
// and the memory each connected meter costs.
type ConnectConfig struct {
	// Meters is the fleet's size; zero means 10,000.
	Meters int
	// Rate is the fleet's connection rate per second; zero means 4,000.
	Rate float64
	// BrokerURL is the broker, tcp://host:port. Required.
	BrokerURL string
	// FleetSecret is the broker's fleet secret. Required.
	FleetSecret []byte
	// BrokerPID, when not zero, is the broker's process, whose peak RSS
	// is added to the fleet's.
	BrokerPID int
	// Hold is how long the meters stay connected before the figures are
	// read; zero means 2 s.
	Hold time.Duration
	// Seed makes the fleet reproducible.
	Seed uint64
	// Logger receives the fleet's logs; nil discards them.
	Logger *slog.Logger
	// Registerer, when set, receives the fleet's metrics.
	Registerer prometheus.Registerer
}

// ConnectResult is what RunConnect measured. Memory is peak resident set
// size (VmHWM) in bytes, of the whole process: runtime and all.
type ConnectResult struct {
	Meters         int     `json:"meters"`
	TargetRate     float64 `json:"target_rate"`
	ConnectSeconds float64 `json:"connect_s"`
	// AchievedRate is Meters over ConnectSeconds, connections per second.
	AchievedRate  float64 `json:"achieved_rate"`
	FleetPeakRSS  int64   `json:"fleet_peak_rss_bytes"`
	BrokerPeakRSS int64   `json:"broker_peak_rss_bytes"`
	// PerMeter is the two processes' peak RSS over Meters, in bytes.
	PerMeter float64 `json:"rss_per_meter_bytes"`
	Machine  Machine `json:"machine"`
}

// RunConnect generates a fleet, connects it to the broker at the target
// rate, holds it, reads the peak memory of both processes and shuts the
// fleet down.
func RunConnect(ctx context.Context, cfg ConnectConfig) (*ConnectResult, error) {
	cfg.Meters = orDefault(cfg.Meters, 10_000)
	cfg.Rate = orDefault(cfg.Rate, 4000)
	cfg.Hold = orDefault(cfg.Hold, 2*time.Second)
	if cfg.BrokerURL == "" || len(cfg.FleetSecret) < broker.MinFleetSecret {
		return nil, errors.New("bench connect: want a broker URL and its fleet secret")
	}
	gen, err := vending.NewFleet(vending.FleetConfig{Meters: cfg.Meters, Seed: cfg.Seed})
	if err != nil {
		return nil, fmt.Errorf("bench connect: %w", err)
	}
	f, err := fleet.New(fleet.Config{Definition: gen.Definition, Injection: gen.Injection,
		Clock:  simclock.Real(),
		Broker: cfg.BrokerURL, FleetSecret: cfg.FleetSecret, ConnectRate: cfg.Rate,
		TelemetryInterval: -1, Logger: cfg.Logger, Registerer: cfg.Registerer})
	if err != nil {
		return nil, fmt.Errorf("bench connect: %w", err)
	}
	started := time.Now()
	err = f.Start(ctx)
	took := time.Since(started)
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = f.Shutdown(sctx)
	}()
	if err != nil {
		return nil, fmt.Errorf("bench connect: %w", err)
	}
	select {
	case <-time.After(cfg.Hold):
	case <-ctx.Done():
		return nil, fmt.Errorf("bench connect: %w", ctx.Err())
	}
	res := &ConnectResult{Meters: cfg.Meters, TargetRate: cfg.Rate,
		ConnectSeconds: took.Seconds(), AchievedRate: float64(cfg.Meters) / took.Seconds(),
		Machine: ThisMachine()}
	if res.FleetPeakRSS, err = PeakRSS(os.Getpid()); err != nil {
		return nil, fmt.Errorf("bench connect: %w", err)
	}
	if cfg.BrokerPID != 0 {
		if res.BrokerPeakRSS, err = PeakRSS(cfg.BrokerPID); err != nil {
			return nil, fmt.Errorf("bench connect: broker: %w", err)
		}
	}
	res.PerMeter = float64(res.FleetPeakRSS+res.BrokerPeakRSS) / float64(cfg.Meters)
	return res, nil
}

// PeakRSS returns a process's peak resident set size in bytes, VmHWM of
// /proc/PID/status (Linux only).
func PeakRSS(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("peak rss of %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(
			strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("peak rss of %d: %q: %w", pid, rest, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("peak rss of %d: no VmHWM in /proc status", pid)
}

// ServeBroker runs the embedded broker on listen (TCP only) with the given
// fleet secret, calls ready with its URL once it accepts connections, and
// serves until ctx ends: the broker side of `fleet bench connect`, run as
// a separate process.
func ServeBroker(ctx context.Context, listen string, secret []byte, log *slog.Logger,
	ready func(url string)) error {
	b, err := broker.New(broker.Config{Listen: listen, FleetSecret: secret, Logger: log})
	if err != nil {
		return fmt.Errorf("serve broker: %w", err)
	}
	if err := b.Start(ctx); err != nil {
		return fmt.Errorf("serve broker: %w", err)
	}
	ready(b.URL())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return b.Shutdown(sctx)
}
