package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/meter"
	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/protocol/wire"
	"github.com/stsfleet/stsfleet/simclock"
	"github.com/stsfleet/stsfleet/vending"
)

// Defaults of the zero Config fields.
const (
	// DefaultConnectRate is how many meters connect per second.
	DefaultConnectRate = 2000
	// DefaultStep is the simulated time between two wake-ups of a meter,
	// at which it runs its consumption and its customer looks at the
	// balance.
	DefaultStep = 15 * time.Minute
	// DefaultTelemetryInterval is the simulated time between readings.
	DefaultTelemetryInterval = time.Hour
	// DefaultPublishTimeout bounds the wait for the broker to take one
	// message.
	DefaultPublishTimeout = 10 * time.Second
	// DefaultBuyers is the number of purchases made at once.
	DefaultBuyers = 16
	// DefaultRecent is how many token outcomes a meter keeps for
	// GET /v1/meters/{drn}.
	DefaultRecent = 5
)

// Config configures a [Fleet]. Definition, Injection, Clock and a way to
// reach the broker (Broker or Dialer) are required; every other field has
// a working zero value.
type Config struct {
	// Definition is the fleet definition, the vendor's format. Each meter
	// of the shard runs with the identity it gives.
	Definition *vending.Definition
	// Injection holds each meter's decoder key, by DRN.
	Injection vending.Injection
	// Tables are the STA tables of EA07 meters; nil means the sample
	// tables (the vendor must use the same).
	Tables *sts.Tables
	// Shard selects the slice of the fleet this process runs. The zero
	// value runs every meter.
	Shard Shard

	// Clock is the simulated clock every meter runs on. Required.
	Clock *simclock.Clock
	// Step is the simulated time between wake-ups of a meter. Zero
	// means [DefaultStep].
	Step time.Duration
	// TelemetryInterval is the simulated time between readings, rounded
	// up to a whole number of steps. Zero means
	// [DefaultTelemetryInterval]; negative sends none but the final one.
	TelemetryInterval time.Duration
	// TelemetryQoS is the QoS of periodic readings: 0 (the zero value)
	// or 1. Final readings are always QoS 1.
	TelemetryQoS byte
	// Load overrides every meter's consumption model; nil keeps the
	// utility's daily profile seeded from the DRN.
	Load *meter.Load
	// TIDMemory is each meter's TID memory depth; zero means the
	// meter's default.
	TIDMemory int
	// Lockout is each meter's keypad lock-out policy. The zero value
	// never locks.
	Lockout meter.Lockout

	// Broker is the MQTT broker's URL, such as tcp://127.0.0.1:1883.
	// Ignored when Dialer is set.
	Broker string
	// Dialer opens in-memory connections to an embedded broker
	// ((*broker.Broker).Dial). When set, meters use no socket.
	Dialer func(ctx context.Context) (net.Conn, error)
	// FleetSecret derives each meter's MQTT password
	// ([broker.MeterPassword]). Required; never logged.
	FleetSecret []byte
	// ConnectRate is how many meters connect per second. Zero means
	// [DefaultConnectRate].
	ConnectRate float64
	// KeepAlive is each meter's MQTT keep-alive. Zero means mqttc's.
	KeepAlive time.Duration
	// PublishTimeout bounds the wait for the broker to take a message.
	// Zero means [DefaultPublishTimeout].
	PublishTimeout time.Duration

	// Vendor is where customers buy credit; nil means nobody buys, and
	// tokens arrive only from outside.
	Vendor Vendor
	// Purchases says when and how much customers buy.
	Purchases PurchasePolicy
	// Buyers is how many purchases run at once. Zero means
	// [DefaultBuyers].
	Buyers int
	// Seed makes the customers' draws reproducible; each meter mixes it
	// with its DRN.
	Seed uint64

	// StateDir, when set, is where each meter's state is kept (one file
	// per meter, 0600: they hold keys) and restored from at start.
	StateDir string
	// Events, when set, receives every token outcome as one JSON line.
	Events io.Writer
	// Recent is how many token outcomes each meter keeps for its HTTP
	// view. Zero means [DefaultRecent]; negative keeps none.
	Recent int

	// Logger receives the fleet's logs; nil discards them.
	Logger *slog.Logger
	// Registerer, when set, gets the fleet's metrics (fleet_*).
	Registerer prometheus.Registerer
}

// Shard is a deterministic slice of a fleet: the meters whose DRN hashes
// to Index of Count partitions ([wire.Partition]). Several processes with
// the same Count and different indexes share one fleet with no overlap.
type Shard struct {
	// Index is this slice, 0 to Count-1.
	Index int
	// Count is the number of slices; 0 or 1 means the whole fleet.
	Count int
}

