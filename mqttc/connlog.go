package mqttc

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/stsfleet/stsfleet/internal/netreason"
)

// refusal is a CONNACK refusing the connection. It matches
// ErrConnectRefused and, when the account is refused, ErrCredentialsRefused.
type refusal struct {
	code byte
	// err is paho's reason, such as "not Authorized".
	err error
}

func (r *refusal) Error() string {
	if r.credentials() {
		return ErrCredentialsRefused.Error() + ": " + r.err.Error()
	}
	return ErrConnectRefused.Error() + ": " + r.err.Error()
}

// Is matches ErrConnectRefused, and ErrCredentialsRefused for return codes
// 4 and 5.
func (r *refusal) Is(target error) bool {
	return target == ErrConnectRefused || target == ErrCredentialsRefused && r.credentials()
}

func (r *refusal) Unwrap() error { return r.err }

// credentials reports a refusal of the account: [MQTT-3.2.2.3] return
// codes 4 (bad user name or password) and 5 (not authorized).
func (r *refusal) credentials() bool {
	return r.code == packets.ErrRefusedBadUsernameOrPassword ||
		r.code == packets.ErrRefusedNotAuthorised
}

// missing reports a failed connection attempt that another may cure: the
// broker was not reached, or answered that it is unavailable. Any other
// refusal (credentials, client identifier, protocol) stays as it is.
func missing(err error) bool {
	var r *refusal
	if errors.As(err, &r) {
		return r.code == packets.ErrRefusedServerUnavailable
	}
	return true
}

// credentialsRefused reports a paho connection error that refuses the
// account.
func credentialsRefused(err error) bool {
	return errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) ||
		errors.Is(err, packets.ErrorRefusedNotAuthorised) || errors.Is(err, ErrCredentialsRefused)
}

// reason is the part of a connection error worth a log line.
func reason(err error) string { return netreason.Of(err) }

// brokerAddr names the broker in logs and errors: its URL with any
// password hidden, or "in-memory" for a Dialer without a URL.
func brokerAddr(broker string, u *url.URL) string {
	if broker == "" {
		return "in-memory"
	}
	return u.Redacted()
}

// user is the user name the client signs in with: the broker URL's, as
// paho prefers it, or Username.
func (o Options) user(u *url.URL) string {
	if u.User != nil {
		return u.User.Username()
	}
	return o.Username
}

// account names the client in errors: the user name, with the client
// identifier when it differs.
func account(user, clientID string) string {
	switch {
	case user == "" && clientID == "":
		return "an anonymous client"
	case user == "":
		return "client " + clientID
	case clientID == "" || clientID == user:
		return user
	}
	return user + " (client " + clientID + ")"
}

// note logs a LogConnection line of a kind, at most one per LogEvery; a
// line that follows held-back ones counts them. Every line names the broker
// and the user.
func (c *Client) note(level slog.Level, kind, msg string, args ...any) {
	if !c.opts.LogConnection {
		return
	}
	ok, held := c.notes.Allow(kind)
	if !ok {
		return
	}
	args = append([]any{"addr", c.addr, "user", c.user}, args...)
	if held > 0 {
		args = append(args, "suppressed", held)
	}
	c.log.Log(context.Background(), level, msg, args...)
}

// notified receives paho's connection notifications, with LogConnection.
// Attempts and their failures come one after the other, on the goroutine
// that connects.
func (c *Client) notified(_ paho.Client, n paho.ConnectionNotification) {
	switch n := n.(type) {
	case paho.ConnectionNotificationConnecting:
		c.mu.Lock()
		c.reconnecting = n.IsReconnect
		c.mu.Unlock()
	case paho.ConnectionNotificationFailed:
		c.mu.Lock()
		again := c.reconnecting
		var pause time.Duration
		if again {
			pause = c.backoff.next(time.Now(), c.opts.MaxReconnectInterval,
				c.opts.ConnectTimeout)
		}
		c.mu.Unlock()
		// connectFirst reports the failures of the first connection.
		if again {
			c.reconnectFailed(n.Reason, pause)
		}
	}
}

// reconnectFailed logs a failed reconnection attempt: a warning while the
// broker is missing, an error when it refuses the credentials, which no
// retry cures unless someone mends the account.
func (c *Client) reconnectFailed(err error, pause time.Duration) {
	if credentialsRefused(err) {
		c.note(slog.LevelError, "refused", "MQTT broker refused the credentials",
			"err", reason(err), "retry_in", pause)
		return
	}
	c.note(slog.LevelWarn, "waiting", "waiting for MQTT broker", "err", reason(err),
		"retry_in", pause)
}

// backoff follows the pause paho takes after a failed reconnection
// attempt, to tell it in the log: a second at first, doubled after each
// failure that follows the last closely (within twice the connect timeout
// and the pause itself), at most the maximum. The zero value is ready.
type backoff struct {
	last     time.Time
	lastWait time.Duration
}

// initialReconnectPause is paho's first pause after a failed reconnection
// attempt.
const initialReconnectPause = time.Second

// next returns the pause that follows a failure at now.
func (b *backoff) next(now time.Time, maxWait, attemptTime time.Duration) time.Duration {
	first := min(initialReconnectPause, maxWait)
	switch {
	case b.last.IsZero() || now.Sub(b.last) > 2*attemptTime+b.lastWait || b.lastWait == 0:
		b.lastWait = first
	default:
		b.lastWait = min(2*b.lastWait, maxWait)
	}
	b.last = now
	return b.lastWait
}
