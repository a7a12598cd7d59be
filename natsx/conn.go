package natsx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stsfleet/stsfleet/internal/netreason"
	"github.com/stsfleet/stsfleet/internal/ratelimit"
)

// DefaultURL is the NATS server clients use when none is named: the
// embedded server's default address.
const DefaultURL = "nats://127.0.0.1:4222"

// ErrCredentialsRefused reports a NATS server that refused the
// connection's credentials: an authorization violation, or credentials
// that expired or were revoked.
var ErrCredentialsRefused = errors.New("credentials refused by the NATS server")

// Pauses between reconnection attempts: the first, doubled after each
// round of the servers that fails, up to the longest.
const (
	firstReconnectWait = 250 * time.Millisecond
	maxReconnectWait   = 5 * time.Second
)

// ConnectConfig describes a client connection.
type ConnectConfig struct {
	// URL is the server, or a comma-separated list of a cluster's
	// servers. Empty means [DefaultURL]. Credentials go in the URL, as
	// nats://user:password@host:port; logs and errors hide the password
	// (and a token given as nats://token@host:port).
	URL string
	// Name is the client name the server shows, such as "analytics".
	Name string
	// Logger receives connection events and asynchronous errors. Nil
	// discards them.
	Logger *slog.Logger
	// OnSlowConsumer, when set, is called once for every slow-consumer
	// event: a subscription whose pending buffer overflowed, so the client
	// dropped messages for it. Use it to count them.
	OnSlowConsumer func(sub *nats.Subscription)
	// OnError, when set, is called for every other asynchronous error.
	OnError func(err error)
	// LogEvery is the least time between two log lines of the same kind
	// (an asynchronous error, a failed connection attempt, a lost
	// connection); the lines in between are counted and the count is
	// logged with the next one. Zero means 10 seconds.
	LogEvery time.Duration
}

// Connect dials NATS and returns at once. A server that refuses the
// credentials at this first attempt is an error wrapping
// [ErrCredentialsRefused], naming the server and the account but never
// the password. A server that is not there yet is logged as a warning and
// looked for in the background, with a growing pause (250ms, doubling up
// to 5s), for as long as the connection is open, so one that starts later
// or fails over is found; requests made meanwhile fail with errors
// [Transient] accepts.
//
// The log tells the connection's course: info when it is made or made
// again, a warning for each failed attempt, with the reason and the pause
// before the next, and when the connection is lost, an error when a later
// attempt has the credentials refused (it keeps trying: someone may mend
// the account). Those lines and the asynchronous errors, which go to cfg's
// callbacks too, are rate-limited by kind.
func Connect(cfg ConnectConfig) (*nats.Conn, error) {
	url := cfg.URL
	if url == "" {
		url = DefaultURL
	}
	if err := checkURLs(url); err != nil {
		return nil, fmt.Errorf("connect to NATS server: %w", err)
	}
	w := newWatch(cfg, url)

	nc, err := nats.Connect(url, w.options(&outage{}, false)...)
	switch {
	case err == nil:
		return nc, nil
	case credentialsRefused(err):
		return nil, fmt.Errorf("connect to NATS server %s %s: %w: %w", w.addr, signIn(w.account),
			ErrCredentialsRefused, err)
	case !missing(err):
		return nil, fmt.Errorf("connect to NATS server %s: %w", w.addr, err)
	}

	w.note(slog.LevelWarn, "waiting", "waiting for NATS server", "err", reason(err),
		"retry_in", firstReconnectWait)
	time.Sleep(firstReconnectWait)
	// This connection's first failure, if any, is reported through the
	// reconnection callback, and nats.go pauses before its next attempt.
	nc, err = nats.Connect(url, w.options(&outage{initial: true}, true)...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS server %s: %w", w.addr, err)
	}
	return nc, nil
}

// watch logs the course of a connection for its operator.
type watch struct {
	cfg   ConnectConfig
	log   *slog.Logger
	notes *ratelimit.Limiter
	// addr and account name the servers, passwords hidden, and the
	// account in logs and errors.
	addr, account string
}

