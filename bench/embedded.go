package bench

import (
	"context"
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

	"github.com/stsfleet/stsfleet/fleet"
	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/protocol/wire"
	"github.com/stsfleet/stsfleet/simclock"
	"github.com/stsfleet/stsfleet/vending"
	"github.com/stsfleet/stsfleet/vending/ledger"
)

// embedded is the product in one process, as the all-in-one runs it: the
// broker, the vending service behind its HTTP API with a temporary SQLite
// ledger, and a fleet of meters whose customers do not buy (the bench
// does). The vendor hands its events to sink.
type embedded struct {
	broker *brokerEnv
	vendor *vending.Service
	fleet  *fleet.Fleet
	link   *mqttc.Client
	// reader reads results when the link is split; nil otherwise.
	reader  *mqttc.Client
	srv     *http.Server
	url     string
	token   string
	dir     string
	meters  []string
	stopRun context.CancelFunc
	wg      sync.WaitGroup
	runErr  error
}

// embeddedConfig says what to build.
type embeddedConfig struct {
	meters    int
	seed      uint64
	transport string
	sink      vending.EventSink
	// split gives the vendor one connection to publish tokens and
	// another to read results, instead of one for both.
	split bool
	// ledger tunes the vendor's ledger.
	ledger ledger.Options
	reg    prometheus.Registerer
	log    *slog.Logger
}

// startEmbedded starts broker, vendor and fleet, and returns once every
// meter is connected. On error it stops what it started.
func startEmbedded(ctx context.Context, cfg embeddedConfig) (*embedded, error) {
	e := &embedded{}
	if err := e.start(ctx, cfg); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *embedded) start(ctx context.Context, cfg embeddedConfig) error {
	gen, err := vending.NewFleet(vending.FleetConfig{Meters: cfg.meters, Seed: cfg.seed})
	if err != nil {
		return err
	}
	for _, m := range gen.Definition.Meters {
		e.meters = append(e.meters, m.DRN)
	}
	if e.broker, err = startBroker(ctx, cfg.transport, cfg.reg, cfg.log); err != nil {
		return err
	}
	if e.dir, err = os.MkdirTemp("", "stsfleet-bench-"); err != nil {
		return err
	}
	clock := simclock.Real()
	if err := e.startVendor(ctx, cfg, gen, clock); err != nil {
		return fmt.Errorf("vendor: %w", err)
	}
	f, err := fleet.New(fleet.Config{
		Definition: gen.Definition, Injection: gen.Injection, Clock: clock,
		Broker: e.broker.b.URL(), Dialer: e.broker.dialer(), FleetSecret: e.broker.secret,
		// Connect as fast as the broker takes them; readings only at the end.
		ConnectRate: 1e6, TelemetryInterval: -1,
		Logger: cfg.log, Registerer: cfg.reg,
	})
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	e.fleet = f
	return f.Start(ctx)
}

func (e *embedded) startVendor(ctx context.Context, cfg embeddedConfig, gen *vending.Fleet,
	clock *simclock.Clock) error {
	e.token = fmt.Sprintf("%x", randomBytes(16))
	pub := &lateLink{}
	svc, err := vending.New(ctx, vending.Config{
		Definition: gen.Definition, Keys: gen.Keys, DBPath: filepath.Join(e.dir, "ledger.db"),
		Publisher: pub, Clock: clock, Logger: cfg.log, Registry: cfg.reg, Events: cfg.sink,
		APIToken: e.token, Ledger: cfg.ledger,
	})
	if err != nil {
		return err
	}
	e.vendor = svc
	results := []mqttc.Subscription{{Filter: wire.SharedResultFilter, QoS: 1,
		Handler: func(m mqttc.Message) {
			if drn, kind, err := wire.ParseTopic(m.Topic); err == nil && kind == wire.KindResult {
				svc.HandleResult(drn, m.Payload)
			}
		}}}
	o := e.broker.vendorOptions("bench-vendor")
	if !cfg.split {
		o.Subscriptions = results
	}
	if e.link, err = mqttc.Connect(ctx, o); err != nil {
		return err
	}
	if cfg.split {
		o := e.broker.vendorOptions("bench-vendor-results")
		o.Subscriptions = results
		if e.reader, err = mqttc.Connect(ctx, o); err != nil {
			return err
		}
	}
	pub.set(e.link)

	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.stopRun = cancel
	e.wg.Go(func() { e.runErr = svc.Run(rctx) })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	e.url = "http://" + ln.Addr().String()
	e.srv = &http.Server{Handler: svc.Handler(), ReadHeaderTimeout: 10 * time.Second}
	e.wg.Go(func() {
		if err := e.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.log.Error("vendor http server", "err", err)
		}
	})
	return nil
}

// close stops the parts in reverse order and removes the ledger.
func (e *embedded) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if e.fleet != nil {
		_ = e.fleet.Shutdown(ctx)
	}
	if e.srv != nil {
		_ = e.srv.Shutdown(ctx)
	}
	if e.stopRun != nil {
		e.stopRun()
	}
	e.wg.Wait()
	for _, c := range []*mqttc.Client{e.link, e.reader} {
		if c != nil {
			c.Disconnect(0)
		}
	}
	if e.vendor != nil {
		_ = e.vendor.Close()
	}
	if e.broker != nil {
		e.broker.close()
	}
	if e.dir != "" {
		_ = os.RemoveAll(e.dir)
	}
}

// lateLink is the vendor's Publisher, connected once the service exists
// (the service must exist to handle the results the link subscribes to).
type lateLink struct {
	mu sync.RWMutex
	c  *mqttc.Client
}

func (l *lateLink) set(c *mqttc.Client) {
	l.mu.Lock()
	l.c = c
	l.mu.Unlock()
}

// Publish implements vending.Publisher.
func (l *lateLink) Publish(ctx context.Context, topic string, qos byte, retained bool,
	payload []byte) error {
	l.mu.RLock()
	c := l.c
	l.mu.RUnlock()
	if c == nil {
		return errors.New("vendor mqtt link not connected")
	}
	return c.Publish(ctx, topic, qos, retained, payload)
}
