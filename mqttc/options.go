package mqttc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"
)

// Defaults of the zero Options fields.
const (
	defaultKeepAlive            = 30 * time.Second
	defaultConnectTimeout       = 10 * time.Second
	defaultWriteTimeout         = 10 * time.Second
	defaultMaxReconnectInterval = 30 * time.Second
	defaultConnectRetryInterval = time.Second
	defaultLogEvery             = 10 * time.Second
)

// Options configures a Client. The zero value of each field has the meaning
// its comment gives; Broker or Dialer is required.
type Options struct {
	// Broker is the broker's URL: tcp://host:port, or ssl://host:port
	// for TLS (mqtt:// and mqtts:// are synonyms). Ignored when Dialer
	// is set, except in logs.
	Broker string
	// Dialer, when set, opens the network connection in place of
	// dialing Broker, for an in-memory transport such as
	// (*broker.Broker).Dial. It is called for the first connection and
	// for every reconnection, with a context that ends after
	// ConnectTimeout or at Disconnect.
	Dialer func(ctx context.Context) (net.Conn, error)
	// TLSConfig is used for ssl:// brokers; nil means the system's
	// roots and the URL's host name.
	TLSConfig *tls.Config

	// ClientID is the MQTT client identifier; required unless
	// CleanSession is true. A meter's is its DRN.
	ClientID string
	// Username and Password are the credentials; empty sends none.
	Username string
	Password string
	// CleanSession asks the broker to forget the session at disconnect.
	// False (the zero value) keeps a persistent session: subscriptions
	// and QoS 1 messages queued while offline survive a disconnect.
	CleanSession bool
	// KeepAlive is the MQTT keep-alive interval. Zero means 30 seconds.
	KeepAlive time.Duration
	// ConnectTimeout bounds each connection attempt: dialing and the
	// CONNECT/CONNACK exchange. Zero means 10 seconds.
	ConnectTimeout time.Duration
	// WriteTimeout bounds handing a packet to the connection. Zero means
	// 10 seconds.
	WriteTimeout time.Duration
	// Will is the last will the broker publishes if the connection ends
	// without a DISCONNECT; nil means none.
	Will *Will

	// NoReconnect turns automatic reconnection off. By default (false) a
	// lost connection is re-established with a growing pause, and the
	// subscriptions are made again.
	NoReconnect bool
	// MaxReconnectInterval caps the pause between reconnection attempts.
	// Zero means 30 seconds.
	MaxReconnectInterval time.Duration
	// ConnectRetry makes Connect retry a first connection that finds no
	// broker (a network error, a timeout, or a CONNACK saying the server
	// is unavailable) until it succeeds or its context ends. A refusal
	// that retrying cannot cure, such as of the credentials, ends Connect
	// at once. False (the zero value) fails at the first error.
	ConnectRetry bool
	// ConnectRetryInterval is the first pause between first-connection
	// attempts; it doubles after each failure, up to
	// MaxReconnectInterval. Zero means one second.
	ConnectRetryInterval time.Duration

	// Subscriptions are made by Connect, before it returns, and again
	// after every reconnection. Their handlers are in place before the
	// connection opens, so messages a persistent session queued while
	// the client was away reach them.
	Subscriptions []Subscription
	// DefaultHandler receives messages no subscription's filter matches;
	// nil drops them (Client.Unhandled counts them).
	DefaultHandler Handler
	// OnConnectionLost is called, on its own goroutine, with the reason
	// each time the connection is lost.
	OnConnectionLost func(err error)
	// OnReconnect is called after each automatic reconnection, with the
	// CONNACK's session-present flag: true when the broker kept the
	// session (and sends what it queued), false when the subscriptions
	// had to be made again, which is done before the call.
	OnReconnect func(sessionPresent bool)
	// Logger receives the client's logs; nil discards them.
	Logger *slog.Logger
	// LogConnection logs the course of the connection for the operator
	// of a service, naming the broker (its password hidden) and the
	// account: info when it is made or made again, warn while the broker
	// cannot be reached (with the reason and the pause before the next
	// attempt) and when the connection is lost, error when the broker
	// refuses the credentials on a reconnection. False (the zero value),
	// as for the thousands of meters of a fleet, logs the connection at
	// debug only.
	LogConnection bool
	// LogEvery is the least time between two LogConnection lines of one
	// kind (waiting, refused, lost, reconnected); the lines in between are
	// counted and the count is logged with the next one. Zero means 10
	// seconds.
	LogEvery time.Duration
}

