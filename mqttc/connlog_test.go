package mqttc_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/internal/logtest"
	"github.com/stsfleet/stsfleet/internal/nettest"
	"github.com/stsfleet/stsfleet/mqttc"
)

// startTCPBroker starts a broker on addr whose vendor account has password.
func startTCPBroker(t *testing.T, addr, password string) *broker.Broker {
	t.Helper()
	b, err := broker.New(broker.Config{Listen: addr, FleetSecret: fleetSecret,
		Accounts: []broker.Account{{Username: "vendor", Password: password,
			Role: broker.RoleVendor}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Shutdown(context.Background()) })
	return b
}

// serviceOptions are those of a service's client of the broker at addr,
// logging its connection to logs.
func serviceOptions(addr string, logs *logtest.Buffer) mqttc.Options {
	return mqttc.Options{Broker: "tcp://" + addr, ClientID: "vendor-1", Username: "vendor",
		Password: vendorPassword, CleanSession: true, ConnectRetry: true,
		ConnectRetryInterval: 10 * time.Millisecond, MaxReconnectInterval: 20 * time.Millisecond,
		LogConnection: true, Logger: logs.Logger(slog.LevelDebug)}
}

type connected struct {
	c   *mqttc.Client
	err error
}

// pending is a Connect running on its own goroutine.
type pending <-chan connected

// connectLater runs Connect on its own goroutine.
func connectLater(t *testing.T, o mqttc.Options) pending {
	done := make(chan connected, 1)
	go func() {
		c, err := mqttc.Connect(ctxT(t), o)
		done <- connected{c, err}
	}()
	return done
}

// wait waits for Connect to succeed and returns the client.
func (ch pending) wait(t *testing.T) *mqttc.Client {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Connect: %v", r.err)
		}
		t.Cleanup(func() { r.c.Disconnect(0) })
		return r.c
	case <-time.After(patience):
		t.Fatal("Connect did not return")
		return nil
	}
}

func TestConnectWaitsForBroker(t *testing.T) {
	addr, logs := nettest.FreeAddr(t), logtest.New()
	done := connectLater(t, serviceOptions(addr, logs))

	logs.Wait(t, patience, "level=WARN", `msg="waiting for MQTT broker"`, "addr=tcp://"+addr,
		"user=vendor", `err="connection refused"`, "retry_in=10ms")
	startTCPBroker(t, addr, vendorPassword)
	done.wait(t)

	if got := logs.Lines(`msg="connected to MQTT broker"`); len(got) != 1 ||
		!strings.Contains(got[0], "level=INFO") || !strings.Contains(got[0], "addr=tcp://"+addr) {
		t.Errorf("connected lines %q, want one at info naming the broker", got)
	}
	if strings.Contains(logs.String(), vendorPassword) {
		t.Errorf("the log holds the password:\n%s", logs)
	}
}

// refusingDialer refuses every connection until it is given a broker,
// and reports each call.
type refusingDialer struct {
	calls chan struct{}
	b     chan *broker.Broker
}

