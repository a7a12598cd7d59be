package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// listener hands connections to mochi: accepted from a TCP socket (with TLS
// when configured) or made in memory by dial. It implements mochi's
// listeners.Listener.
//
// The listener owns the goroutine of every connection it hands over and
// waits for them when it closes, after it has closed their connections.
// Because no connection starts once closing has begun, mochi's own count of
// clients never grows while the server waits for it to reach zero.
type listener struct {
	id       string
	protocol string
	// ln is the bound socket; nil for the in-memory listener.
	ln  net.Listener
	log *slog.Logger
	// connectTimeout bounds the wait for a client's CONNECT packet.
	connectTimeout time.Duration
	// onAcceptError counts failed accepts for the metrics.
	onAcceptError func()
	// sizer sizes each client's outbound queue by who connects.
	sizer *queueSizer

	// ready is closed once mochi has called Serve; done once Close began.
	ready chan struct{}
	done  chan struct{}
	// served is closed when Serve returns.
	served chan struct{}
	wg     sync.WaitGroup

	mu sync.Mutex
	// establish is mochi's callback, set by Serve.
	establish listeners.EstablishFn
	closed    bool
	// conns are the server ends of the connections being served.
	conns map[net.Conn]struct{}
}

func newListener(id, protocol string, ln net.Listener, log *slog.Logger,
	connectTimeout time.Duration, onAcceptError func(), sizer *queueSizer) *listener {
	return &listener{
		id: id, protocol: protocol, ln: ln, log: log,
		connectTimeout: connectTimeout,
		onAcceptError:  onAcceptError,
		sizer:          sizer,
		ready:          make(chan struct{}),
		done:           make(chan struct{}),
		served:         make(chan struct{}),
		conns:          make(map[net.Conn]struct{}),
	}
}

// ID implements listeners.Listener.
func (l *listener) ID() string { return l.id }

// Protocol implements listeners.Listener.
func (l *listener) Protocol() string { return l.protocol }

// Address implements listeners.Listener.
func (l *listener) Address() string {
	if l.ln == nil {
		return "memory"
	}
	return l.ln.Addr().String()
}

// Init implements listeners.Listener. The socket is bound before the
// listener is added, so there is nothing left to do.
func (l *listener) Init(*slog.Logger) error { return nil }

// Serve implements listeners.Listener: it records mochi's callback and, for
// a socket, accepts connections until the listener closes.
func (l *listener) Serve(establish listeners.EstablishFn) {
	defer close(l.served)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.establish = establish
	close(l.ready)
	l.mu.Unlock()

	if l.ln != nil {
		l.accept()
	}
}

// accept runs the accept loop. Errors such as running out of file
// descriptors are retried with a growing pause rather than spinning.
func (l *listener) accept() {
	var pause time.Duration
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			l.onAcceptError()
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			l.log.Warn("accept mqtt connection", "err", err, "retry_in", pause)
			select {
			case <-l.done:
				return
			case <-time.After(pause):
			}
			continue
		}
		pause = 0
		if !l.serve(conn) {
			conn.Close()
		}
	}
}

// dial makes an in-memory connection and serves its server end.
func (l *listener) dial(ctx context.Context) (net.Conn, error) {
	select {
	case <-l.ready:
	case <-l.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, fmt.Errorf("dial in-memory broker: %w", ctx.Err())
	}
	client, server := memPipe()
	if !l.serve(server) {
		client.Close()
		server.Close()
		return nil, ErrClosed
	}
	return client, nil
}

// serve hands conn to mochi on a goroutine the listener waits for. It
// reports false, leaving conn to the caller, once the listener is closing.
func (l *listener) serve(conn net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.conns[conn] = struct{}{}
	l.wg.Add(1)
	go l.run(conn, l.establish)
	return true
}

func (l *listener) run(conn net.Conn, establish listeners.EstablishFn) {
	defer l.wg.Done()
	// [MQTT-3.1.4-1] mochi replaces this deadline with the keep-alive one
	// once the CONNECT packet has been read.
	_ = conn.SetDeadline(time.Now().Add(l.connectTimeout))
	err := l.hand(conn, establish)
	if err != nil {
		l.log.Debug("mqtt connection ended", "remote", conn.RemoteAddr().String(), "err", err)
	}
	conn.Close()

	l.mu.Lock()
	delete(l.conns, conn)
	l.mu.Unlock()
}

// hand reads the CONNECT packet, to learn who connects, and hands the
// connection to mochi with the outbound queue depth of that kind of client
// (see [queueSizer]). A connection whose first packet is not a readable
// CONNECT is refused, as mochi would.
func (l *listener) hand(conn net.Conn, establish listeners.EstablishFn) error {
	raw, username, err := peekConnect(conn)
	if err != nil {
		return err
	}
	pc := &peekedConn{Conn: conn, head: raw, release: l.sizer.hold(username)}
	defer pc.release()
	return establish(l.id, pc)
}

// stopIntake refuses new connections: the socket is closed and dial fails.
// Connections already served go on.
func (l *listener) stopIntake() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	close(l.done)
	if l.ln != nil {
		l.ln.Close()
	}
}

// closeConns closes every connection being served.
func (l *listener) closeConns() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for conn := range l.conns {
		conn.Close()
	}
}

// Close implements listeners.Listener: it stops intake, lets mochi
// disconnect the clients, closes whatever connection is left (such as one
// still in its handshake) and waits for every connection's goroutine.
func (l *listener) Close(closeClients listeners.CloseFn) {
	l.stopIntake()
	closeClients(l.id)
	l.closeConns()
	l.wg.Wait()

	select {
	case <-l.ready:
		<-l.served
	default:
		// mochi never called Serve; nothing runs.
	}
}
