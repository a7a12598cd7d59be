package broker

import (
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of the zero Config fields.
const (
	// DefaultListen is the TCP address the broker listens on by default:
	// loopback only.
	DefaultListen = "127.0.0.1:1883"
	// DefaultVendorUsername and DefaultAnalyticsUsername are the
	// usernames the command line gives the two accounts.
	DefaultVendorUsername    = "vendor"
	DefaultAnalyticsUsername = "analytics"

	defaultSessionExpiry    = 7 * 24 * time.Hour
	defaultMessageExpiry    = 7 * 24 * time.Hour
	defaultMaxInflight      = 65535
	defaultMaxWritesPending = 256
	// defaultAccountWritesPending is the outbound queue of the vendor and
	// analytics clients: 512 KiB of slots each, few such clients.
	defaultAccountWritesPending = 1 << 16
	defaultConnectTimeout       = 10 * time.Second
)

// MinFleetSecret is the shortest fleet secret New accepts, in bytes.
const MinFleetSecret = 16

// Role is what an account may do on the broker.
type Role int

// The roles. Meters are not accounts: they sign in with their DRN and the
// password derived from the fleet secret.
const (
	roleMeter Role = iota
	// RoleVendor may publish to every meter's token topic and read every
	// result and status topic, shared subscriptions included.
	RoleVendor
	// RoleAnalytics may read every result, telemetry and status topic:
	// analytics consumers and the bridge to NATS.
	RoleAnalytics
)

// String returns the role's name.
func (r Role) String() string {
	switch r {
	case roleMeter:
		return "meter"
	case RoleVendor:
		return "vendor"
	case RoleAnalytics:
		return "analytics"
	default:
		return fmt.Sprintf("role(%d)", int(r))
	}
}

// Account is a named login with a role, for the vendor and analytics.
type Account struct {
	// Username is the MQTT username. It must contain a character other
	// than a digit, so that it can never be a meter's DRN.
	Username string
	// Password is the MQTT password; it must not be empty.
	Password string
	// Role says what the account may publish and read.
	Role Role
}

// Config configures a Broker. The zero value of every field but FleetSecret
// has a working meaning; FleetSecret is required.
type Config struct {
	// Listen is the TCP address to listen on, host:port. Empty means
	// DefaultListen (loopback only); port 0 picks a free port, which
	// Broker.Addr reports once started.
	Listen string
	// DisableTCP turns the TCP listener off: clients connect only in
	// memory through Broker.Dial. False (the zero value) listens.
	DisableTCP bool
	// TLSCertFile and TLSKeyFile are PEM files of the listener's
	// certificate chain and private key. Both empty means plain TCP; one
	// without the other is an error.
	TLSCertFile string
	TLSKeyFile  string

	// FleetSecret is the key meters' passwords are derived from (see
	// MeterPassword); at least MinFleetSecret bytes. It is never logged.
	FleetSecret []byte
	// Accounts are the vendor and analytics logins. None means only
	// meters can sign in.
	Accounts []Account

	// SessionExpiry is how long the session of a disconnected client
	// with a persistent session is kept, with its subscriptions and
	// queued QoS 1 messages. Zero means 7 days.
	SessionExpiry time.Duration
	// MessageExpiry is how long a retained or queued message is kept
	// at most. Zero means 7 days.
	MessageExpiry time.Duration
	// MaxInflight is the most QoS 1 and 2 messages held per client:
	// queued while it is offline, waiting in its outbound queue, and sent
	// and not yet acknowledged. Further messages to that client are
	// dropped and counted. Zero means 65535, the whole packet identifier
	// space: the vendor and the bridge receive every meter's results and
	// must be able to hold a burst of them. Memory is only used by
	// messages actually held.
	MaxInflight int
	// MaxWritesPending is the depth of a meter's outbound queue, in
	// packets. A message that finds the queue full is dropped and
	// counted. The queue is allocated for every connected client (8
	// bytes per slot), so it is what bounds memory with many meters.
	// Zero means 256.
	MaxWritesPending int
	// AccountWritesPending is the depth of the outbound queue of a client
	// signed in with an account (vendor or analytics, the bridge
	// included): they read every meter's results at once, so a burst
	// from thousands of meters must fit. Zero means 65536 (512 KiB per
	// such client).
	AccountWritesPending int
	// MaxClients is the most clients connected at once; zero means no
	// limit.
	MaxClients int
	// ConnectTimeout is how long a new connection may take to send its
	// CONNECT packet. Zero means 10 seconds.
	ConnectTimeout time.Duration

	// Logger receives the broker's logs; nil discards them.
	Logger *slog.Logger
	// Registerer, when not nil, gets the broker's Prometheus collector
	// (metrics named broker_*).
	Registerer prometheus.Registerer
}

// settings is a validated Config with the defaults filled in.
type settings struct {
	Config
	tls *tls.Config
	// accounts maps usernames to their role and password hash.
	accounts map[string]account
}

// account is what the hook keeps of an Account: the password only as a
// SHA-256 digest, so that comparing it takes the same time for any guess.
type account struct {
	role Role
	hash [sha256.Size]byte
}

// validate checks cfg and fills in the defaults.
func (cfg Config) validate() (*settings, error) {
	s := &settings{Config: cfg, accounts: make(map[string]account)}
	if len(cfg.FleetSecret) < MinFleetSecret {
		return nil, fmt.Errorf("fleet secret: %d bytes, want at least %d",
			len(cfg.FleetSecret), MinFleetSecret)
	}
	for i, a := range cfg.Accounts {
		if err := a.validate(); err != nil {
			return nil, fmt.Errorf("account %d: %w", i+1, err)
		}
		if _, dup := s.accounts[a.Username]; dup {
			return nil, fmt.Errorf("account %d: username %q given twice", i+1, a.Username)
		}
		s.accounts[a.Username] = account{role: a.Role, hash: sha256.Sum256([]byte(a.Password))}
	}
	if err := s.loadTLS(); err != nil {
		return nil, err
	}
	if s.Listen == "" {
		s.Listen = DefaultListen
	}
	s.SessionExpiry = orDefault(s.SessionExpiry, defaultSessionExpiry)
	s.MessageExpiry = orDefault(s.MessageExpiry, defaultMessageExpiry)
	s.ConnectTimeout = orDefault(s.ConnectTimeout, defaultConnectTimeout)
	s.MaxInflight = orDefault(s.MaxInflight, defaultMaxInflight)
	s.MaxWritesPending = orDefault(s.MaxWritesPending, defaultMaxWritesPending)
	s.AccountWritesPending = orDefault(s.AccountWritesPending, defaultAccountWritesPending)
	switch {
	case s.SessionExpiry < time.Second || s.MessageExpiry < time.Second:
		return nil, errors.New("session and message expiry must be at least a second")
	case s.MaxInflight < 1 || s.MaxInflight > 65535:
		return nil, fmt.Errorf("max inflight %d: want 1 to 65535", s.MaxInflight)
	case s.MaxWritesPending < 1 || s.MaxWritesPending > math.MaxInt32:
		return nil, fmt.Errorf("max writes pending %d: want 1 to %d", s.MaxWritesPending,
			math.MaxInt32)
	case s.AccountWritesPending < 1 || s.AccountWritesPending > math.MaxInt32:
		return nil, fmt.Errorf("account writes pending %d: want 1 to %d",
			s.AccountWritesPending, math.MaxInt32)
	case s.MaxClients < 0:
		return nil, fmt.Errorf("max clients %d: want 0 (no limit) or more", s.MaxClients)
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// isAccount reports whether username is one of the accounts'.
func (s *settings) isAccount(username string) bool {
	_, ok := s.accounts[username]
	return ok
}

func (a Account) validate() error {
	if strings.Trim(a.Username, "0123456789") == "" {
		return fmt.Errorf("username %q: want a character other than a digit", a.Username)
	}
	if a.Password == "" {
		return fmt.Errorf("username %q: empty password", a.Username)
	}
	if a.Role != RoleVendor && a.Role != RoleAnalytics {
		return fmt.Errorf("username %q: role %s: want vendor or analytics", a.Username, a.Role)
	}
	return nil
}

func (s *settings) loadTLS() error {
	if s.TLSCertFile == "" && s.TLSKeyFile == "" {
		return nil
	}
	if s.TLSCertFile == "" || s.TLSKeyFile == "" {
		return errors.New("tls: need both a certificate and a key file")
	}
	cert, err := tls.LoadX509KeyPair(s.TLSCertFile, s.TLSKeyFile)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	return nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
