package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/fleet"
	"github.com/stsfleet/stsfleet/simclock"
	"github.com/stsfleet/stsfleet/vending"
)

// Transports of the meters' MQTT connections to an embedded broker.
const (
	// TransportMemory connects meters in memory: no socket per meter.
	TransportMemory = "memory"
	// TransportTCP connects meters over loopback TCP.
	TransportTCP = "tcp"
)

// Config says what to run in-process and what to reach outside. The zero
// value of every field runs everything embedded: a broker, a vendor with
// a fresh vending key and a temporary ledger, and a generated fleet.
type Config struct {
	// Meters is the size of the generated fleet when Definition is nil.
	// Zero means 1000.
	Meters int
	// Mix weighs the utilities of the generated fleet; nil means
	// vending.DefaultMix.
	Mix map[vending.Utility]int
	// Seed makes the generated fleet and the customers reproducible.
	Seed uint64

	// Definition and Injection are an existing fleet and its decoder
	// keys. Both nil generates a fleet with a fresh key store.
	Definition *vending.Definition
	Injection  vending.Injection
	// Keys is the vending key store of an existing fleet, needed by an
	// embedded vendor selling to it; ignored with VendorURL.
	Keys *vending.KeyStore

	// Clock is the simulated clock of every part. Nil means real time.
	Clock *simclock.Clock

	// BrokerURL points the meters (and an embedded vendor) at an
	// external MQTT broker; empty embeds one.
	BrokerURL string
	// BrokerListen is the embedded broker's TCP address. Empty means
	// 127.0.0.1:0, a free port.
	BrokerListen string
	// Transport is how meters reach the embedded broker: TransportMemory
	// (the default) or TransportTCP.
	Transport string
	// FleetSecret derives meters' MQTT passwords. Nil generates one for
	// an embedded broker; an external broker needs the one it uses.
	FleetSecret []byte
	// VendorUser and VendorPassword are the vendor's MQTT account. Empty
	// means "vendor" and, for an embedded broker, a generated password.
	VendorUser, VendorPassword string

	// VendorURL points the customers at an external vendor's HTTP API;
	// empty embeds one. VendorToken is its bearer token.
	VendorURL, VendorToken string
	// VendorListen is the embedded vendor's HTTP address. Empty means
	// 127.0.0.1:0.
	VendorListen string
	// DBPath is the embedded vendor's ledger. Empty means StateLedger in
	// Fleet.StateDir when that is set, so that a stack started again on
	// the same state continues the vendor's ledger with its meters, and
	// otherwise a file in a temporary directory removed at Shutdown.
	DBPath string
	// Delivery tunes the embedded vendor's redelivery.
	Delivery vending.DeliveryConfig

	// AnalyticsUser and AnalyticsPassword are the embedded broker's
	// analytics account, created when the password is set (Analytics
	// needs it to read results and telemetry).
	AnalyticsUser, AnalyticsPassword string
	// Analytics, when set, starts analytics once the broker is up; the
	// summary then counts its readings and checks its totals. Nil runs
	// none, and telemetry_aggregated is 0.
	Analytics func(ctx context.Context, p AnalyticsParts) (Analytics, error)

	// HTTPListen is the address of the fleet's HTTP API and of /metrics
	// for every part. Empty means 127.0.0.1:0.
	HTTPListen string

	// Fleet holds the fleet's own settings: step, telemetry, purchases,
	// state directory, events and so on. Its Definition, Injection,
	// Clock, broker fields, Vendor, Logger and Registerer are set here.
	Fleet fleet.Config

	// Logger receives every part's logs; nil discards them.
	Logger *slog.Logger
}