func (d *refusingDialer) Dial(ctx context.Context) (net.Conn, error) {
	d.calls <- struct{}{}
	select {
	case b := <-d.b:
		return b.Dial(ctx)
	default:
		return nil, &net.OpError{Op: "dial", Net: "tcp",
			Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	}
}

func TestConnectWaitingIsRateLimited(t *testing.T) {
	logs := logtest.New()
	d := &refusingDialer{calls: make(chan struct{}, 100), b: make(chan *broker.Broker, 1)}
	o := serviceOptions("127.0.0.1:1", logs)
	o.Broker, o.Dialer, o.ConnectRetryInterval = "", d.Dial, time.Millisecond
	done := connectLater(t, o)

	// The line of attempt n is written before attempt n+1 dials.
	const attempts = 6
	for range attempts {
		<-d.calls
	}
	if got := logs.Lines(`msg="waiting for MQTT broker"`); len(got) != 1 {
		t.Errorf("%d failed attempts logged %d waiting lines, want 1 within LogEvery: %q",
			attempts-1, len(got), got)
	}
	d.b <- startBroker(t)
	done.wait(t)
	logs.Wait(t, patience, "level=INFO", `msg="connected to MQTT broker"`, "addr=in-memory")
}

func TestConnectRefusesCredentials(t *testing.T) {
	addr := nettest.FreeAddr(t)
	b := startTCPBroker(t, addr, vendorPassword)
	const guess = "a guessed password"
	tests := []struct {
		name  string
		retry bool
		user  string
		want  string
	}{
		{"retrying", true, "vendor", "as vendor (client vendor-1)"},
		{"not retrying", false, "vendor", "as vendor (client vendor-1)"},
		{"unknown account", true, "stranger", "as stranger (client vendor-1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := logtest.New()
			o := serviceOptions(addr, logs)
			o.ConnectRetry, o.Username, o.Password = tt.retry, tt.user, guess
			before := b.Stats().AuthFailures
			_, err := mqttc.Connect(ctxT(t), o)

			if !errors.Is(err, mqttc.ErrCredentialsRefused) ||
				!errors.Is(err, mqttc.ErrConnectRefused) {
				t.Fatalf("Connect: %v, want %v and %v", err, mqttc.ErrCredentialsRefused,
					mqttc.ErrConnectRefused)
			}
			for _, want := range []string{"tcp://" + addr, tt.want} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			if strings.Contains(err.Error()+logs.String(), guess) {
				t.Errorf("the error or the log holds the password: %v\n%s", err, logs)
			}
			if got := b.Stats().AuthFailures - before; got != 1 {
				t.Errorf("broker counted %d refusals, want 1: a refusal is not retried", got)
			}
		})
	}
}

func TestConnectErrorHidesURLPassword(t *testing.T) {
	addr := nettest.FreeAddr(t)
	startTCPBroker(t, addr, vendorPassword)
	const secret = "password in the url"
	o := serviceOptions(addr, logtest.New())
	o.Broker = "tcp://vendor:" + strings.ReplaceAll(secret, " ", "%20") + "@" + addr
	_, err := mqttc.Connect(ctxT(t), o)
	if !errors.Is(err, mqttc.ErrCredentialsRefused) {
		t.Fatalf("Connect: %v, want %v", err, mqttc.ErrCredentialsRefused)
	}
	if msg := err.Error(); strings.Contains(msg, "password%20in") ||
		strings.Contains(msg, secret) || !strings.Contains(msg, "tcp://vendor:xxxxx@"+addr) {
		t.Errorf("error %q, want the URL with its password hidden", msg)
	}
}

// TestReconnectionIsLogged follows a connection through an outage, a
// broker that refuses the credentials, and a recovery.
func TestReconnectionIsLogged(t *testing.T) {
	addr, logs := nettest.FreeAddr(t), logtest.New()
	first := startTCPBroker(t, addr, vendorPassword)
	o := serviceOptions(addr, logs)
	o.LogEvery = time.Nanosecond
	connectLater(t, o).wait(t)

	first.Shutdown(ctxT(t))
	logs.Wait(t, patience, "level=WARN", `msg="lost the connection to MQTT broker"`,
		"addr=tcp://"+addr)
	logs.Wait(t, patience, "level=WARN", `msg="waiting for MQTT broker"`,
		`err="connection refused"`, "retry_in=20ms")

	strict := startTCPBroker(t, addr, "another password")
	logs.Wait(t, patience, "level=ERROR", `msg="MQTT broker refused the credentials"`,
		"addr=tcp://"+addr, "user=vendor", "retry_in=20ms")
	strict.Shutdown(ctxT(t))

	startTCPBroker(t, addr, vendorPassword)
	logs.Wait(t, patience, "level=INFO", `msg="reconnected to MQTT broker"`, "addr=tcp://"+addr)
	if strings.Contains(logs.String(), vendorPassword) {
		t.Errorf("the log holds the password:\n%s", logs)
	}
}

func TestBrokerURLErrorsHidePassword(t *testing.T) {
	tests := []struct {
		name, broker, want string
	}{
		{"does not parse", "tcp://vendor:s3cret@127.0.0.1:port", "does not parse"},
		{"bad scheme", "http://vendor:s3cret@127.0.0.1:1883", `scheme "http"`},
		{"no host", "tcp://vendor:s3cret@", "no host"},
		{"parse error without credentials", "tcp://127.0.0.1:port", "invalid port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mqttc.Connect(ctxT(t), mqttc.Options{Broker: tt.broker, ClientID: "x"})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Connect: %v, want an error about %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q holds the password", err)
			}
		})
	}
}
