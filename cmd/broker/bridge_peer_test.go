package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/internal/logtest"
	"github.com/stsfleet/stsfleet/internal/nettest"
)

// startAnalyticsBroker starts a broker on addr with the bridge test's
// analytics account.
func startAnalyticsBroker(t *testing.T, addr string) *broker.Broker {
	t.Helper()
	b, err := broker.New(broker.Config{Listen: addr, FleetSecret: bridgeFleetSecret,
		Accounts: []broker.Account{{Username: broker.DefaultAnalyticsUsername,
			Password: bridgeAnalyticsPassword, Role: broker.RoleAnalytics}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Shutdown(context.Background()) })
	return b
}

func secretFile(t *testing.T, secret string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return "@" + p
}

func bridgeArgs(t *testing.T, mqtt, password string) []string {
	return []string{"bridge", "--mqtt", mqtt, "--mqtt-password", secretFile(t, password),
		"--nats-listen", "127.0.0.1:0", "--nats-store", t.TempDir(), "--metrics", "",
		"--log-level", "info"}
}

// TestBridgeCommandWaitsForBroker starts broker bridge before its broker:
// it says what it waits for, and connects once the broker is there.
func TestBridgeCommandWaitsForBroker(t *testing.T) {
	addr, logs := nettest.FreeAddr(t), logtest.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, bridgeArgs(t, "tcp://"+addr, bridgeAnalyticsPassword), outW, logs)
		outW.Close()
	}()

	logs.Wait(t, patience, "level=WARN", `msg="waiting for MQTT broker"`, "addr=tcp://"+addr,
		"user=analytics", `err="connection refused"`, "retry_in=")
	startAnalyticsBroker(t, addr)
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatalf("no ready line: %v", err)
	}
	go io.Copy(io.Discard, outR)
	if !strings.HasPrefix(line, "mqtt tcp://"+addr+" nats ") {
		t.Errorf("ready line %q", line)
	}
	logs.Wait(t, patience, "level=INFO", `msg="connected to MQTT broker"`, "addr=tcp://"+addr)

	cancel()
	if c := <-code; c != 0 {
		t.Errorf("bridge exit code %d, want 0; the log:\n%s", c, logs)
	}
	if strings.Contains(logs.String(), bridgeAnalyticsPassword) {
		t.Errorf("the log holds the password:\n%s", logs)
	}
}

// TestBridgeCommandRefusedCredentials gives broker bridge a wrong password:
// it exits at once, naming the account and the broker, not the password.
func TestBridgeCommandRefusedCredentials(t *testing.T) {
	addr := nettest.FreeAddr(t)
	startAnalyticsBroker(t, addr)
	const guess = "a guessed password"
	var stdout strings.Builder
	stderr := logtest.New()
	if c := run(t.Context(), bridgeArgs(t, "tcp://"+addr, guess), &stdout, stderr); c == 0 {
		t.Fatal("exit code 0 with a wrong password")
	}
	text := stderr.String()
	for _, want := range []string{"tcp://" + addr, "as analytics", "credentials refused"} {
		if !strings.Contains(text, want) {
			t.Errorf("stderr does not name %q:\n%s", want, text)
		}
	}
	if strings.Contains(text+stdout.String(), guess) {
		t.Errorf("the output holds the password:\n%s", text)
	}
}
