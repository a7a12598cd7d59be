package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/stsfleet/stsfleet/internal/ratelimit"
)

// Errors callers branch on.
var (
	// ErrClosed reports a broker that is shut down or shutting down.
	ErrClosed = errors.New("broker closed")
	// ErrNotStarted reports a call that needs Start first.
	ErrNotStarted = errors.New("broker not started")
)

// Listener IDs, as they appear in mochi's logs.
const (
	tcpListenerID    = "tcp"
	memoryListenerID = "memory"
)

// sysTopicInterval is how often mochi refreshes its $SYS topics, in
// seconds. Nobody may subscribe to them here (the ACL refuses $SYS), and
// each refresh stops the world to read memory statistics.
const sysTopicInterval = 60

// readBufferSize is mochi's per-client read buffer, in bytes; it is
// allocated for every connected client. Larger packets are still read.
const readBufferSize = 1024

// Broker is the embedded MQTT broker: mochi with the fleet's
// authentication and ACL, a TCP listener and the in-memory transport.
//
// Create it with New, then Start and Shutdown, or Run. Every method is safe
// for concurrent use.
type Broker struct {
	cfg    *settings
	server *mqtt.Server
	counts counters
	// traffic counts messages by topic kind and sessions by how they end.
	traffic *traffic
	log     *slog.Logger
	mem     *listener
	// sizer gives account clients their deeper outbound queue.
	sizer *queueSizer

	mu sync.Mutex
	// tcp is the TCP listener; nil before Start or when disabled.
	tcp      *listener
	started  bool
	stopping bool
	// stopped is closed when Shutdown has finished.
	stopped chan struct{}
	stopErr error
}

// New checks cfg and returns a broker that is not yet listening. It
// registers the broker's metrics on cfg.Registerer, if any.
func New(cfg Config) (*Broker, error) {
	s, err := cfg.validate()
	if err != nil {
		return nil, fmt.Errorf("new broker: %w", err)
	}
	b := &Broker{cfg: s, log: s.Logger, traffic: newTraffic(), stopped: make(chan struct{})}

	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumSessionExpiryInterval = uint32(min(s.SessionExpiry.Seconds(), math.MaxUint32))
	caps.MaximumMessageExpiryInterval = int64(s.MessageExpiry.Seconds())
	caps.MaximumInflight = uint16(s.MaxInflight)
	caps.MaximumClientWritesPending = int32(s.MaxWritesPending)
	if s.MaxClients > 0 {
		caps.MaximumClients = int64(s.MaxClients)
	}
	b.server = mqtt.New(&mqtt.Options{
		Capabilities:            caps,
		ClientNetReadBufferSize: readBufferSize,
		SysTopicResendInterval:  sysTopicInterval,
		Logger:                  slog.New(newMochiHandler(s.Logger.Handler(), time.Now)),
	})

	h := &hook{
		server:   b.server,
		secret:   s.FleetSecret,
		accounts: s.accounts,
		stats:    &b.counts,
		log:      b.log,
		refusals: ratelimit.New(10 * time.Second),
	}
	if err := b.server.AddHook(h, nil); err != nil {
		return nil, fmt.Errorf("new broker: %w", err)
	}
	th := &trafficHook{t: b.traffic, roleOf: func(cl *mqtt.Client) Role {
		return h.identityOf(cl).role
	}}
	if err := b.server.AddHook(th, nil); err != nil {
		return nil, fmt.Errorf("new broker: %w", err)
	}
	b.sizer = &queueSizer{caps: caps, meter: caps.MaximumClientWritesPending,
		account: int32(s.AccountWritesPending), isAccount: s.isAccount}
	b.mem = newListener(memoryListenerID, "memory", nil, b.log, s.ConnectTimeout,
		b.countAcceptError, b.sizer)
	if s.Registerer != nil {
		if err := s.Registerer.Register(newCollector(b)); err != nil {
			return nil, fmt.Errorf("new broker: register metrics: %w", err)
		}
		if err := s.Registerer.Register(newTrafficCollector(b.traffic)); err != nil {
			return nil, fmt.Errorf("new broker: register metrics: %w", err)
		}
	}
	return b, nil
}

func (b *Broker) countAcceptError() { b.counts.acceptErrors.Add(1) }

