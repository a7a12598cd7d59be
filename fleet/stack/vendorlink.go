package stack

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/protocol/wire"
	"github.com/stsfleet/stsfleet/vending"
)

// errNoLink reports a publication before the vendor's MQTT client is up;
// the vendor delivers the token again later.
var errNoLink = errors.New("vendor mqtt link not connected")

// vendorLink is the embedded vendor's MQTT side: it publishes tokens
// (vending.Publisher) and hands every meter result, read through the
// vendors' shared subscription, to the service.
//
// Tokens and results travel on two connections. On one, a burst fills both
// directions at once: the vendor waits to write tokens while the broker
// waits to write results it has not read, until a write timeout breaks the
// link. Apart, each direction drains on its own.
type vendorLink struct {
	mu  sync.RWMutex
	pub *mqttc.Client
	sub *mqttc.Client
}

// Publish implements vending.Publisher.
func (l *vendorLink) Publish(ctx context.Context, topic string, qos byte, retained bool,
	payload []byte) error {
	l.mu.RLock()
	c := l.pub
	l.mu.RUnlock()
	if c == nil {
		return errNoLink
	}
	return c.Publish(ctx, topic, qos, retained, payload)
}

func (l *vendorLink) connect(ctx context.Context, s *Stack, svc *vending.Service) error {
	handle := func(m mqttc.Message) {
		drn, kind, err := wire.ParseTopic(m.Topic)
		if err != nil || kind != wire.KindResult {
			return
		}
		svc.HandleResult(drn, m.Payload)
	}
	opts := func(role string) mqttc.Options {
		return mqttc.Options{
			Broker: s.addrs.MQTT, Dialer: s.dialer(),
			ClientID: "vendor-" + role + "-" + hex.EncodeToString(randomBytes(4)),
			Username: s.cfg.VendorUser, Password: s.cfg.VendorPassword,
			// A fresh identifier each run: nothing to resume.
			CleanSession:   true,
			DefaultHandler: func(mqttc.Message) {},
			Logger:         s.log.With("component", "vendor-mqtt", "link", role),
		}
	}
	subOpts := opts("results")
	subOpts.Subscriptions = []mqttc.Subscription{{Filter: wire.SharedResultFilter, QoS: 1,
		Handler: handle}}
	sub, err := mqttc.Connect(ctx, subOpts)
	if err != nil {
		return fmt.Errorf("vendor mqtt link: results: %w", err)
	}
	pub, err := mqttc.Connect(ctx, opts("tokens"))
	if err != nil {
		sub.Disconnect(0)
		return fmt.Errorf("vendor mqtt link: tokens: %w", err)
	}
	l.mu.Lock()
	l.pub, l.sub = pub, sub
	l.mu.Unlock()
	return nil
}

func (l *vendorLink) close() {
	l.mu.Lock()
	pub, sub := l.pub, l.sub
	l.pub, l.sub = nil, nil
	l.mu.Unlock()
	for _, c := range []*mqttc.Client{pub, sub} {
		if c != nil {
			c.Disconnect(250 * time.Millisecond)
		}
	}
}
