package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stsfleet/stsfleet/bench/load"
	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/scenarios/threshold"
)

// Transports of the embedded broker.
const (
	// TransportMemory connects clients through the broker's in-memory
	// connections: no sockets.
	TransportMemory = "mem"
	// TransportTCP connects them over loopback TCP.
	TransportTCP = "tcp"
)

// Failure kinds a bench settles requests with, besides http_NNN for an
// HTTP status.
const (
	// FailInFlightLimit: the arrival found MaxInFlight requests already in
	// flight, and was not sent.
	FailInFlightLimit = "in_flight_limit"
	// FailTimeout: the request itself (HTTP call or publish) took longer
	// than the timeout.
	FailTimeout = "timeout"
	// FailCanceled: the run ended while the request was being sent.
	FailCanceled = "canceled"
	// FailNetwork: a transport error, such as a refused connection.
	FailNetwork = "network"
	// FailDecode: the answer could not be read.
	FailDecode = "decode"
	// FailOther: any other error.
	FailOther = "other"
)

// Defaults of the zero Common fields.
const (
	DefaultRate        = 1000
	DefaultDuration    = 10 * time.Second
	DefaultTimeout     = 5 * time.Second
	DefaultMaxInFlight = 50_000
)

// Common is the configuration every bench shares. The zero value of each
// field has the meaning its comment gives.
type Common struct {
	// Profile is the target rate over time. Zero stages mean
	// DefaultRate for DefaultDuration.
	Profile load.Profile
	// Transport is TransportMemory (the zero value) or TransportTCP.
	Transport string
	// MaxInFlight caps the requests in flight; an arrival beyond it is
	// settled failed (FailInFlightLimit) rather than delayed, so the
	// schedule never bends. Zero means DefaultMaxInFlight.
	MaxInFlight int
	// Timeout is how long after its intended time a request may take to
	// be answered before it counts as timed out. Zero means
	// DefaultTimeout.
	Timeout time.Duration
	// Drain is how long the run waits for the last answers after the
	// schedule ends; what is still unanswered is lost. Zero means twice
	// the Timeout.
	Drain time.Duration
	// Thresholds decide whether the run passed.
	Thresholds []threshold.Threshold
	// FindMax, when set, steps the rate up until a threshold breaks,
	// instead of running Profile.
	FindMax *FindMax
	// Registerer, when set, receives live metrics: the bench's and those
	// of the embedded components.
	Registerer prometheus.Registerer
	// Logger receives the components' logs; nil discards them.
	Logger *slog.Logger
	// Progress receives a live progress line every second; nil prints
	// none.
	Progress io.Writer

	metrics *load.Metrics
	// now is the wall clock of the recorders; nil means time.Now.
	now func() time.Time
}

func (c *Common) resolve() error {
	if len(c.Profile.Stages) == 0 {
		c.Profile = load.Constant(DefaultRate, DefaultDuration)
	}
	if err := c.Profile.Validate(); err != nil {
		return err
	}
	c.Transport = orDefault(c.Transport, TransportMemory)
	if c.Transport != TransportMemory && c.Transport != TransportTCP {
		return fmt.Errorf("transport %q: want %s or %s", c.Transport, TransportMemory,
			TransportTCP)
	}
	c.MaxInFlight = orDefault(c.MaxInFlight, DefaultMaxInFlight)
	c.Timeout = orDefault(c.Timeout, DefaultTimeout)
	c.Drain = orDefault(c.Drain, 2*c.Timeout)
	if c.MaxInFlight < 1 || c.Timeout < 0 || c.Drain < 0 {
		return errors.New("max in flight, timeout and drain must be positive")
	}
	if c.FindMax != nil {
		if err := c.FindMax.resolve(c.Profile); err != nil {
			return err
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Info describes a run's set-up for its report: fleet size, transport,
// flags. Values must marshal to JSON.
type Info map[string]any

// stepFunc runs one schedule, recording into rec, and returns once every
// request has settled.
type stepFunc func(ctx context.Context, rec *load.Recorder) error

// runSteps sets up, then runs the profile once or, with FindMax, step by
// step, and reports.
func runSteps(ctx context.Context, c *Common, names load.Names, step stepFunc,
	setup func(context.Context) (Info, error)) (*Report, error) {
	if c.Registerer != nil && c.metrics == nil {
		m, err := load.NewMetrics(c.Registerer, names)
		if err != nil {
			return nil, err
		}
		c.metrics = m
	}
	info, err := setup(ctx)
	if err != nil {
		return nil, err
	}
	rep := &Report{Config: info, Machine: ThisMachine()}
	if c.FindMax != nil {
		err := findMax(ctx, c, names, step, rep)
		return rep, err
	}
	res, err := runOne(ctx, c, names, c.Profile, step)
	if err != nil {
		return nil, err
	}
	rep.Result = res
	rep.evaluate(c.Thresholds)
	rep.interrupted(ctx)
	return rep, nil
}

// runOne runs one profile with a fresh recorder and a progress line.
func runOne(ctx context.Context, c *Common, names load.Names, p load.Profile,
	step stepFunc) (load.Result, error) {
	now := c.now
	if now == nil {
		now = time.Now
	}
	rec, err := load.NewRecorder(load.RecorderConfig{Names: names, Profile: p,
		Start: now(), Now: now, Metrics: c.metrics})
	if err != nil {
		return load.Result{}, err
	}
	stop := startProgress(c.Progress, rec)
	err = step(ctx, rec)
	stop()
	if err != nil {
		return load.Result{}, err
	}
	return rec.Result(), nil
}

// errorKind sorts an error into one of the failure kinds.
func errorKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return FailTimeout
	case errors.Is(err, context.Canceled), errors.Is(err, mqttc.ErrClosed):
		return FailCanceled
	case errors.As(err, &ne):
		if ne.Timeout() {
			return FailTimeout
		}
		return FailNetwork
	default:
		return FailOther
	}
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
