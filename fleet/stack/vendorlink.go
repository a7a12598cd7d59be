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
type vendorLink struct {
	mu     sync.RWMutex
	client *mqttc.Client
}

// Publish implements vending.Publisher.
func (l *vendorLink) Publish(ctx context.Context, topic string, qos byte, retained bool,
	payload []byte) error {
	l.mu.RLock()
	c := l.client
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
	c, err := mqttc.Connect(ctx, mqttc.Options{
		Broker: s.addrs.MQTT, Dialer: s.dialer(),
		ClientID: "vendor-" + hex.EncodeToString(randomBytes(4)),
		Username: s.cfg.VendorUser, Password: s.cfg.VendorPassword,
		// A fresh identifier each run: nothing to resume.
		CleanSession: true,
		Subscriptions: []mqttc.Subscription{{Filter: wire.SharedResultFilter, QoS: 1,
			Handler: handle}},
		DefaultHandler: func(mqttc.Message) {},
		Logger:         s.log.With("component", "vendor-mqtt"),
	})
	if err != nil {
		return fmt.Errorf("vendor mqtt link: %w", err)
	}
	l.mu.Lock()
	l.client = c
	l.mu.Unlock()
	return nil
}

func (l *vendorLink) close() {
	l.mu.Lock()
	c := l.client
	l.client = nil
	l.mu.Unlock()
	if c != nil {
		c.Disconnect(250 * time.Millisecond)
	}
}
