package natsx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Defaults applied by [Start] to zero [Config] fields.
const (
	// DefaultHost is the listen address: loopback only.
	DefaultHost = "127.0.0.1"
	// DefaultPort is the NATS client port.
	DefaultPort = 4222
	// DefaultMaxMemory is the JetStream memory limit: 64 MiB.
	DefaultMaxMemory = 64 << 20
	// DefaultMaxStore is the JetStream file storage limit: 1 GiB.
	DefaultMaxStore = 1 << 30
	// DefaultReadyTimeout is how long Start waits for the server to take
	// connections.
	DefaultReadyTimeout = 10 * time.Second
)

// RandomPort asks the server to pick a free port, for tests.
const RandomPort = -1

// ErrNotReady reports a server that did not start taking connections in
// time.
var ErrNotReady = errors.New("nats server not ready")

// Config describes an embedded NATS server. The zero value is a standalone
// server with JetStream on 127.0.0.1:4222, storing in a temporary directory.
type Config struct {
	// Host is the client listen address. Empty means [DefaultHost].
	Host string
	// Port is the client port. Zero means [DefaultPort]; [RandomPort]
	// picks a free one.
	Port int
	// Name is the server name, which must be unique in a cluster and
	// stable across restarts of a clustered node. Empty means one made
	// from the host and port, or the server's generated ID with
	// [RandomPort].
	Name string
	// StoreDir is the JetStream storage directory. Empty means a fresh
	// temporary directory, removed by Shutdown.
	StoreDir string
	// MaxMemory is the JetStream memory limit in bytes. Zero means
	// [DefaultMaxMemory].
	MaxMemory int64
	// MaxStore is the JetStream file storage limit in bytes. Zero means
	// [DefaultMaxStore].
	MaxStore int64
	// MonitorPort serves the NATS monitoring endpoints (/varz, /jsz) on
	// Host. Zero means none; [RandomPort] picks a free one.
	MonitorPort int
	// Cluster makes the server a node of a NATS cluster. Nil means
	// standalone.
	Cluster *ClusterConfig
	// ReadyTimeout bounds the wait for the server to take connections.
	// Zero means [DefaultReadyTimeout].
	ReadyTimeout time.Duration
	// Logger receives the server's log at Info (notices), Warn and Error;
	// debug and trace lines are dropped. Nil discards everything.
	Logger *slog.Logger
}

// ClusterConfig joins a server to a cluster over routes.
type ClusterConfig struct {
	// Name is the cluster name, the same on every node. Required.
	Name string
	// Host is the route listen address. Empty means the client Host.
	Host string
	// Port is the route port. [RandomPort] picks a free one; zero is not
	// allowed.
	Port int
	// Routes are the route URLs of the other nodes, such as
	// nats-route://127.0.0.1:6222. Listing this node's own URL is
	// harmless.
	Routes []string
}

// Server is a running embedded NATS server.
type Server struct {
	ns      *server.Server
	tempDir string

	once sync.Once
}

// Start starts a NATS server with JetStream and waits until it takes
// connections.
func Start(cfg Config) (*Server, error) {
	opts, tempDir, err := cfg.options()
	if err != nil {
		return nil, err
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		removeTemp(tempDir)
		return nil, fmt.Errorf("start nats server: %w", err)
	}
	ns.SetLoggerV2(logAdapter{cfg.Logger}, false, false, false)
	ns.Start()

	wait := cfg.ReadyTimeout
	if wait <= 0 {
		wait = DefaultReadyTimeout
	}
	if !ns.ReadyForConnections(wait) {
		ns.Shutdown()
		ns.WaitForShutdown()
		removeTemp(tempDir)
		return nil, fmt.Errorf("start nats server: %w after %s", ErrNotReady, wait)
	}
	return &Server{ns: ns, tempDir: tempDir}, nil
}

