package broker

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/net/nettest"
)

// TestMemConnConformance runs the x/net conformance suite for net.Conn
// implementations: concurrent reads and writes, deadlines, close.
func TestMemConnConformance(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		c1, c2 = memPipe()
		return c1, c2, func() { c1.Close(); c2.Close() }, nil
	})
}

func TestMemConnBuffers(t *testing.T) {
	c, s := memPipe()
	defer c.Close()
	defer s.Close()

	// Both ends write without a reader, as two MQTT peers may; net.Pipe
	// would block the first write.
	msg := []byte("CONNACK")
	if _, err := c.Write(msg); err != nil {
		t.Fatalf("client write: %v", err)
	}
	if _, err := s.Write(msg); err != nil {
		t.Fatalf("server write: %v", err)
	}
	for name, end := range map[string]net.Conn{"client": c, "server": s} {
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(end, got); err != nil || string(got) != string(msg) {
			t.Errorf("%s read %q, %v; want %q", name, got, err, msg)
		}
	}
}

func TestMemConnFullBufferBlocksUntilRead(t *testing.T) {
	c, s := memPipe()
	defer c.Close()
	defer s.Close()

	if _, err := c.Write(make([]byte, memBuffer)); err != nil {
		t.Fatalf("fill: %v", err)
	}
	c.SetWriteDeadline(time.Now().Add(-time.Second))
	if _, err := c.Write([]byte{1}); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write to a full buffer past the deadline: %v, want deadline exceeded", err)
	}
	c.SetWriteDeadline(time.Time{})

	done := make(chan error, 1)
	go func() {
		_, err := c.Write([]byte{1, 2, 3})
		done <- err
	}()
	if _, err := io.ReadFull(s, make([]byte, memBuffer+3)); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("write after drain: %v", err)
	}
}

func TestMemConnClose(t *testing.T) {
	c, s := memPipe()
	if _, err := c.Write([]byte("will")); err != nil {
		t.Fatal(err)
	}
	c.Close()

	got, err := io.ReadAll(s)
	if err != nil || string(got) != "will" {
		t.Errorf("server reads %q, %v after the client closed; want the bytes, then EOF", got, err)
	}
	if _, err := s.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("server write after the client closed: %v, want %v", err, io.ErrClosedPipe)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("client read after its own close: %v, want %v", err, net.ErrClosed)
	}
	s.Close()
}
