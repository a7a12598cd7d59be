package scenarios

import (
	"context"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/fleet/stack"
	"github.com/stsfleet/stsfleet/vending"
)

// AnalyticsStarter starts analytics beside a scenario's embedded broker,
// as the all-in-one does: stack.NATSAnalytics is the product's own.
type AnalyticsStarter func(context.Context, stack.AnalyticsParts) (stack.Analytics, error)

// analyticsUser is the embedded broker's analytics account.
const analyticsUser = broker.DefaultAnalyticsUsername

// eventSinker is the optional part of an analytics that takes the
// vendor's events, as stack.NATSAnalytics's does.
type eventSinker interface{ EventSink() vending.EventSink }

// analyticsAccount returns the broker account analytics signs in with, or
// none when the scenario runs without analytics.
func (s *Stack) analyticsAccount() []broker.Account {
	if s.cfg.Analytics == nil || s.cfg.BrokerURL != "" {
		return nil
	}
	s.analyticsPassword = hex.EncodeToString(randomBytes(16))
	return []broker.Account{{Username: analyticsUser, Password: s.analyticsPassword,
		Role: broker.RoleAnalytics}}
}

// startAnalytics starts analytics on the embedded broker, when configured.
// Its metrics go to the Registerer when that is a registry, which analytics
// needs to serve them; otherwise to a registry of its own.
func (s *Stack) startAnalytics(ctx context.Context) error {
	if s.cfg.Analytics == nil || s.broker == nil {
		return nil
	}
	reg, ok := s.cfg.Registerer.(*prometheus.Registry)
	if !ok {
		reg = prometheus.NewRegistry()
	}
	a, err := s.cfg.Analytics(ctx, stack.AnalyticsParts{Dial: s.broker.Dial,
		BrokerURL: s.broker.URL(), User: analyticsUser, Password: s.analyticsPassword,
		Registry: reg})
	if err != nil {
		return fmt.Errorf("start scenario: analytics: %w", err)
	}
	s.analytics = a
	return nil
}

// events returns where the vendor sends its vend events: analytics, or
// nowhere.
func (s *Stack) events() vending.EventSink {
	if es, ok := s.analytics.(eventSinker); ok {
		return es.EventSink()
	}
	return nil
}

// swapRegisterer registers a fleet's collectors on a registry and takes
// them off again, so that the fleet a scenario restarts registers in its
// predecessor's place. Its counters start again from zero, which
// Prometheus reads as a counter reset.
type swapRegisterer struct {
	reg prometheus.Registerer

	mu  sync.Mutex
	own []prometheus.Collector
}

// Register implements prometheus.Registerer.
func (r *swapRegisterer) Register(c prometheus.Collector) error {
	if err := r.reg.Register(c); err != nil {
		return err
	}
	r.mu.Lock()
	r.own = append(r.own, c)
	r.mu.Unlock()
	return nil
}

// MustRegister implements prometheus.Registerer.
func (r *swapRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// Unregister implements prometheus.Registerer.
func (r *swapRegisterer) Unregister(c prometheus.Collector) bool {
	return r.reg.Unregister(c)
}

// reset takes every collector registered so far off the registry.
func (r *swapRegisterer) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.own {
		r.reg.Unregister(c)
	}
	r.own = nil
}
