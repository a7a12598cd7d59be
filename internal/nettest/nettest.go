// Package nettest helps tests that start a server after its client.
package nettest

import (
	"net"
	"testing"
)

// FreeAddr returns a loopback host:port no one listens on, for a server
// that a test starts after its client has begun to look for it. Another
// process may take the port in between; on a test machine that is rare.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// FreePort is [FreeAddr]'s port.
func FreePort(t testing.TB) int {
	t.Helper()
	addr, err := net.ResolveTCPAddr("tcp", FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	return addr.Port
}
