package broker

import (
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// memBuffer is the most one direction of an in-memory connection holds
// before a writer waits for the reader, like a socket's send buffer.
//
// net.Pipe holds nothing: a write waits until the other end reads it. MQTT
// peers write acknowledgements from their reading goroutines, so with
// net.Pipe two busy peers can each block in a write that waits for the other
// to read, and sit there until a keep-alive deadline breaks the connection.
// A buffer as large as a loaded socket's makes that as unlikely as it is
// over TCP. A buffer only grows as far as a burst fills it, and memKeep
// bounds what an idle connection keeps, so the limit costs idle meters
// nothing.
const memBuffer = 4 << 20

// memKeep is the largest buffer kept for reuse once a direction is drained;
// an idle connection does not hold on to the memory of a past burst.
const memKeep = 4 << 10

// memConns numbers in-memory connections for their addresses in logs.
var memConns atomic.Uint64

// memPipe returns the two ends of a new buffered in-memory connection.
// Bytes written at one end are read at the other, in order.
func memPipe() (client, server net.Conn) {
	n := strconv.FormatUint(memConns.Add(1), 10)
	up, down := newMemStream(), newMemStream()
	c := newMemConn(down, up, memAddr("memory-client-"+n), memAddr("memory-server-"+n))
	s := newMemConn(up, down, memAddr("memory-server-"+n), memAddr("memory-client-"+n))
	return c, s
}

// memAddr is the address of one end of an in-memory connection.
type memAddr string

// Network implements net.Addr.
func (a memAddr) Network() string { return "memory" }

// String implements net.Addr.
func (a memAddr) String() string { return string(a) }

// memStream is one direction of an in-memory connection.
type memStream struct {
	// readable and writable hold a token when the reader or the writer
	// should look again; a token is never lost because each has room
	// for one.
	readable chan struct{}
	writable chan struct{}

	mu sync.Mutex
	// buf[off:] are the bytes written and not yet read.
	buf []byte
	off int
	// closed is set when either end closes; the reader still drains buf.
	closed bool
}

func newMemStream() *memStream {
	return &memStream{readable: make(chan struct{}, 1), writable: make(chan struct{}, 1)}
}

// read copies pending bytes into p. It reports closed only once nothing is
// left to read.
func (s *memStream) read(p []byte) (n int, closed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.off == len(s.buf) {
		return 0, s.closed
	}
	n = copy(p, s.buf[s.off:])
	s.off += n
	if s.off == len(s.buf) {
		s.off = 0
		s.buf = s.buf[:0]
		if cap(s.buf) > memKeep {
			s.buf = nil
		}
	} else {
		notify(s.readable)
	}
	notify(s.writable)
	return n, false
}

// write appends as much of p as fits and reports how much it took.
func (s *memStream) write(p []byte) (n int, closed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, true
	}
	n = min(len(p), memBuffer-(len(s.buf)-s.off))
	if n == 0 {
		return 0, false
	}
	if s.off > 0 && len(s.buf)+n > cap(s.buf) {
		s.buf = append(s.buf[:0], s.buf[s.off:]...)
		s.off = 0
	}
	s.buf = append(s.buf, p[:n]...)
	notify(s.readable)
	return n, false
}

func (s *memStream) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	notify(s.readable)
	notify(s.writable)
}

// notify leaves a token in c unless one is already waiting.
func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// memConn is one end of an in-memory connection. It implements net.Conn,
// deadlines included; mochi and paho both rely on them for keep-alive.
type memConn struct {
	in, out       *memStream
	local, remote memAddr

	// done is closed when this end is closed.
	done      chan struct{}
	closeOnce sync.Once

	readDeadline, writeDeadline deadline
}

func newMemConn(in, out *memStream, local, remote memAddr) *memConn {
	return &memConn{
		in: in, out: out, local: local, remote: remote,
		done:          make(chan struct{}),
		readDeadline:  newDeadline(),
		writeDeadline: newDeadline(),
	}
}

// Read implements net.Conn. It returns io.EOF once the other end has closed
// and everything it wrote has been read.
func (c *memConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if err := c.check(&c.readDeadline); err != nil {
			return 0, err
		}
		n, closed := c.in.read(p)
		if n > 0 {
			return n, nil
		}
		if closed {
			return 0, io.EOF
		}
		select {
		case <-c.in.readable:
		case <-c.done:
		case <-c.readDeadline.wait():
		}
	}
}

// Write implements net.Conn. It blocks while the other end has a full
// buffer of unread bytes.
func (c *memConn) Write(p []byte) (int, error) {
	written := 0
	for {
		if err := c.check(&c.writeDeadline); err != nil {
			return written, err
		}
		n, closed := c.out.write(p[written:])
		if closed {
			return written, io.ErrClosedPipe
		}
		written += n
		if written == len(p) {
			return written, nil
		}
		select {
		case <-c.out.writable:
		case <-c.done:
		case <-c.writeDeadline.wait():
		}
	}
}

// check returns the error an operation fails with now, if any.
func (c *memConn) check(d *deadline) error {
	select {
	case <-c.done:
		return net.ErrClosed
	default:
	}
	select {
	case <-d.wait():
		return os.ErrDeadlineExceeded
	default:
		return nil
	}
}

// Close implements net.Conn. The other end reads what was already written,
// then io.EOF; its writes fail.
func (c *memConn) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		c.in.close()
		c.out.close()
	})
	return nil
}

// LocalAddr implements net.Conn.
func (c *memConn) LocalAddr() net.Addr { return c.local }

// RemoteAddr implements net.Conn.
func (c *memConn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline implements net.Conn.
func (c *memConn) SetDeadline(t time.Time) error {
	c.readDeadline.set(t)
	c.writeDeadline.set(t)
	return nil
}

// SetReadDeadline implements net.Conn.
func (c *memConn) SetReadDeadline(t time.Time) error {
	c.readDeadline.set(t)
	return nil
}

// SetWriteDeadline implements net.Conn.
func (c *memConn) SetWriteDeadline(t time.Time) error {
	c.writeDeadline.set(t)
	return nil
}

// deadline is a settable point in time with a channel that is closed once
// it has passed.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	passed chan struct{}
}

func newDeadline() deadline { return deadline{passed: make(chan struct{})} }

// set moves the deadline to t; the zero time means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()

	// A timer that already fired has closed (or is closing) passed: wait
	// for it so that the channel is not closed twice.
	if d.timer != nil && !d.timer.Stop() {
		<-d.passed
	}
	d.timer = nil

	closed := isClosed(d.passed)
	if t.IsZero() {
		if closed {
			d.passed = make(chan struct{})
		}
		return
	}
	if wait := time.Until(t); wait > 0 {
		if closed {
			d.passed = make(chan struct{})
		}
		passed := d.passed
		d.timer = time.AfterFunc(wait, func() { close(passed) })
		return
	}
	if !closed {
		close(d.passed)
	}
}

// wait returns a channel that is closed when the deadline passes.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.passed
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