// Will is a last will: published by the broker for a client whose
// connection ends without a DISCONNECT.
type Will struct {
	// Topic, Payload, QoS and Retained are those of the will message.
	Topic    string
	Payload  []byte
	QoS      byte
	Retained bool
}

// Subscription is a topic filter, the QoS asked for and the handler of the
// messages it matches.
type Subscription struct {
	// Filter is the MQTT topic filter, wildcards and $share/{group}/
	// prefix allowed.
	Filter string
	// QoS is the maximum QoS asked for: 0, 1 or 2.
	QoS byte
	// Handler receives the matching messages. It must not block.
	Handler Handler
}

// Handler receives messages. It is called on the client's single delivery
// goroutine, one message at a time, and the message is acknowledged when
// it returns: a handler that blocks stalls the client, its keep-alive
// included. Hand the work to another goroutine (a channel send that cannot
// block, or a queue) and return. The message, payload included, belongs to
// the handler.
type Handler func(Message)

// Message is a received MQTT message.
type Message struct {
	// Topic is the topic the message was published to.
	Topic string
	// Payload is the message body.
	Payload []byte
	// QoS is the QoS of the delivery.
	QoS byte
	// Retained is set for a retained message sent at subscription.
	Retained bool
	// Duplicate is set for a redelivery of a QoS 1 message.
	Duplicate bool
}

// validate checks opts and fills in the defaults.
func (o Options) validate() (Options, *url.URL, error) {
	if o.Dialer == nil && o.Broker == "" {
		return o, nil, errors.New("no broker: set Broker or Dialer")
	}
	if !o.CleanSession && o.ClientID == "" {
		return o, nil, errors.New("persistent session needs a client id")
	}
	if o.Will != nil && (o.Will.Topic == "" || o.Will.QoS > 2) {
		return o, nil, errors.New("will: want a topic and QoS 0, 1 or 2")
	}
	for _, s := range o.Subscriptions {
		if err := s.validate(); err != nil {
			return o, nil, err
		}
	}
	u, err := o.brokerURL()
	if err != nil {
		return o, nil, err
	}
	o.KeepAlive = orDefault(o.KeepAlive, defaultKeepAlive)
	o.ConnectTimeout = orDefault(o.ConnectTimeout, defaultConnectTimeout)
	o.WriteTimeout = orDefault(o.WriteTimeout, defaultWriteTimeout)
	o.MaxReconnectInterval = orDefault(o.MaxReconnectInterval, defaultMaxReconnectInterval)
	o.ConnectRetryInterval = orDefault(o.ConnectRetryInterval, defaultConnectRetryInterval)
	o.LogEvery = orDefault(o.LogEvery, defaultLogEvery)
	if o.KeepAlive < time.Second || o.ConnectTimeout < 0 || o.WriteTimeout < 0 {
		return o, nil, errors.New("keep-alive must be at least a second, timeouts positive")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, u, nil
}

// brokerURL parses Broker; an in-memory client without one gets a
// placeholder that only shows in logs.
func (o Options) brokerURL() (*url.URL, error) {
	if o.Broker == "" {
		return &url.URL{Scheme: "tcp", Host: "in-memory"}, nil
	}
	u, err := url.Parse(o.Broker)
	if err != nil {
		if strings.Contains(o.Broker, "@") {
			// The parser's error quotes the URL, password included.
			return nil, errors.New("broker url does not parse")
		}
		return nil, fmt.Errorf("broker url: %w", err)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "mqtts", "tls":
	default:
		return nil, fmt.Errorf("broker url %s: scheme %q, want tcp or ssl", u.Redacted(),
			u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("broker url %s: no host", u.Redacted())
	}
	return u, nil
}

func (s Subscription) validate() error {
	switch {
	case s.Filter == "":
		return errors.New("subscription: empty filter")
	case s.QoS > 2:
		return fmt.Errorf("subscription %s: QoS %d, want 0, 1 or 2", s.Filter, s.QoS)
	case s.Handler == nil:
		return fmt.Errorf("subscription %s: no handler", s.Filter)
	}
	return nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
