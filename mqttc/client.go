package mqttc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/stsfleet/stsfleet/internal/ratelimit"
)

// Errors callers branch on.
var (
	// ErrSubscribeRefused reports a SUBACK that refused a filter (return
	// code 0x80): the broker's ACL does not allow it.
	ErrSubscribeRefused = errors.New("subscription refused by the broker")
	// ErrConnectRefused reports a CONNACK refusing the connection, such
	// as for bad credentials or a client identifier the broker rejects.
	ErrConnectRefused = errors.New("connection refused by the broker")
	// ErrCredentialsRefused reports a CONNACK refusing the account: bad
	// user name or password, or not authorized (return codes 4 and 5,
	// [MQTT-3.2.2.3]). An error that matches it matches ErrConnectRefused
	// too.
	ErrCredentialsRefused = errors.New("credentials refused by the broker")
	// ErrClosed reports a call on a client after Disconnect.
	ErrClosed = errors.New("mqtt client closed")
)

// Client is a connected MQTT client. Every method is safe for concurrent
// use and waits on the context it is given as well as on the broker.
type Client struct {
	paho   paho.Client
	opts   Options
	log    *slog.Logger
	router *router
	// addr names the broker in logs and errors, its password hidden.
	addr string
	// user is the user name the client signs in with.
	user string
	// notes thins out the LogConnection lines, by kind.
	notes *ratelimit.Limiter
	// ctx ends at Disconnect; it bounds dials and resubscriptions.
	ctx    context.Context
	cancel context.CancelFunc
	// unhandled counts messages no handler took.
	unhandled atomic.Uint64
	// sessionPresent is the first CONNACK's session-present flag.
	sessionPresent bool
	// present is the session-present flag of the latest CONNACK.
	present atomic.Bool

	mu sync.Mutex
	// subs are the subscriptions to make again after a reconnection, in
	// the order they were first made.
	subs     []Subscription
	connects int
	closed   bool
	// reconnecting is set from paho's notice of each connection attempt:
	// whether it is an automatic reconnection.
	reconnecting bool
	// backoff follows paho's pauses between reconnection attempts.
	backoff backoff
	// wg tracks the resubscriptions running after reconnections.
	wg sync.WaitGroup
}

// Connect connects to the broker, makes opts.Subscriptions and returns the
// client. It fails if ctx ends first, if the broker refuses the connection
// (ErrConnectRefused; ErrCredentialsRefused for the account) or one of the
// subscriptions (ErrSubscribeRefused). Its errors name the broker and the
// account, never the password.
func Connect(ctx context.Context, opts Options) (*Client, error) {
	opts, u, err := opts.validate()
	if err != nil {
		return nil, fmt.Errorf("connect mqtt: %w", err)
	}
	c := &Client{opts: opts, log: opts.Logger, router: newRouter(),
		addr: brokerAddr(opts.Broker, u), user: opts.user(u),
		notes: ratelimit.New(opts.LogEvery)}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	for _, s := range opts.Subscriptions {
		c.router.add(s.Filter, s.Handler)
	}

	tok, err := c.connectFirst(ctx, u)
	if err != nil {
		return nil, c.abandon(err)
	}
	c.sessionPresent = tok.SessionPresent()
	for _, s := range opts.Subscriptions {
		if err := c.subscribeOnce(ctx, s, c.sessionPresent); err != nil {
			return nil, c.abandon(err)
		}
	}
	if opts.LogConnection {
		c.log.Info("connected to MQTT broker", "addr", c.addr, "user", c.user,
			"client_id", opts.ClientID, "session_present", c.sessionPresent)
	} else {
		c.log.Debug("mqtt connected", "client_id", opts.ClientID,
			"session_present", c.sessionPresent)
	}
	return c, nil
}

// abandon closes a client that Connect could not complete and returns
// Connect's error, naming the broker and the account.
func (c *Client) abandon(err error) error {
	c.Disconnect(0)
	return fmt.Errorf("connect to MQTT broker %s as %s: %w", c.addr,
		account(c.user, c.opts.ClientID), err)
}

// connectFirst makes the first connection. With ConnectRetry it tries
// again, with a growing pause, for as long as the broker cannot be
// reached. Each attempt has a paho client of its own: one whose Connect
// failed is not reused.
func (c *Client) connectFirst(ctx context.Context, u *url.URL) (*paho.ConnectToken, error) {
	pause := c.opts.ConnectRetryInterval
	for {
		c.paho = paho.NewClient(c.pahoOptions(u))
		tok := c.paho.Connect().(*paho.ConnectToken)
		err := wait(ctx, tok)
		if err == nil {
			return tok, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		if rc := tok.ReturnCode(); rc != packets.Accepted && rc != packets.ErrNetworkError {
			err = &refusal{code: rc, err: err}
		}
		if !c.opts.ConnectRetry || !missing(err) {
			return nil, err
		}

		c.note(slog.LevelWarn, "waiting", "waiting for MQTT broker", "err", reason(err),
			"retry_in", pause)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last attempt: %v)", ctx.Err(), err)
		case <-time.After(pause):
		}
		pause = min(2*pause, c.opts.MaxReconnectInterval)
	}
}

