package fleet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/protocol/wire"
)

// Reconnection pauses of a meter whose first connection fails for a reason
// other than a refusal.
const (
	minRetry = 100 * time.Millisecond
	maxRetry = 5 * time.Second
)

// connect connects the meter's MQTT client, at the fleet's ramp rate,
// retrying network failures until ctx ends. A refusal by the broker (bad
// credentials, a refused subscription) is returned at once.
func (a *actor) connect(ctx context.Context) error {
	pause := minRetry
	for {
		if err := a.f.ramp.Wait(ctx); err != nil {
			return fmt.Errorf("connect meter %s: %w", a.drn, err)
		}
		c, err := mqttc.Connect(ctx, a.options())
		if err == nil {
			a.client = c
			a.setUp(true)
			a.f.stats.connects.Add(1)
			return nil
		}
		if errors.Is(err, mqttc.ErrConnectRefused) || errors.Is(err, mqttc.ErrSubscribeRefused) {
			return fmt.Errorf("connect meter %s: %w", a.drn, err)
		}
		a.f.stats.connectRetries.Add(1)
		a.f.warn("connect", "meter", a.drn, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("connect meter %s: %w", a.drn, ctx.Err())
		case <-time.After(pause):
		}
		pause = min(2*pause, maxRetry)
	}
}

// options are the meter's MQTT client options: its DRN as client ID and
// username, its derived password, a persistent session, the offline will
// and the token subscription.
func (a *actor) options() mqttc.Options {
	cfg := &a.f.cfg
	return mqttc.Options{
		Broker:   cfg.Broker,
		Dialer:   cfg.Dialer,
		ClientID: a.drn,
		Username: a.drn,
		Password: broker.MeterPassword(cfg.FleetSecret, a.drn),
		// [MQTT-3.1.2-4] a persistent session keeps the tokens sent while
		// the meter is away.
		CleanSession: false,
		KeepAlive:    cfg.KeepAlive,
		Will: &mqttc.Will{Topic: wire.Topic(a.drn, wire.KindStatus),
			Payload: wire.OfflineWill, QoS: 1, Retained: true},
		Subscriptions: []mqttc.Subscription{{
			Filter: wire.Topic(a.drn, wire.KindToken), QoS: 1, Handler: a.handleToken,
		}},
		DefaultHandler: a.handleOther,
		OnReconnect:    a.handleReconnect,
		OnConnectionLost: func(error) {
			a.f.stats.connectionsLost.Add(1)
			a.setUp(false)
		},
	}
}

// handleToken runs on paho's goroutine: it hands the message to the actor
// and returns, so that paho is never held up.
func (a *actor) handleToken(m mqttc.Message) {
	a.f.stats.tokensReceived.Add(1)
	payload := m.Payload
	a.box.put(func(a *actor) { a.onToken(a.ctx, payload) })
}

// handleOther counts messages on topics the meter never subscribed to.
func (a *actor) handleOther(mqttc.Message) { a.f.stats.unexpected.Add(1) }

// handleReconnect runs after paho reconnected on its own: the actor
// announces itself again.
func (a *actor) handleReconnect(bool) {
	a.f.stats.reconnects.Add(1)
	a.setUp(true)
	a.box.put(func(a *actor) {
		if a.client != nil {
			a.announce(a.ctx)
		}
	})
}