// Stack is the product running in one process: whichever of broker,
// vendor and fleet are embedded, with one HTTP server for the fleet's API
// and every part's metrics. Create it with Start; Shutdown ends it.
type Stack struct {
	cfg Config
	log *slog.Logger

	// Broker is the embedded broker; nil with Config.BrokerURL.
	Broker *broker.Broker
	// Vendor is the embedded vending service; nil with Config.VendorURL.
	Vendor *vending.Service
	// Fleet is the running fleet.
	Fleet *fleet.Fleet
	// Definition is the fleet definition in use, Injection its decoder
	// keys and Keys its vending key store (nil with an external vendor
	// given an existing fleet).
	Definition *vending.Definition
	Injection  vending.Injection
	Keys       *vending.KeyStore
	// Clock is the simulated clock every part runs on.
	Clock *simclock.Clock

	vendorLink *vendorLink
	analytics  Analytics
	servers    []*http.Server
	// addrs are the listening addresses, by name.
	addrs   Addrs
	tempDir string
	// gatherers collects every part's registry for /metrics.
	gatherers prometheus.Gatherers

	group sync.WaitGroup
	// vendorStop ends the vendor's Run.
	vendorStop context.CancelFunc
	vendorErr  chan error

	mu       sync.Mutex
	stopping bool
	stopped  chan struct{}
	stopErr  error
}

// Addrs are where a stack can be reached.
type Addrs struct {
	// MQTT is the broker's URL.
	MQTT string `json:"mqtt"`
	// Vendor is the vendor's HTTP API.
	Vendor string `json:"vendor"`
	// Fleet is the fleet's HTTP API; Metrics serves /metrics.
	Fleet   string `json:"fleet"`
	Metrics string `json:"metrics"`
	// NATS is the NATS server and Analytics analytics' HTTP API
	// (GET /v1/summary); both empty without analytics.
	NATS      string `json:"nats,omitempty"`
	Analytics string `json:"analytics,omitempty"`
}

// Addrs returns the addresses of the running parts.
func (s *Stack) Addrs() Addrs { return s.addrs }

// Start starts the embedded parts in order (broker, vendor, HTTP) and then
// the fleet, which it returns once every meter has connected. On error it
// shuts down what it started.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	s := &Stack{cfg: cfg, log: cfg.Logger, stopped: make(chan struct{}),
		vendorErr: make(chan error, 1)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if err := s.start(ctx); err != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		s.Shutdown(sctx)
		return nil, fmt.Errorf("start: %w", err)
	}
	return s, nil
}

func (s *Stack) start(ctx context.Context) error {
	cfg := &s.cfg
	s.Clock = cfg.Clock
	if s.Clock == nil {
		s.Clock = simclock.Real()
	}
	if err := s.prepareFleet(); err != nil {
		return err
	}
	if err := s.startBroker(ctx); err != nil {
		return err
	}
	if err := s.startAnalytics(ctx); err != nil {
		return err
	}
	if err := s.startVendor(ctx); err != nil {
		return err
	}
	fc, err := s.fleetConfig()
	if err != nil {
		return err
	}
	f, err := fleet.New(fc)
	if err != nil {
		return err
	}
	s.Fleet = f
	if err := s.serveHTTP(); err != nil {
		return err
	}
	return f.Start(ctx)
}

// prepareFleet generates a fleet unless one was given.
func (s *Stack) prepareFleet() error {
	cfg := &s.cfg
	switch {
	case cfg.Definition != nil && cfg.Injection != nil:
		s.Definition, s.Injection, s.Keys = cfg.Definition, cfg.Injection, cfg.Keys
		return nil
	case cfg.Definition != nil || cfg.Injection != nil:
		return errors.New("fleet: give both the definition and the injection, or neither")
	case cfg.VendorURL != "":
		return errors.New("fleet: an external vendor needs the fleet definition and injection")
	}
	n := cfg.Meters
	if n == 0 {
		n = 1000
	}
	gen, err := s.generateFleet(vending.FleetConfig{Meters: n, Mix: cfg.Mix, Seed: cfg.Seed})
	if err != nil {
		return fmt.Errorf("generate fleet: %w", err)
	}
	s.Definition, cfg.Injection, cfg.Keys = gen.Definition, gen.Injection, gen.Keys
	s.Injection, s.Keys = gen.Injection, gen.Keys
	return nil
}