func (c *Client) pahoOptions(u *url.URL) *paho.ClientOptions {
	o := c.opts
	po := paho.NewClientOptions()
	po.Servers = []*url.URL{u}
	po.SetClientID(o.ClientID)
	po.SetUsername(o.Username)
	po.SetPassword(o.Password)
	po.SetCleanSession(o.CleanSession)
	// 3.1.1 only: paho would otherwise retry a refused connection as
	// 3.1, and the broker would count the refusal twice.
	po.SetProtocolVersion(4)
	po.SetKeepAlive(o.KeepAlive)
	po.SetConnectTimeout(o.ConnectTimeout)
	po.SetWriteTimeout(o.WriteTimeout)
	po.SetOrderMatters(true)
	po.SetAutoReconnect(!o.NoReconnect)
	po.SetMaxReconnectInterval(o.MaxReconnectInterval)
	if w := o.Will; w != nil {
		po.SetBinaryWill(w.Topic, w.Payload, w.QoS, w.Retained)
	}
	// Every message goes to the router; paho keeps no routes of its own.
	po.SetDefaultPublishHandler(c.deliver)
	po.SetConnectionLostHandler(c.connectionLost)
	po.SetOnConnectHandler(c.connected)
	po.SetCustomOpenConnectionFn(c.dial)
	if o.LogConnection {
		po.SetConnectionNotificationHandler(c.notified)
	}
	return po
}

// dial opens every connection for paho: through the Dialer, or over TCP or
// TLS to the broker's URL. It wraps the connection to learn from the
// CONNACK whether the broker kept the session.
func (c *Client) dial(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.ConnectTimeout)
	defer cancel()
	var (
		conn net.Conn
		err  error
	)
	if c.opts.Dialer != nil {
		conn, err = c.opts.Dialer(ctx)
	} else {
		conn, err = dialURL(ctx, u, c.opts.TLSConfig)
	}
	if err != nil {
		return nil, err
	}
	return &connackConn{Conn: conn, present: &c.present}, nil
}

// deliver is paho's publish handler for every message.
func (c *Client) deliver(_ paho.Client, pm paho.Message) {
	m := Message{
		Topic:     pm.Topic(),
		Payload:   pm.Payload(),
		QoS:       pm.Qos(),
		Retained:  pm.Retained(),
		Duplicate: pm.Duplicate(),
	}
	if c.router.dispatch(m) {
		return
	}
	if c.opts.DefaultHandler != nil {
		c.opts.DefaultHandler(m)
		return
	}
	c.unhandled.Add(1)
	c.log.Debug("mqtt message without handler", "topic", m.Topic)
}

func (c *Client) connectionLost(_ paho.Client, err error) {
	if c.opts.LogConnection {
		c.note(slog.LevelWarn, "lost", "lost the connection to MQTT broker", "err", reason(err),
			"reconnect", !c.opts.NoReconnect)
	} else {
		c.log.Debug("mqtt connection lost", "client_id", c.opts.ClientID, "err", err)
	}
	if c.opts.OnConnectionLost != nil {
		c.opts.OnConnectionLost(err)
	}
}

// connected runs on paho's goroutine after every successful connection.
// After a reconnection without a session (a clean session, or a broker
// that restarted) it makes the subscriptions again.
func (c *Client) connected(paho.Client) {
	present := c.present.Load()
	c.mu.Lock()
	c.connects++
	first, closed := c.connects == 1, c.closed
	var subs []Subscription
	if !present {
		subs = slices.Clone(c.subs)
	}
	if !first && !closed {
		c.wg.Add(1)
	}
	c.mu.Unlock()
	if first || closed {
		return
	}
	defer c.wg.Done()

	ctx, cancel := context.WithTimeout(c.ctx, c.opts.ConnectTimeout)
	defer cancel()
	for _, s := range subs {
		if err := c.subscribe(ctx, s); err != nil {
			c.log.Warn("mqtt resubscribe after reconnect", "client_id", c.opts.ClientID,
				"topic", s.Filter, "err", err)
		}
	}
	if c.opts.LogConnection {
		c.note(slog.LevelInfo, "reconnected", "reconnected to MQTT broker",
			"session_present", present)
	} else {
		c.log.Debug("mqtt reconnected", "client_id", c.opts.ClientID,
			"session_present", present)
	}
	if c.opts.OnReconnect != nil {
		c.opts.OnReconnect(present)
	}
}

// Publish publishes payload to topic and waits until the broker has it:
// for QoS 0 until it is written, for QoS 1 until the PUBACK. If ctx ends
// first the error wraps ctx.Err(), and a QoS 1 message may still be sent
// later (paho keeps it, and sends it again after a reconnection).
func (c *Client) Publish(ctx context.Context, topic string, qos byte, retained bool,
	payload []byte) error {
	if qos > 2 {
		return fmt.Errorf("publish to %s: QoS %d, want 0, 1 or 2", topic, qos)
	}
	if err := c.usable(ctx); err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	if err := wait(ctx, c.paho.Publish(topic, qos, retained, payload)); err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	return nil
}

