package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/stsfleet/stsfleet/analytics"
	"github.com/stsfleet/stsfleet/bridge"
	"github.com/stsfleet/stsfleet/fleet"
	"github.com/stsfleet/stsfleet/meter"
	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/natsx"
	"github.com/stsfleet/stsfleet/vending"
)

// NATSAnalytics returns the Config.Analytics of the product's own
// analytics: an embedded NATS server with JetStream (or the one at url),
// the bridge from MQTT into NATS on the broker's analytics account, one
// analytics instance owning every partition, and the vendor's vend events
// forwarded to NATS. log receives their logs.
func NATSAnalytics(url string, log *slog.Logger) func(context.Context, AnalyticsParts) (
	Analytics, error) {
	return func(ctx context.Context, p AnalyticsParts) (Analytics, error) {
		n := &natsAnalytics{log: log}
		if n.log == nil {
			n.log = slog.New(slog.DiscardHandler)
		}
		if err := n.start(ctx, url, p); err != nil {
			n.Shutdown(context.WithoutCancel(ctx))
			return nil, err
		}
		return n, nil
	}
}

// natsAnalytics is the embedded analytics part.
type natsAnalytics struct {
	log    *slog.Logger
	url    string
	server *natsx.Server
	nc     *nats.Conn
	br     *bridge.Bridge
	svc    *analytics.Service
	fwd    *natsx.VendForwarder

	cancel context.CancelFunc
	wg     sync.WaitGroup
	// errs collects what the goroutines returned.
	mu   sync.Mutex
	errs []error
}

func (n *natsAnalytics) start(ctx context.Context, url string, p AnalyticsParts) error {
	if url == "" {
		s, err := natsx.Start(natsx.Config{Port: natsx.RandomPort,
			Logger: n.log.With("component", "nats")})
		if err != nil {
			return err
		}
		n.server, url = s, s.ClientURL()
	}
	n.url = url
	nc, err := natsx.Connect(natsx.ConnectConfig{URL: url, Name: "bridge",
		Logger: n.log.With("component", "bridge")})
	if err != nil {
		return err
	}
	n.nc = nc
	br, err := bridge.New(bridge.Config{
		MQTT: mqttc.Options{Broker: p.BrokerURL, Dialer: p.Dial, Username: p.User,
			Password: p.Password},
		NATS: nc, Logger: n.log, Registerer: p.Registry,
	})
	if err != nil {
		return err
	}
	n.br = br
	n.svc, err = analytics.New(analytics.Config{URL: url, Registry: p.Registry,
		Logger: n.log.With("component", "analytics")})
	if err != nil {
		return err
	}
	pub, err := natsx.NewVendPublisher(nc, 0)
	if err != nil {
		return err
	}
	n.fwd = natsx.NewVendForwarder(pub, natsx.ForwarderConfig{
		Logger: n.log.With("component", "vend-events")})

	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.cancel = cancel
	n.goRun(func() error { return br.Run(rctx) })
	n.goRun(func() error { return n.svc.Run(rctx) })
	n.goRun(func() error { return n.fwd.Run(rctx) })
	for _, ready := range []<-chan struct{}{br.Ready(), n.svc.Ready()} {
		select {
		case <-ready:
		case <-ctx.Done():
			return fmt.Errorf("analytics: %w", ctx.Err())
		}
	}
	return nil
}

func (n *natsAnalytics) goRun(f func() error) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := f(); err != nil && !errors.Is(err, context.Canceled) {
			n.mu.Lock()
			n.errs = append(n.errs, err)
			n.mu.Unlock()
		}
	}()
}

// vendSink is a vending.EventSink that forwards credit vends to NATS.
type vendSink struct{ fwd *natsx.VendForwarder }

// Emit implements vending.EventSink.
func (s vendSink) Emit(e vending.Event) {
	if v, ok := e.WireVend(); ok {
		s.fwd.Offer(v)
	}
}

// EventSink implements the optional part of Analytics that takes the
// vendor's events.
func (n *natsAnalytics) EventSink() vending.EventSink { return vendSink{n.fwd} }

// Handler serves analytics' own API: GET /v1/summary and /metrics.
func (n *natsAnalytics) Handler() http.Handler { return n.svc.Handler() }

// NATSURL returns the NATS server analytics reads.
func (n *natsAnalytics) NATSURL() string { return n.url }

// TelemetryAggregated implements Analytics.
func (n *natsAnalytics) TelemetryAggregated() int64 {
	return n.svc.Summary().TelemetryAggregated
}

// Finals implements Analytics.
func (n *natsAnalytics) Finals() int { return int(n.svc.Summary().MetersFinal) }

// Totals implements Analytics.
func (n *natsAnalytics) Totals() fleet.Totals { return totalsOf(n.svc.Summary()) }

// totalsOf returns the registers an analytics summary holds, by utility.
// Analytics counts millionths of a unit, registers ten-thousandths:
// readings carry at most four decimals.
func totalsOf(sum analytics.Summary) fleet.Totals {
	t := fleet.Totals{}
	for name, u := range sum.ByUtility {
		m := func(a analytics.Amount) meter.Milli { return meter.Milli(a / 100) }
		t[vending.Utility(name)] = meter.Register{Credited: m(u.Credited),
			Consumed: m(u.Consumed), Remaining: m(u.Remaining), Cleared: m(u.Cleared)}
	}
	return t
}

// Shutdown implements Analytics: the bridge, analytics and the forwarder
// stop and drain, then the NATS connection and server close.
func (n *natsAnalytics) Shutdown(ctx context.Context) error {
	if n.cancel != nil {
		n.cancel()
	}
	n.wg.Wait()
	if n.nc != nil {
		n.nc.Close()
	}
	errs := n.errs
	if n.server != nil {
		errs = append(errs, n.server.Shutdown(ctx))
	}
	return errors.Join(errs...)
}