func newWatch(cfg ConnectConfig, url string) *watch {
	every := cfg.LogEvery
	if every <= 0 {
		every = 10 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &watch{cfg: cfg, log: log, notes: ratelimit.New(every), addr: RedactURL(url),
		account: account(url)}
}

// outage follows the failed attempts of one connection since it was last
// up, to tell in the log the pause nats.go takes before the next. Only the
// connection's callbacks use it: nats.go runs them one at a time, in order.
type outage struct {
	// initial is set until the failure of the first attempt of a
	// connection that retries its first connect is reported: nats.go
	// reports it before its reconnection loop starts.
	initial bool
	// attempts counts the reconnection loop's attempts so far.
	attempts int
}

// options are the nats.go options of a connection, its callbacks logging
// to w and following o.
func (w *watch) options(o *outage, retry bool) []nats.Option {
	return []nats.Option{
		nats.Name(w.cfg.Name),
		nats.RetryOnFailedConnect(retry),
		nats.MaxReconnects(-1),
		// Keep trying after refused credentials: someone may mend the
		// account, and the log says what is wrong meanwhile.
		nats.IgnoreAuthErrorAbort(),
		nats.CustomReconnectDelay(reconnectDelay),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			w.asyncError(sub, err)
		}),
		nats.ConnectHandler(func(nc *nats.Conn) {
			*o = outage{}
			w.log.Info("connected to NATS server", append(w.who(),
				"addr", RedactURL(nc.ConnectedUrl()), "name", w.cfg.Name)...)
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			*o = outage{}
			if err != nil {
				w.note(slog.LevelWarn, "lost", "lost the connection to NATS server",
					"err", reason(err))
			}
		}),
		nats.ReconnectErrHandler(func(nc *nats.Conn, err error) {
			w.attemptFailed(nc, o, err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			*o = outage{}
			w.note(slog.LevelInfo, "reconnected", "reconnected to NATS server",
				"url", RedactURL(nc.ConnectedUrl()))
		}),
	}
}

// attemptFailed logs a failed attempt to connect again: a warning while
// the server is missing, an error when it refuses the credentials.
func (w *watch) attemptFailed(nc *nats.Conn, o *outage, err error) {
	next := o.attempts
	if o.initial {
		o.initial = false
	} else {
		o.attempts++
		next = o.attempts
	}
	pause := pauseBefore(next, len(nc.Servers()))
	if credentialsRefused(err) {
		w.note(slog.LevelError, "refused", "NATS server refused the credentials",
			append(w.who(), "err", reason(err), "retry_in", pause)...)
		return
	}
	w.note(slog.LevelWarn, "waiting", "waiting for NATS server", "err", reason(err),
		"retry_in", pause)
}

// who names the account in a log line, if there is one.
func (w *watch) who() []any {
	if w.account == "" {
		return nil
	}
	return []any{"account", w.account}
}

// note logs a line of a kind, at most one per LogEvery; a line that follows
// held-back ones counts them. Every line names the servers.
func (w *watch) note(level slog.Level, kind, msg string, args ...any) {
	ok, held := w.notes.Allow(kind)
	if !ok {
		return
	}
	args = append([]any{"addr", w.addr}, args...)
	if held > 0 {
		args = append(args, "suppressed", held)
	}
	w.log.Log(context.Background(), level, msg, args...)
}

func (w *watch) asyncError(sub *nats.Subscription, err error) {
	kind := "error"
	if errors.Is(err, nats.ErrSlowConsumer) {
		kind = "slow consumer"
		if w.cfg.OnSlowConsumer != nil {
			w.cfg.OnSlowConsumer(sub)
		}
	} else if w.cfg.OnError != nil {
		w.cfg.OnError(err)
	}
	if credentialsRefused(err) {
		// The failed reconnection that follows logs it.
		return
	}
	if ok, suppressed := w.notes.Allow(kind); ok {
		subject := ""
		if sub != nil {
			subject = sub.Subject
		}
		w.log.Warn("nats "+kind, "subject", subject, "err", err, "suppressed", suppressed)
	}
}

// reconnectDelay is the pause after the n-th round of the servers that
// failed (from 1), for nats.CustomReconnectDelay.
func reconnectDelay(n int) time.Duration {
	d := firstReconnectWait
	for i := 1; i < n && d < maxReconnectWait; i++ {
		d *= 2
	}
	return min(d, maxReconnectWait)
}

// pauseBefore is the pause nats.go takes before attempt t (from 0) of its
// reconnection loop over n servers: it tries the servers in turn and
// pauses only before the attempt that starts a round, for its
// reconnectDelay.
func pauseBefore(t, n int) time.Duration {
	n = max(n, 1)
	if t%n != n-1 {
		return 0
	}
	return reconnectDelay((t + 1) / n)
}

// credentialsRefused reports an error of a server refusing the account.
func credentialsRefused(err error) bool {
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || errors.Is(err, nats.ErrAccountAuthExpired)
}

// missing reports a failed first attempt that a later one may cure: no
// server took the connection, or one dropped it before it was made.
func missing(err error) bool {
	var nerr net.Error
	return errors.Is(err, nats.ErrNoServers) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &nerr)
}

// reason is the part of a connection error worth a log line.
func reason(err error) string {
	if errors.Is(err, nats.ErrNoServers) {
		// A first connect reports this when every server refused the
		// connection: nats.go drops the "connection refused" itself.
		return "connection refused"
	}
	return netreason.Of(err)
}
