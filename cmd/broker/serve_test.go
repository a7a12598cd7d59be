package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/protocol/sts"
)

// The test's secrets, written to files as an operator would.
const (
	testFleetSecret    = "cmd test fleet secret, not real"
	testVendorPassword = "cmd test vendor password"
)

func writeSecret(t *testing.T, name, secret string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// syncBuffer is a bytes.Buffer the command and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServe(t *testing.T) {
	secretFile := writeSecret(t, "fleet.secret", testFleetSecret)
	vendorFile := writeSecret(t, "vendor.password", testVendorPassword)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	var stderr syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--metrics",
			"127.0.0.1:0", "--fleet-secret", "@" + secretFile, "--vendor-password",
			"@" + vendorFile, "--no-bridge"}, outW, &stderr)
		outW.Close()
	}()

	// The ready line: mqtt tcp://host:port metrics http://host:port/metrics
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatalf("no ready line: %v; stderr:\n%s", err, stderr.String())
	}
	go io.Copy(io.Discard, outR)
	fields := strings.Fields(line)
	if len(fields) != 4 || fields[0] != "mqtt" || fields[2] != "metrics" {
		t.Fatalf("ready line %q", line)
	}
	mqttURL, metricsURL := fields[1], fields[3]

	check, _ := sts.LuhnCheckDigit("0400000001")
	drn := "0400000001" + string(check)
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	meter, err := mqttc.Connect(cctx, mqttc.Options{Broker: mqttURL, ClientID: drn, Username: drn,
		Password: broker.MeterPassword([]byte(testFleetSecret), drn), NoReconnect: true})
	if err != nil {
		t.Fatalf("meter connect: %v", err)
	}
	defer meter.Disconnect(0)
	vendor, err := mqttc.Connect(cctx, mqttc.Options{Broker: mqttURL, ClientID: "vendor-1",
		Username: "vendor", Password: testVendorPassword, NoReconnect: true})
	if err != nil {
		t.Fatalf("vendor connect: %v", err)
	}
	defer vendor.Disconnect(0)

	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"broker_clients_connected 2", "go_goroutines",
		`broker_refusals_total{kind="auth"} 0`} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if bytes.Contains(body, []byte("bridge_")) {
		t.Error("/metrics has bridge metrics with --no-bridge")
	}

	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit code %d; stderr:\n%s", c, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop after its context ended")
	}
	for _, secret := range []string{testFleetSecret, testVendorPassword} {
		if strings.Contains(stderr.String(), secret) {
			t.Errorf("the logs contain a secret")
		}
	}
}

func TestServeFlagErrors(t *testing.T) {
	secretFile := writeSecret(t, "fleet.secret", testFleetSecret)
	empty := writeSecret(t, "empty", "")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no fleet secret", []string{}, "--fleet-secret is required"},
		{"missing secret file", []string{"--fleet-secret", "@/nonexistent/secret"},
			"--fleet-secret"},
		{"empty secret file", []string{"--fleet-secret", "@" + empty}, "is empty"},
		{"short secret", []string{"--fleet-secret", "short"}, "fleet secret"},
		{"bad log level", []string{"--fleet-secret", "@" + secretFile, "--log-level", "loud"},
			"--log-level"},
		{"key without certificate", []string{"--fleet-secret", "@" + secretFile,
			"--tls-key", "key.pem"}, "tls"},
		{"missing vendor password file", []string{"--fleet-secret", "@" + secretFile,
			"--vendor-password", "@/nonexistent/pw"}, "--vendor-password"},
		{"bad nats address", []string{"--fleet-secret", "@" + secretFile,
			"--nats-listen", "nowhere"}, "--nats-listen"},
		{"bad partition count", []string{"--fleet-secret", "@" + secretFile,
			"--nats-listen", "127.0.0.1:0", "--partitions", "2000"}, "partition count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			args := append([]string{"serve", "--listen", "127.0.0.1:0", "--metrics", ""},
				tt.args...)
			if code := run(context.Background(), args, &stdout, &stderr); code != 1 {
				t.Fatalf("exit code %d, want 1", code)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q does not mention %q", stderr.String(), tt.want)
			}
			if strings.Contains(stderr.String(), testFleetSecret) {
				t.Error("the error repeats the fleet secret")
			}
		})
	}
}