func (s *Stack) startBroker(ctx context.Context) error {
	cfg := &s.cfg
	if cfg.VendorUser == "" {
		cfg.VendorUser = broker.DefaultVendorUsername
	}
	if cfg.BrokerURL != "" {
		if len(cfg.FleetSecret) == 0 {
			return errors.New("broker: an external broker needs its fleet secret")
		}
		s.addrs.MQTT = cfg.BrokerURL
		return nil
	}
	if len(cfg.FleetSecret) == 0 {
		cfg.FleetSecret = randomBytes(32)
	}
	if cfg.VendorPassword == "" {
		cfg.VendorPassword = hex.EncodeToString(randomBytes(16))
	}
	listen := cfg.BrokerListen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	accounts := []broker.Account{{Username: cfg.VendorUser, Password: cfg.VendorPassword,
		Role: broker.RoleVendor}}
	if cfg.AnalyticsPassword != "" {
		if cfg.AnalyticsUser == "" {
			cfg.AnalyticsUser = broker.DefaultAnalyticsUsername
		}
		accounts = append(accounts, broker.Account{Username: cfg.AnalyticsUser,
			Password: cfg.AnalyticsPassword, Role: broker.RoleAnalytics})
	}
	reg := prometheus.NewRegistry()
	b, err := broker.New(broker.Config{
		Listen: listen, FleetSecret: cfg.FleetSecret, Accounts: accounts,
		Logger: s.log.With("component", "broker"), Registerer: reg,
	})
	if err != nil {
		return err
	}
	if err := b.Start(ctx); err != nil {
		return err
	}
	s.Broker = b
	s.addrs.MQTT = b.URL()
	s.gatherers = append(s.gatherers, reg)
	return nil
}

// dialer returns how meters and the vendor reach the broker: a dialer for
// the embedded broker's memory transport, or nil to use the URL.
func (s *Stack) dialer() func(context.Context) (net.Conn, error) {
	if s.Broker != nil && s.cfg.Transport != TransportTCP {
		return s.Broker.Dial
	}
	return nil
}

func (s *Stack) startVendor(ctx context.Context) error {
	cfg := &s.cfg
	if cfg.VendorURL != "" {
		s.addrs.Vendor = cfg.VendorURL
		return nil
	}
	if cfg.Keys == nil {
		return errors.New("vendor: an embedded vendor needs the vending key store")
	}
	db := cfg.DBPath
	dir, err := s.stateDir()
	if err != nil {
		return fmt.Errorf("vendor: %w", err)
	}
	if db == "" && dir != "" {
		db = filepath.Join(dir, StateLedger)
		if err := checkStateLedger(dir, db); err != nil {
			return fmt.Errorf("vendor: %w", err)
		}
	}
	if db == "" {
		dir, err := os.MkdirTemp("", "stsfleet-vendor-")
		if err != nil {
			return fmt.Errorf("vendor: %w", err)
		}
		s.tempDir = dir
		db = filepath.Join(dir, "ledger.db")
	}
	if cfg.VendorToken == "" {
		cfg.VendorToken = hex.EncodeToString(randomBytes(16))
	}
	link := &vendorLink{}
	reg := prometheus.NewRegistry()
	var events vending.EventSink
	if es, ok := s.analytics.(eventSinker); ok {
		events = es.EventSink()
	}
	svc, err := vending.New(ctx, vending.Config{
		Definition: s.Definition, Keys: cfg.Keys, DBPath: db, Publisher: link,
		Delivery: cfg.Delivery, Clock: s.Clock, Logger: s.log.With("component", "vendor"),
		Registry: reg, APIToken: cfg.VendorToken, Tables: cfg.Fleet.Tables, Events: events,
	})
	if err != nil {
		return err
	}
	s.Vendor = svc
	s.gatherers = append(s.gatherers, reg)
	if err := link.connect(ctx, s, svc); err != nil {
		return err
	}
	s.vendorLink = link

	vctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.vendorStop = cancel
	s.group.Add(1)
	go func() {
		defer s.group.Done()
		s.vendorErr <- svc.Run(vctx)
	}()

	addr, err := s.serve(cfg.VendorListen, svc.Handler())
	if err != nil {
		return fmt.Errorf("vendor: %w", err)
	}
	s.addrs.Vendor = "http://" + addr
	return nil
}

