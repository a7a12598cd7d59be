package natsx

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/stsfleet/stsfleet/internal/logtest"
)

// The test accounts' secrets; nothing real.
const (
	testUser     = "analytics"
	testPassword = "natsx test password"
	testToken    = "natsx-test-token"
)

// freePort returns a loopback port no one listens on, for a server that
// starts after its client.
func freePort(t *testing.T) int {
	t.Helper()
	ports, err := freePorts(DefaultHost, 1)
	if err != nil {
		t.Fatal(err)
	}
	return ports[0]
}

// startAuthServer starts a server on port (RandomPort for any) that asks
// for user and password, or for token when user is empty.
func startAuthServer(t *testing.T, port int, user, secret string) *server.Server {
	t.Helper()
	opts := &server.Options{Host: DefaultHost, Port: port, NoLog: true, NoSigs: true}
	if user == "" {
		opts.Authorization = secret
	} else {
		opts.Username, opts.Password = user, secret
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(testTimeout) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

func natsURL(userinfo string, port int) string {
	if userinfo != "" {
		userinfo += "@"
	}
	return fmt.Sprintf("nats://%s%s:%d", userinfo, DefaultHost, port)
}

func TestConnectWaitsForServer(t *testing.T) {
	port, logs := freePort(t), logtest.New()
	nc, err := Connect(ConnectConfig{URL: natsURL("", port), Name: "analytics",
		Logger: logs.Logger(slog.LevelDebug)})
	if err != nil {
		t.Fatalf("Connect to a server not there yet: %v", err)
	}
	t.Cleanup(nc.Close)
	logs.Wait(t, testTimeout, "level=WARN", `msg="waiting for NATS server"`,
		"addr="+natsURL("", port), `err="connection refused"`, "retry_in=250ms")

	s, err := Start(Config{Port: port, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(t.Context()) })
	logs.Wait(t, testTimeout, "level=INFO", `msg="connected to NATS server"`,
		"addr="+natsURL("", port), "name=analytics")
	if got := logs.Lines("connected to NATS server"); len(got) != 1 {
		t.Errorf("connected lines %q, want one", got)
	}
	if !nc.IsConnected() {
		t.Errorf("connection %v after the connected line, want connected", nc.Status())
	}
}

func TestConnectRefusesCredentials(t *testing.T) {
	withPassword := startAuthServer(t, RandomPort, testUser, testPassword)
	withToken := startAuthServer(t, RandomPort, "", testToken)
	const guess = "a guessed secret"
	tests := []struct {
		name     string
		ns       *server.Server
		userinfo string
		want     string
	}{
		{"wrong password", withPassword, testUser + ":" + "a%20guessed%20secret",
			"as analytics"},
		{"unknown user", withPassword, "stranger:" + "a%20guessed%20secret", "as stranger"},
		{"no credentials", withPassword, "", "without credentials"},
		{"wrong token", withToken, "a%20guessed%20secret", "with a token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := logtest.New()
			url := natsURL(tt.userinfo, portOf(tt.ns))
			_, err := Connect(ConnectConfig{URL: url, Logger: logs.Logger(slog.LevelDebug)})
			if !errors.Is(err, ErrCredentialsRefused) || !errors.Is(err, nats.ErrAuthorization) {
				t.Fatalf("Connect: %v, want %v and %v", err, ErrCredentialsRefused,
					nats.ErrAuthorization)
			}
			addr := fmt.Sprintf("%s:%d", DefaultHost, portOf(tt.ns))
			for _, want := range []string{addr, tt.want} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			text := err.Error() + logs.String()
			if strings.Contains(text, guess) || strings.Contains(text, "a%20guessed") {
				t.Errorf("the error or the log holds the secret: %v\n%s", err, logs)
			}
		})
	}
}

func portOf(ns *server.Server) int { return ns.Addr().(*net.TCPAddr).Port }

// TestReconnectionIsLogged follows a connection through an outage, a
// server that refuses the credentials (the connection keeps trying), and a
// recovery.
func TestReconnectionIsLogged(t *testing.T) {
	port, logs := freePort(t), logtest.New()
	first := startAuthServer(t, port, testUser, testPassword)
	nc, err := Connect(ConnectConfig{URL: natsURL(testUser+":natsx%20test%20password", port),
		Logger: logs.Logger(slog.LevelDebug), LogEvery: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	logs.Wait(t, testTimeout, "level=INFO", `msg="connected to NATS server"`, "account=analytics")

	first.Shutdown()
	logs.Wait(t, testTimeout, "level=WARN", `msg="lost the connection to NATS server"`)
	logs.Wait(t, testTimeout, "level=WARN", `msg="waiting for NATS server"`,
		`err="connection refused"`, "retry_in=500ms")

	strict := startAuthServer(t, port, testUser, "another password")
	logs.Wait(t, testTimeout, "level=ERROR", `msg="NATS server refused the credentials"`,
		"account=analytics", `err="nats: Authorization Violation"`)
	strict.Shutdown()
	if nc.IsClosed() {
		t.Fatal("the connection gave up after refused credentials")
	}

	startAuthServer(t, port, testUser, testPassword)
	logs.Wait(t, testTimeout, "level=INFO", `msg="reconnected to NATS server"`)
	if text := logs.String(); strings.Contains(text, testPassword) ||
		strings.Contains(text, "natsx%20test") {
		t.Errorf("the log holds the password:\n%s", text)
	}
}

func TestPauseBefore(t *testing.T) {
	tests := []struct {
		attempt, servers int
		want             time.Duration
	}{
		{0, 1, 250 * time.Millisecond},
		{1, 1, 500 * time.Millisecond},
		{2, 1, time.Second},
		{5, 1, 5 * time.Second},
		{50, 1, 5 * time.Second},
		// Over three servers, nats.go pauses once per round of them.
		{0, 3, 0},
		{1, 3, 0},
		{2, 3, 250 * time.Millisecond},
		{3, 3, 0},
		{5, 3, 500 * time.Millisecond},
		{0, 0, 250 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("attempt %d of %d servers", tt.attempt, tt.servers), func(t *testing.T) {
			if got := pauseBefore(tt.attempt, tt.servers); got != tt.want {
				t.Errorf("pauseBefore(%d, %d) = %v, want %v", tt.attempt, tt.servers, got,
					tt.want)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct {
		name, in, want, account string
	}{
		{"no credentials", "nats://127.0.0.1:4222", "nats://127.0.0.1:4222", ""},
		{"password", "nats://analytics:s3cret@127.0.0.1:4222",
			"nats://analytics:xxxxx@127.0.0.1:4222", "analytics"},
		{"token", "nats://s3cret@127.0.0.1:4222", "nats://xxxxx@127.0.0.1:4222", "(token)"},
		{"bare host", "127.0.0.1:4222", "nats://127.0.0.1:4222", ""},
		{"cluster", "nats://a:s3cret@127.0.0.1:4222, nats://127.0.0.1:4223",
			"nats://a:xxxxx@127.0.0.1:4222,nats://127.0.0.1:4223", "a"},
		{"unparsable", "nats://a:s3cret@127.0.0.1:port", "(unparsable url)", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RedactURL(tt.in); got != tt.want {
				t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if got := account(tt.in); got != tt.account {
				t.Errorf("account(%q) = %q, want %q", tt.in, got, tt.account)
			}
		})
	}
}

func TestConnectURLErrorsHidePassword(t *testing.T) {
	tests := []struct {
		name, url, want string
	}{
		{"password", "nats://a:s3cret@127.0.0.1:port", "url 1 of 1 does not parse"},
		{"token in a cluster", "nats://127.0.0.1:4222,nats://s3cret@127.0.0.1:%zz",
			"url 2 of 2 does not parse"},
		{"no credentials", "nats://127.0.0.1:port", `invalid port ":port"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Connect(ConnectConfig{URL: tt.url})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Connect: %v, want an error about %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q holds the secret", err)
			}
		})
	}
}