// Start binds the TCP listener (unless disabled) and starts serving. It
// returns once the broker accepts connections. ctx bounds the start only.
func (b *Broker) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start broker: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.stopping:
		return fmt.Errorf("start broker: %w", ErrClosed)
	case b.started:
		return errors.New("start broker: already started")
	}

	if !b.cfg.DisableTCP {
		ln, err := b.listenTCP()
		if err != nil {
			return fmt.Errorf("start broker: %w", err)
		}
		b.tcp = ln
		if err := b.server.AddListener(ln); err != nil {
			ln.stopIntake()
			return fmt.Errorf("start broker: %w", err)
		}
	}
	if err := b.server.AddListener(b.mem); err != nil {
		return fmt.Errorf("start broker: %w", err)
	}
	if err := b.server.Serve(); err != nil {
		return fmt.Errorf("start broker: %w", err)
	}
	b.started = true
	b.log.Info("mqtt broker started", "addr", b.addrLocked(), "tls", b.cfg.tls != nil)
	return nil
}

func (b *Broker) listenTCP() (*listener, error) {
	var (
		ln  net.Listener
		err error
	)
	if b.cfg.tls != nil {
		ln, err = tls.Listen("tcp", b.cfg.Listen, b.cfg.tls)
	} else {
		ln, err = net.Listen("tcp", b.cfg.Listen)
	}
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	protocol := "tcp"
	if b.cfg.tls != nil {
		protocol = "tls"
	}
	return newListener(tcpListenerID, protocol, ln, b.log, b.cfg.ConnectTimeout,
		b.countAcceptError, b.sizer), nil
}

// Run starts the broker, serves until ctx ends, then shuts it down. It
// returns nil after a clean shutdown.
func (b *Broker) Run(ctx context.Context) error {
	if err := b.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return b.Shutdown(context.WithoutCancel(ctx))
}

// shutdownGrace is how long Shutdown still waits for mochi once its
// context has ended and every connection is closed.
const shutdownGrace = 2 * time.Second

// Shutdown stops the broker in order: it stops accepting connections,
// disconnects every client (their wills are published), closes the
// connections and waits for their goroutines, then stops mochi. If ctx
// ends first, the remaining connections are closed at once. Shutdown may
// be called more than once and before Start; later calls wait for the
// first and return its result.
func (b *Broker) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	if b.stopping {
		b.mu.Unlock()
		<-b.stopped
		return b.stopErr
	}
	b.stopping = true
	tcp := b.tcp
	b.mu.Unlock()

	// Stop intake first, so that no client arrives while the others are
	// being disconnected.
	if tcp != nil {
		tcp.stopIntake()
	}
	b.mem.stopIntake()

	closed := make(chan struct{})
	go func() {
		defer close(closed)
		b.server.Close()
	}()
	select {
	case <-closed:
	case <-ctx.Done():
		if tcp != nil {
			tcp.closeConns()
		}
		b.mem.closeConns()
		b.stopErr = fmt.Errorf("shut down broker: %w", ctx.Err())
		// Closing the connections normally lets mochi finish at once.
		// A client disconnecting during Close can leave mochi waiting on
		// a lock it never gets back; Shutdown then gives up rather than
		// hang its caller, and the stuck goroutine ends with the process.
		select {
		case <-closed:
		case <-time.After(shutdownGrace):
			b.stopErr = fmt.Errorf("shut down broker: mochi did not stop within %v of "+
				"the deadline: %w", shutdownGrace, ctx.Err())
		}
	}
	b.log.Info("mqtt broker stopped")
	close(b.stopped)
	return b.stopErr
}

// Addr returns the TCP address the broker listens on, such as
// 127.0.0.1:41883, or "" before Start or with TCP disabled.
func (b *Broker) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addrLocked()
}

func (b *Broker) addrLocked() string {
	if b.tcp == nil {
		return ""
	}
	return b.tcp.Address()
}

// URL returns the broker's TCP address as a client URL: tcp://host:port,
// or ssl://host:port with TLS. It is "" when Addr is.
func (b *Broker) URL() string {
	addr := b.Addr()
	switch {
	case addr == "":
		return ""
	case b.cfg.tls != nil:
		return "ssl://" + addr
	default:
		return "tcp://" + addr
	}
}

// Dial opens an in-memory connection to the broker: real MQTT, no socket
// and no file descriptor. Hand it to an MQTT client as its network
// connection (mqttc.Options.Dialer). It waits for Start, or ctx.
func (b *Broker) Dial(ctx context.Context) (net.Conn, error) {
	b.mu.Lock()
	started, stopping := b.started, b.stopping
	b.mu.Unlock()
	switch {
	case stopping:
		return nil, fmt.Errorf("dial in-memory broker: %w", ErrClosed)
	case !started:
		return nil, fmt.Errorf("dial in-memory broker: %w", ErrNotStarted)
	}
	conn, err := b.mem.dial(ctx)
	if errors.Is(err, ErrClosed) {
		return nil, fmt.Errorf("dial in-memory broker: %w", err)
	}
	return conn, err
}

// Stats returns a snapshot of the broker's counters.
func (b *Broker) Stats() Stats { return b.stats() }
