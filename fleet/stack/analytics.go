package stack

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stsfleet/stsfleet/fleet"
	"github.com/stsfleet/stsfleet/meter"
	"github.com/stsfleet/stsfleet/vending"
)

// Analytics is an aggregating consumer running beside the other parts:
// the bridge from MQTT into NATS and the analytics service behind it. The
// summary takes its count of readings and checks its totals against the
// meters' own.
type Analytics interface {
	// TelemetryAggregated is the number of readings aggregated so far.
	TelemetryAggregated() int64
	// Finals is the number of meters whose final reading has been
	// aggregated.
	Finals() int
	// Totals are the registers by utility as the final readings report
	// them.
	Totals() fleet.Totals
	// Shutdown stops it and waits for its goroutines.
	Shutdown(ctx context.Context) error
}

// AnalyticsParts is what an [Analytics] is started with: how to reach the
// broker with the analytics account, and where to register metrics.
type AnalyticsParts struct {
	// BrokerURL is the broker's URL; Dial, when set, reaches the
	// embedded broker in memory instead.
	BrokerURL string
	Dial      func(context.Context) (net.Conn, error)
	// User and Password are the broker's analytics account.
	User, Password string
	// Registry receives its metrics, served on the stack's /metrics.
	Registry *prometheus.Registry
}

// analyticsServer is the optional part of an [Analytics] that has an HTTP
// API of its own and reads a NATS server.
type analyticsServer interface {
	Handler() http.Handler
	NATSURL() string
}

// eventSinker is the optional part of an [Analytics] that takes the
// vendor's events, such as the vend events analytics joins with results.
type eventSinker interface {
	EventSink() vending.EventSink
}

func (s *Stack) startAnalytics(ctx context.Context) error {
	if s.cfg.Analytics == nil {
		return nil
	}
	reg := prometheus.NewRegistry()
	a, err := s.cfg.Analytics(ctx, AnalyticsParts{BrokerURL: s.addrs.MQTT, Dial: s.dialer(),
		User: s.cfg.AnalyticsUser, Password: s.cfg.AnalyticsPassword, Registry: reg})
	if err != nil {
		return fmt.Errorf("analytics: %w", err)
	}
	s.analytics = a
	s.gatherers = append(s.gatherers, reg)
	return nil
}

// checkAnalytics waits for analytics to hold every meter's final reading,
// then compares its totals with the meters' registers.
func (s *Stack) checkAnalytics(ctx context.Context, sum *Summary, meters fleet.Totals) {
	a := s.analytics
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for a.Finals() < s.Fleet.Len() {
		select {
		case <-ctx.Done():
			sum.TelemetryAggregated = a.TelemetryAggregated()
			sum.AddFailure("analytics: %d of %d final readings aggregated", a.Finals(),
				s.Fleet.Len())
			return
		case <-t.C:
		}
	}
	sum.TelemetryAggregated = a.TelemetryAggregated()
	if s.Fleet.Shard().Count > 1 {
		// Analytics sees every shard; this process holds one.
		return
	}
	got := a.Totals()
	for _, u := range vending.Utilities {
		if got[u] != meters[u] {
			sum.AddFailure("analytics: %s totals %s, meters hold %s", u, register(got[u]),
				register(meters[u]))
		}
	}
}

func register(r meter.Register) string {
	return fmt.Sprintf("credited %s consumed %s remaining %s cleared %s", units(r.Credited),
		units(r.Consumed), units(r.Remaining), units(r.Cleared))
}