// ParseShard reads "i/n", such as "0/2".
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 {
		return Shard{}, fmt.Errorf("shard %q: want i/n, such as 0/2", s)
	}
	sh := Shard{Index: i, Count: n}
	return sh, sh.validate()
}

func (s Shard) validate() error {
	if s.Count < 0 || s.Count > wire.MaxPartitions || s.Index < 0 ||
		s.Index >= max(s.Count, 1) {
		return fmt.Errorf("shard %d/%d: want 0 <= i < n <= %d", s.Index, s.Count,
			wire.MaxPartitions)
	}
	return nil
}

// Has reports whether the meter with this DRN belongs to the shard.
func (s Shard) Has(drn string) bool {
	return s.Count <= 1 || wire.Partition(drn, s.Count) == s.Index
}

// String writes the shard as i/n.
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, max(s.Count, 1)) }

// validate checks cfg and fills in the defaults.
func (cfg Config) validate() (Config, error) {
	switch {
	case cfg.Definition == nil:
		return cfg, errors.New("no fleet definition")
	case cfg.Injection == nil:
		return cfg, errors.New("no decoder key injection")
	case cfg.Clock == nil:
		return cfg, errors.New("no simulated clock")
	case cfg.Broker == "" && cfg.Dialer == nil:
		return cfg, errors.New("no broker: set Broker or Dialer")
	case len(cfg.FleetSecret) < broker.MinFleetSecret:
		return cfg, fmt.Errorf("fleet secret: %d bytes, want at least %d",
			len(cfg.FleetSecret), broker.MinFleetSecret)
	case cfg.TelemetryQoS > 1:
		return cfg, fmt.Errorf("telemetry qos %d: want 0 or 1", cfg.TelemetryQoS)
	case cfg.Step < 0 || cfg.ConnectRate < 0 || cfg.Buyers < 0:
		return cfg, errors.New("step, connect rate and buyers must not be negative")
	}
	if err := cfg.Shard.validate(); err != nil {
		return cfg, err
	}
	if cfg.Tables == nil {
		cfg.Tables = sts.SampleTables()
	}
	cfg.Step = orDefault(cfg.Step, DefaultStep)
	cfg.TelemetryInterval = orDefault(cfg.TelemetryInterval, DefaultTelemetryInterval)
	cfg.ConnectRate = orDefault(cfg.ConnectRate, DefaultConnectRate)
	cfg.PublishTimeout = orDefault(cfg.PublishTimeout, DefaultPublishTimeout)
	cfg.Buyers = orDefault(cfg.Buyers, DefaultBuyers)
	cfg.Recent = orDefault(cfg.Recent, DefaultRecent)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Purchases.validate(); err != nil {
		return cfg, fmt.Errorf("purchases: %w", err)
	}
	return cfg, nil
}

// telemetryEvery is the number of steps between two periodic readings, 0
// for none.
func (cfg *Config) telemetryEvery() int {
	if cfg.TelemetryInterval < 0 {
		return 0
	}
	return int(max(1, (cfg.TelemetryInterval+cfg.Step-1)/cfg.Step))
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// meterConfig builds the configuration of one virtual meter from its
// definition entry and injected decoder key.
func (cfg *Config) meterConfig(m *vending.Meter, k vending.DecoderKey) (meter.Config, error) {
	if k.EA != m.EA {
		return meter.Config{}, fmt.Errorf("meter %s: injected key is for EA%s, the definition "+
			"says EA%s", m.DRN, k.EA, m.EA)
	}
	sgc, err := strconv.ParseUint(m.SGC, 10, 32)
	if err != nil {
		return meter.Config{}, fmt.Errorf("meter %s: sgc %q: %w", m.DRN, m.SGC, err)
	}
	u, err := meter.ParseUtility(string(m.Utility))
	if err != nil {
		return meter.Config{}, fmt.Errorf("meter %s: %w", m.DRN, err)
	}
	ken := m.KEN
	c := meter.Config{
		DRN: m.DRN, MfrCode: m.MfrCode, SGC: uint32(sgc), TariffIndex: m.TI, KRN: m.KRN,
		KeyType: m.KT, KEN: &ken, BaseDate: m.BaseDate, EA: m.EA, Key: k.Key,
		Tables: cfg.Tables, Utility: u, TIDMemory: cfg.TIDMemory, Lockout: cfg.Lockout,
	}
	if cfg.Load != nil {
		c.Load = *cfg.Load
	}
	return c, nil
}