func (cfg Config) options() (*server.Options, string, error) {
	host := cfg.Host
	if host == "" {
		host = DefaultHost
	}
	port := cfg.Port
	if port == 0 {
		port = DefaultPort
	}
	opts := &server.Options{
		ServerName:         cfg.Name,
		Host:               host,
		Port:               port,
		JetStream:          true,
		StoreDir:           cfg.StoreDir,
		JetStreamMaxMemory: orDefault(cfg.MaxMemory, DefaultMaxMemory),
		JetStreamMaxStore:  orDefault(cfg.MaxStore, DefaultMaxStore),
		NoSigs:             true,
		HTTPHost:           host,
		HTTPPort:           cfg.MonitorPort,
	}
	if opts.ServerName == "" && port != RandomPort {
		opts.ServerName = "stsfleet-" + host + "-" + strconv.Itoa(port)
	}
	if c := cfg.Cluster; c != nil {
		if err := c.apply(opts); err != nil {
			return nil, "", err
		}
	}

	var tempDir string
	if opts.StoreDir == "" {
		dir, err := os.MkdirTemp("", "stsfleet-nats-")
		if err != nil {
			return nil, "", fmt.Errorf("start nats server: store dir: %w", err)
		}
		opts.StoreDir, tempDir = dir, dir
	}
	return opts, tempDir, nil
}

func (c *ClusterConfig) apply(opts *server.Options) error {
	if c.Name == "" {
		return fmt.Errorf("start nats server: cluster name is empty")
	}
	if c.Port == 0 {
		return fmt.Errorf("start nats server: cluster %s: route port is zero", c.Name)
	}
	host := c.Host
	if host == "" {
		host = opts.Host
	}
	opts.Cluster = server.ClusterOpts{Name: c.Name, Host: host, Port: c.Port}
	for _, r := range c.Routes {
		u, err := url.Parse(r)
		if err != nil || u.Host == "" {
			return fmt.Errorf("start nats server: cluster %s: route %q: "+
				"want nats-route://host:port", c.Name, r)
		}
		opts.Routes = append(opts.Routes, u)
	}
	return nil
}

func orDefault(v, def int64) int64 {
	if v <= 0 {
		return def
	}
	return v
}

func removeTemp(dir string) {
	if dir != "" {
		os.RemoveAll(dir)
	}
}

// ClientURL returns the URL clients connect to, such as
// nats://127.0.0.1:4222.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// ClusterURL returns the route URL other nodes list in their routes, or ""
// for a standalone server.
func (s *Server) ClusterURL() string {
	a := s.ns.ClusterAddr()
	if a == nil {
		return ""
	}
	return "nats-route://" + net.JoinHostPort(a.IP.String(), strconv.Itoa(a.Port))
}

// MonitorURL returns the base URL of the monitoring endpoints, or "" when
// they are off.
func (s *Server) MonitorURL() string {
	a := s.ns.MonitorAddr()
	if a == nil {
		return ""
	}
	return "http://" + net.JoinHostPort(a.IP.String(), strconv.Itoa(a.Port))
}

// NATS returns the underlying server, for tests and in-process clients.
func (s *Server) NATS() *server.Server { return s.ns }

// Shutdown stops the server, waits for it to finish and removes a temporary
// store directory. It is idempotent; the context bounds the wait.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.ns.Shutdown()
			s.ns.WaitForShutdown()
		}()
		select {
		case <-done:
			removeTemp(s.tempDir)
		case <-ctx.Done():
			err = fmt.Errorf("shut down nats server: %w", ctx.Err())
		}
	})
	return err
}

// logAdapter sends the server's log lines to slog.
type logAdapter struct{ log *slog.Logger }

func (a logAdapter) logf(level slog.Level, format string, v []any) {
	if a.log == nil || !a.log.Enabled(context.Background(), level) {
		return
	}
	a.log.Log(context.Background(), level, fmt.Sprintf(format, v...), "component", "nats")
}

func (a logAdapter) Noticef(format string, v ...any) { a.logf(slog.LevelInfo, format, v) }
func (a logAdapter) Warnf(format string, v ...any)   { a.logf(slog.LevelWarn, format, v) }
func (a logAdapter) Errorf(format string, v ...any)  { a.logf(slog.LevelError, format, v) }

// Fatalf logs at Error: an embedded server must not end the process.
func (a logAdapter) Fatalf(format string, v ...any) { a.logf(slog.LevelError, format, v) }
func (a logAdapter) Debugf(string, ...any)          {}
func (a logAdapter) Tracef(string, ...any)          {}