// Subscribe subscribes to filter and routes its messages to h, replacing
// the handler of an earlier subscription to the same filter. It returns an
// error wrapping ErrSubscribeRefused if the broker refuses the filter. The
// subscription is made again after every reconnection.
func (c *Client) Subscribe(ctx context.Context, filter string, qos byte, h Handler) error {
	s := Subscription{Filter: filter, QoS: qos, Handler: h}
	if err := s.validate(); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	if err := c.usable(ctx); err != nil {
		return fmt.Errorf("subscribe to %s: %w", filter, err)
	}
	return c.subscribeOnce(ctx, s, false)
}

// subscribeOnce subscribes, or only routes when the broker already holds
// the subscription in a session it kept, and records it for reconnections.
func (c *Client) subscribeOnce(ctx context.Context, s Subscription, held bool) error {
	if held {
		c.router.add(s.Filter, s.Handler)
	} else if err := c.subscribe(ctx, s); err != nil {
		return err
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.IndexFunc(c.subs, func(o Subscription) bool { return o.Filter == s.Filter })
	if i >= 0 {
		c.subs[i] = s
	} else {
		c.subs = append(c.subs, s)
	}
	return nil
}

// subscribe sends a SUBSCRIBE. The route is in place before it is sent,
// because retained messages follow the SUBACK at once.
func (c *Client) subscribe(ctx context.Context, s Subscription) error {
	old := c.router.add(s.Filter, s.Handler)
	err := c.subscribeAttempts(ctx, s)
	if err != nil {
		c.router.restore(s.Filter, old)
		return fmt.Errorf("subscribe to %s: %w", s.Filter, err)
	}
	return nil
}

// packetIDInUse is the SUBACK code mochi returns when the SUBSCRIBE's packet
// identifier equals that of a message it is sending the client. The two
// directions have separate identifiers in MQTT, so this is the broker's
// mistake; a new SUBSCRIBE carries a new identifier.
const packetIDInUse = 0x91

func (c *Client) subscribeAttempts(ctx context.Context, s Subscription) error {
	const attempts = 3
	for range attempts - 1 {
		code, err := c.subscribePacket(ctx, s)
		if err != nil || code != packetIDInUse {
			return err
		}
	}
	_, err := c.subscribePacket(ctx, s)
	return err
}

// subscribePacket sends one SUBSCRIBE and returns its SUBACK code.
func (c *Client) subscribePacket(ctx context.Context, s Subscription) (byte, error) {
	tok := c.paho.Subscribe(s.Filter, s.QoS, nil)
	if err := wait(ctx, tok); err != nil {
		return 0, err
	}
	for _, code := range tok.(*paho.SubscribeToken).Result() {
		// [MQTT-3.9.3] 0 to 2 are the QoS granted; 0x80 is failure.
		if code > 2 {
			return code, fmt.Errorf("%w (return code %#x)", ErrSubscribeRefused, code)
		}
	}
	return 0, nil
}

// Unsubscribe ends the subscriptions to the filters and waits for the
// broker's UNSUBACK.
func (c *Client) Unsubscribe(ctx context.Context, filters ...string) error {
	if err := c.usable(ctx); err != nil {
		return fmt.Errorf("unsubscribe from %v: %w", filters, err)
	}
	c.mu.Lock()
	c.subs = slices.DeleteFunc(c.subs, func(s Subscription) bool {
		return slices.Contains(filters, s.Filter)
	})
	c.mu.Unlock()
	for _, f := range filters {
		c.router.remove(f)
	}
	if err := wait(ctx, c.paho.Unsubscribe(filters...)); err != nil {
		return fmt.Errorf("unsubscribe from %v: %w", filters, err)
	}
	return nil
}

// Disconnect sends DISCONNECT (so the broker discards the will), waiting
// up to quiesce for work in progress, and closes the client for good: a
// client is never reused, so Connect again for a new one. Calls after the
// first do nothing. Acknowledgements not yet sent when the connection
// closes are lost, and the broker delivers those messages again to the
// next session: give quiesce a few milliseconds when that matters.
func (c *Client) Disconnect(quiesce time.Duration) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()

	c.cancel()
	c.paho.Disconnect(uint(quiesce.Milliseconds()))
	c.wg.Wait()
}

// Addr names the broker: its URL with any password hidden, or "in-memory"
// for a Dialer without a URL.
func (c *Client) Addr() string { return c.addr }

// IsConnected reports whether the connection is up now.
func (c *Client) IsConnected() bool { return c.paho.IsConnectionOpen() }

// SessionPresent reports whether the broker still held a session for the
// client when Connect connected.
func (c *Client) SessionPresent() bool { return c.sessionPresent }

// Unhandled returns the number of messages that matched no handler and
// were dropped because Options.DefaultHandler is nil.
func (c *Client) Unhandled() uint64 { return c.unhandled.Load() }

// usable returns ErrClosed after Disconnect, or the context's error if it
// has ended already, so that nothing is sent on its behalf.
func (c *Client) usable(ctx context.Context) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return ctx.Err()
}

// wait waits for a paho token or the context, whichever comes first.
func wait(ctx context.Context, tok paho.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}