func (s *Stack) fleetConfig() (fleet.Config, error) {
	cfg := &s.cfg
	fc := cfg.Fleet
	fc.Definition, fc.Injection, fc.Clock = s.Definition, cfg.Injection, s.Clock
	fc.FleetSecret = cfg.FleetSecret
	fc.Dialer = s.dialer()
	fc.Broker = s.addrs.MQTT
	fc.Logger = s.log.With("component", "fleet")
	if fc.Seed == 0 {
		fc.Seed = cfg.Seed
	}
	if fc.Vendor == nil {
		fc.Vendor = fleet.NewHTTPVendor(s.addrs.Vendor, cfg.VendorToken, nil)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	fc.Registerer = reg
	s.gatherers = append(s.gatherers, reg)
	return fc, nil
}

// serveHTTP serves the fleet's API, every part's metrics and the status
// page (status.go) on one address.
func (s *Stack) serveHTTP() error {
	page, err := s.statusPage()
	if err != nil {
		return fmt.Errorf("fleet http: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", s.Fleet.Handler())
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.gatherers, promhttp.HandlerOpts{}))
	mux.Handle("GET /{$}", page)
	addr, err := s.serve(s.cfg.HTTPListen, mux)
	if err != nil {
		return fmt.Errorf("fleet http: %w", err)
	}
	s.runStatusPage(page, s.servers[len(s.servers)-1])
	s.addrs.Fleet = "http://" + addr
	s.addrs.Metrics = "http://" + addr + "/metrics"
	if as, ok := s.analytics.(analyticsServer); ok {
		addr, err := s.serve("", as.Handler())
		if err != nil {
			return fmt.Errorf("analytics http: %w", err)
		}
		s.addrs.Analytics, s.addrs.NATS = "http://"+addr, as.NATSURL()
	}
	return nil
}

// serve listens on addr (127.0.0.1:0 when empty) and serves h until
// Shutdown. It returns the bound address.
func (s *Stack) serve(addr string, h http.Handler) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	s.group.Add(1)
	go func() {
		defer s.group.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return ln.Addr().String(), nil
}

// Gatherer returns every part's metrics together.
func (s *Stack) Gatherer() prometheus.Gatherer { return s.gatherers }

// Shutdown stops everything in order: the fleet (meters save their state
// and disconnect, and with a state directory the simulated time is
// recorded, see [ResumeTime]), the HTTP servers, the vendor (its last results are
// handled, its ledger closed), the vendor's MQTT link, analytics and the
// broker. It
// is idempotent; later calls wait for the first.
func (s *Stack) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		<-s.stopped
		return s.stopErr
	}
	s.stopping = true
	s.mu.Unlock()

	var errs []error
	if s.Fleet != nil {
		errs = append(errs, s.Fleet.Shutdown(ctx))
		if s.cfg.Fleet.StateDir != "" {
			errs = append(errs, s.saveClock())
		}
	}
	for _, srv := range s.servers {
		errs = append(errs, srv.Shutdown(ctx))
	}
	if s.vendorStop != nil {
		s.vendorStop()
		errs = append(errs, <-s.vendorErr)
	}
	if s.vendorLink != nil {
		s.vendorLink.close()
	}
	if s.analytics != nil {
		errs = append(errs, s.analytics.Shutdown(ctx))
	}
	if s.Vendor != nil {
		errs = append(errs, s.Vendor.Close())
	}
	if s.Broker != nil {
		errs = append(errs, s.Broker.Shutdown(ctx))
	}
	s.group.Wait()
	if s.tempDir != "" {
		errs = append(errs, os.RemoveAll(s.tempDir))
	}
	s.stopErr = errors.Join(errs...)
	close(s.stopped)
	return s.stopErr
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
