package broker

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// maxConnectSize bounds the CONNECT packet the listener reads before mochi
// does, in bytes after the fixed header. A meter's is under 200 bytes.
const maxConnectSize = 256 << 10

// errConnectTooLarge reports a CONNECT packet over maxConnectSize.
var errConnectTooLarge = errors.New("connect packet too large")

// queueSizer gives the clients of accounts (the vendor, analytics and the
// bridge, which read every meter's results) an outbound queue deeper than
// a meter's.
//
// mochi has no per-client queue depth: it allocates a client's outbound
// queue when the connection arrives, before it reads the CONNECT packet, at
// the depth Capabilities.MaximumClientWritesPending holds at that moment.
// So the listener reads the CONNECT packet first ([peekConnect]) to learn
// who is connecting, and brackets mochi's creation of the client: meters
// share the read lock, under which the depth is a meter's; an account takes
// the write lock and sets its own depth while mochi creates its client. The
// hook releases the lock in OnConnect, the first call mochi makes after
// creating the client (microseconds later: the CONNECT packet is already in
// memory), or the listener does when the connection ends before that.
type queueSizer struct {
	caps           *mqtt.Capabilities
	meter, account int32
	// isAccount reports whether a username is an account's.
	isAccount func(username string) bool

	// mu guards caps.MaximumClientWritesPending, which mochi reads when it
	// creates a client.
	mu sync.RWMutex
}

// hold locks the depth for a client about to be created and returns the
// release, which may be called any number of times.
func (q *queueSizer) hold(username string) func() {
	if !q.isAccount(username) {
		q.mu.RLock()
		return sync.OnceFunc(q.mu.RUnlock)
	}
	q.mu.Lock()
	q.caps.MaximumClientWritesPending = q.account
	return sync.OnceFunc(func() {
		q.caps.MaximumClientWritesPending = q.meter
		q.mu.Unlock()
	})
}

// peekedConn is a connection whose CONNECT packet the listener has read:
// Read returns those bytes first, then what follows on the connection. It
// carries the release of the queue sizer's lock.
type peekedConn struct {
	net.Conn
	// head is what is left of the bytes read ahead; only mochi's reading
	// goroutine reads it.
	head []byte
	// release ends the queue sizer's hold for this connection.
	release func()
}

// Read implements net.Conn.
func (c *peekedConn) Read(p []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(p, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// releaseQueue ends the queue sizer's hold for the client's connection,
// once mochi has created the client.
func releaseQueue(cl *mqtt.Client) {
	if pc, ok := cl.Net.Conn.(*peekedConn); ok {
		pc.release()
	}
}

// peekConnect reads the first packet of conn, which must be a CONNECT, and
// returns its bytes and the username it claims. It reads no further than
// the packet, so what the client sends next stays on the connection.
func peekConnect(conn net.Conn) (raw []byte, username string, err error) {
	raw = make([]byte, 1, 64)
	if _, err := io.ReadFull(conn, raw); err != nil {
		return nil, "", fmt.Errorf("read connect: %w", err)
	}
	var fh packets.FixedHeader
	if err := fh.Decode(raw[0]); err != nil || fh.Type != packets.Connect {
		// [MQTT-3.1.0-1] the first packet must be CONNECT.
		return nil, "", fmt.Errorf("read connect: %w",
			packets.ErrProtocolViolationRequireFirstConnect)
	}
	remaining, err := readLength(conn, &raw)
	if err != nil {
		return nil, "", fmt.Errorf("read connect: %w", err)
	}
	if remaining > maxConnectSize {
		return nil, "", fmt.Errorf("read connect: %w: %d bytes", errConnectTooLarge, remaining)
	}
	start := len(raw)
	raw = append(raw, make([]byte, remaining)...)
	if _, err := io.ReadFull(conn, raw[start:]); err != nil {
		return nil, "", fmt.Errorf("read connect: %w", err)
	}
	pk := packets.Packet{FixedHeader: fh}
	if err := pk.ConnectDecode(raw[start:]); err != nil {
		return nil, "", fmt.Errorf("read connect: %w", err)
	}
	return raw, string(pk.Connect.Username), nil
}

// readLength reads the variable byte integer of a fixed header
// ([MQTT-1.5.5]), one byte at a time, appending the bytes to raw.
func readLength(conn net.Conn, raw *[]byte) (int, error) {
	n, shift := 0, 0
	b := make([]byte, 1)
	for i := 0; i < 4; i++ {
		if _, err := io.ReadFull(conn, b); err != nil {
			return 0, err
		}
		*raw = append(*raw, b[0])
		n |= int(b[0]&0x7f) << shift
		if b[0]&0x80 == 0 {
			return n, nil
		}
		shift += 7
	}
	return 0, packets.ErrMalformedVariableByteInteger
}
