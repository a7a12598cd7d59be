package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/internal/logtest"
	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/natsx"
	"github.com/stsfleet/stsfleet/vending"
)

const peerPatience = 20 * time.Second

// peerServeConfig is the configuration of a vendor serve over a fresh fleet
// publishing to the broker at mqtt.
func peerServeConfig(t *testing.T, mqtt, password string) serveConfig {
	t.Helper()
	dir := t.TempDir()
	if out := vendor(t, "fleet", "init", "--meters", "2", "--out", dir); out.code != 0 {
		t.Fatalf("fleet init: %s", out.stderr)
	}
	cfg := defaultServeConfig()
	cfg.Listen, cfg.Metrics = "127.0.0.1:0", ""
	cfg.Fleet = filepath.Join(dir, vending.FleetFile)
	cfg.Keys = filepath.Join(dir, vending.KeyStoreFile)
	cfg.DB = filepath.Join(dir, "vendor.db")
	cfg.MQTT, cfg.MQTTPassword = mqtt, writeSecret(t, "mqtt", password)
	cfg.APIToken = writeSecret(t, "token", serveAPIToken)
	cfg.LogLevel = "info"
	return cfg
}

// startVendorBroker starts a broker on addr with the vendor account.
func startVendorBroker(t *testing.T, addr string) *broker.Broker {
	t.Helper()
	b, err := broker.New(broker.Config{Listen: addr, FleetSecret: serveFleetSecret,
		Accounts: []broker.Account{{Username: "vendor", Password: serveVendorPass,
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

// TestServeWaitsForBroker starts vendor serve before its broker: it says
// what it waits for, and serves once the broker is there.
func TestServeWaitsForBroker(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	logs := logtest.New()
	cfg := peerServeConfig(t, "tcp://"+addr, serveVendorPass)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, cfg, outW, logs)
		outW.Close()
	}()

	logs.Wait(t, peerPatience, "level=WARN", `msg="waiting for MQTT broker"`,
		"addr=tcp://"+addr, "user=vendor", `err="connection refused"`, "retry_in=")
	startVendorBroker(t, addr)
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatalf("no ready line: %v", err)
	}
	go io.Copy(io.Discard, outR)
	if !strings.Contains(line, " mqtt tcp://"+addr) {
		t.Errorf("ready line %q", line)
	}
	logs.Wait(t, peerPatience, "level=INFO", `msg="connected to MQTT broker"`, "addr=tcp://"+addr)

	cancel()
	if err := <-done; err != nil {
		t.Errorf("runServe: %v", err)
	}
	if strings.Contains(logs.String(), serveVendorPass) {
		t.Errorf("the log holds the password:\n%s", logs)
	}
}

// TestServeRefusedCredentials gives vendor serve a wrong password, for the
// broker and for NATS: it fails at start, naming the account and the
// server, not the password.
func TestServeRefusedCredentials(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	startVendorBroker(t, addr)
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT,
		Username: "vendor", Password: "the right password", NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(peerPatience) {
		t.Fatal("nats server not ready")
	}
	const guess = "guessed-password"
	tests := []struct {
		name      string
		mqttPass  string
		nats      string
		sentinel  error
		addr, who string
	}{
		{"mqtt", guess, "", mqttc.ErrCredentialsRefused, "tcp://" + addr, "as vendor"},
		{"nats", serveVendorPass, "nats://vendor:" + guess + "@" + ns.Addr().String(),
			natsx.ErrCredentialsRefused, ns.Addr().String(), "as vendor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := peerServeConfig(t, "tcp://"+addr, tt.mqttPass)
			cfg.NATS = tt.nats
			logs := logtest.New()
			var stdout strings.Builder
			err := runServe(t.Context(), cfg, &stdout, logs)
			if !errors.Is(err, tt.sentinel) {
				t.Fatalf("runServe: %v, want %v", err, tt.sentinel)
			}
			for _, want := range []string{tt.addr, tt.who} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			if strings.Contains(err.Error()+logs.String()+stdout.String(), guess) {
				t.Errorf("the error or the log holds the password: %v\n%s", err, logs)
			}
		})
	}
}
