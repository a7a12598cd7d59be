package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stsfleet/stsfleet/natsx"
	"github.com/stsfleet/stsfleet/vending"
)

// natsLink publishes the vendor's credit vend events on NATS, through
// JetStream, for analytics: a vending.EventSink over a natsx.VendForwarder.
// The service never waits for NATS. While NATS is away, events wait in the
// forwarder's bounded queue and are tried again; an event that finds the
// queue full is dropped, and one that fails every attempt is given up.
// Both are counted (vendor_vend_events_total) and logged, rate-limited.
type natsLink struct {
	nc  *nats.Conn
	fwd *natsx.VendForwarder
	log *slog.Logger

	stop context.CancelFunc
	wg   sync.WaitGroup
}

// startNATS connects to cfg.NATS and starts forwarding. The connection is
// retried in the background, so a NATS server that is down, or starts
// later, stops nothing. The stream is created if no one has yet.
func startNATS(ctx context.Context, cfg serveConfig, reg prometheus.Registerer,
	log *slog.Logger) (*natsLink, error) {
	log = log.With("component", "vend-events")
	nc, err := natsx.Connect(natsx.ConnectConfig{URL: cfg.NATS, Name: "vendor", Logger: log})
	if err != nil {
		return nil, fmt.Errorf("--nats: %w", err)
	}
	pub, err := natsx.NewVendPublisher(nc, cfg.Partitions)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("--partitions: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("--nats: %w", err)
	}
	l := &natsLink{nc: nc, log: log,
		fwd: natsx.NewVendForwarder(pub, natsx.ForwarderConfig{Logger: log})}
	if err := reg.Register(forwarderCollector{l.fwd}); err != nil {
		nc.Close()
		return nil, fmt.Errorf("register vend event metrics: %w", err)
	}

	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	l.stop = stop
	l.wg.Go(func() {
		_, err := natsx.EnsureStream(rctx, js, natsx.StreamConfig{Replicas: cfg.StreamReplicas})
		if err != nil && rctx.Err() == nil {
			log.Error("vend events: no stream", "err", err)
		}
	})
	l.wg.Go(func() { l.fwd.Run(rctx) })
	return l, nil
}

// Emit implements vending.EventSink: credit vends go to NATS.
func (l *natsLink) Emit(e vending.Event) {
	if v, ok := e.WireVend(); ok {
		l.fwd.Offer(v)
	}
}

// close publishes what is queued, within the forwarder's drain timeout,
// logs what became of the events and closes the connection. Call it once
// the service emits no more.
func (l *natsLink) close() {
	l.stop()
	l.wg.Wait()
	l.nc.Close()
	s := l.fwd.Stats()
	log := l.log.Info
	if s.Dropped+s.Failed > 0 {
		log = l.log.Warn
	}
	log("vend events forwarded", "published", s.Published, "dropped", s.Dropped,
		"failed", s.Failed)
}

// forwarderCollector exposes the forwarder's counts as vendor_vend_events_*.
type forwarderCollector struct{ fwd *natsx.VendForwarder }

var (
	vendEventsDesc = prometheus.NewDesc("vendor_vend_events_total",
		"Credit vend events offered to NATS, by result: published (stored in JetStream), "+
			"dropped (the queue was full) or failed (every attempt failed).",
		[]string{"result"}, nil)
	vendEventsQueuedDesc = prometheus.NewDesc("vendor_vend_events_queued",
		"Credit vend events waiting to be published on NATS.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c forwarderCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- vendEventsDesc
	ch <- vendEventsQueuedDesc
}

// Collect implements prometheus.Collector.
func (c forwarderCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.fwd.Stats()
	for _, r := range []struct {
		result string
		n      uint64
	}{{"published", s.Published}, {"dropped", s.Dropped}, {"failed", s.Failed}} {
		ch <- prometheus.MustNewConstMetric(vendEventsDesc, prometheus.CounterValue,
			float64(r.n), r.result)
	}
	ch <- prometheus.MustNewConstMetric(vendEventsQueuedDesc, prometheus.GaugeValue,
		float64(s.Queued))
}
