package mqttc

import (
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"sync/atomic"
)

// dialURL opens a TCP connection to the broker's URL, with TLS for the
// ssl, mqtts and tls schemes. A URL without a port gets MQTT's: 1883, or
// 8883 with TLS.
func dialURL(ctx context.Context, u *url.URL, cfg *tls.Config) (net.Conn, error) {
	secure := u.Scheme == "ssl" || u.Scheme == "mqtts" || u.Scheme == "tls"
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "1883"
		if secure {
			port = "8883"
		}
	}
	addr := net.JoinHostPort(host, port)
	if !secure {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	d := tls.Dialer{Config: cfg}
	return d.DialContext(ctx, "tcp", addr)
}

// connackConn watches the first packet the broker sends, the CONNACK, for
// its session-present flag ([MQTT-3.2.2]): paho reports it for the first
// connection only, and a reconnection must know whether to subscribe again.
type connackConn struct {
	net.Conn
	present *atomic.Bool
	// head holds the first bytes read, until all four of the CONNACK
	// are in: type, length, flags, return code.
	head [4]byte
	n    int
}

// Read implements net.Conn. paho reads from one goroutine at a time.
func (c *connackConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.n < len(c.head) && n > 0 {
		c.n += copy(c.head[c.n:], p[:n])
		if c.n == len(c.head) {
			// 0x20 is CONNACK; bit 0 of the flags is session present,
			// meaningful only with return code 0.
			c.present.Store(c.head[0] == 0x20 && c.head[2]&1 == 1 && c.head[3] == 0)
		}
	}
	return n, err
}
