package natsx

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stsfleet/stsfleet/internal/ratelimit"
)

// DefaultURL is the NATS server clients use when none is named: the
// embedded server's default address.
const DefaultURL = "nats://127.0.0.1:4222"

// ConnectConfig describes a client connection.
type ConnectConfig struct {
	// URL is the server, or a comma-separated list of a cluster's
	// servers. Empty means [DefaultURL].
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
	// LogEvery is the least time between two log lines about the same
	// kind of asynchronous error; the lines in between are counted and
	// the count is logged with the next one. Zero means 10 seconds.
	LogEvery time.Duration
}

// Connect dials NATS. The client keeps trying to connect and reconnect for
// as long as it is open, so a server that starts later or fails over is
// found; requests made meanwhile fail with errors [Transient] accepts.
// Asynchronous errors go to cfg's callbacks and to the log, rate-limited.
func Connect(cfg ConnectConfig) (*nats.Conn, error) {
	url := cfg.URL
	if url == "" {
		url = DefaultURL
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	every := cfg.LogEvery
	if every <= 0 {
		every = 10 * time.Second
	}
	lim := ratelimit.New(every)

	nc, err := nats.Connect(url,
		nats.Name(cfg.Name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			asyncError(cfg, log, lim, sub, err)
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("nats reconnected", "url", c.ConnectedUrlRedacted())
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s: %w", url, err)
	}
	return nc, nil
}

func asyncError(cfg ConnectConfig, log *slog.Logger, lim *ratelimit.Limiter, sub *nats.Subscription,
	err error) {
	kind := "error"
	if errors.Is(err, nats.ErrSlowConsumer) {
		kind = "slow consumer"
		if cfg.OnSlowConsumer != nil {
			cfg.OnSlowConsumer(sub)
		}
	} else if cfg.OnError != nil {
		cfg.OnError(err)
	}
	if ok, suppressed := lim.Allow(kind); ok {
		subject := ""
		if sub != nil {
			subject = sub.Subject
		}
		log.Warn("nats "+kind, "subject", subject, "err", err, "suppressed", suppressed)
	}
}
