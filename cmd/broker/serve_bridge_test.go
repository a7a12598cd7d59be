package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/natsx"
	"github.com/stsfleet/stsfleet/protocol/wire"
)

// patience bounds every wait of these tests.
const patience = 20 * time.Second

// startCommand runs a command line until the test ends and returns the
// fields of its ready line; stop ends it and returns its exit code.
func startCommand(t *testing.T, args ...string) (fields []string, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	outR, outW := io.Pipe()
	var stderr syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, args, outW, &stderr)
		outW.Close()
	}()
	stop = func() int {
		cancel()
		select {
		case c := <-code:
			if c != 0 {
				t.Logf("stderr:\n%s", stderr.String())
			}
			return c
		case <-time.After(patience):
			t.Fatal("the command did not stop after its context ended")
			return -1
		}
	}
	t.Cleanup(func() { cancel() })
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatalf("no ready line: %v; stderr:\n%s", err, stderr.String())
	}
	go io.Copy(io.Discard, outR)
	return strings.Fields(line), stop
}

// TestServeRunsTheBridge runs broker serve with its bridge, to an embedded
// NATS server and to one named by --nats, and follows a meter's final
// reading from MQTT into JetStream.
func TestServeRunsTheBridge(t *testing.T) {
	secretFile := writeSecret(t, "fleet.secret", string(bridgeFleetSecret))
	tests := []struct {
		name string
		// nats returns the flags that choose the NATS server, and the URL
		// the ready line must name ("" for any).
		nats func(t *testing.T) (flags []string, url string)
	}{
		{"embedded", func(t *testing.T) ([]string, string) {
			return []string{"--nats-listen", "127.0.0.1:0", "--nats-store", t.TempDir()}, ""
		}},
		{"external", func(t *testing.T) ([]string, string) {
			srv, err := natsx.Start(natsx.Config{Port: natsx.RandomPort, StoreDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Shutdown(context.Background()) })
			return []string{"--nats", srv.ClientURL()}, srv.ClientURL()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			natsFlags, wantURL := tt.nats(t)
			args := append([]string{"serve", "--listen", "127.0.0.1:0", "--metrics",
				"127.0.0.1:0", "--fleet-secret", "@" + secretFile, "--log-level", "warn"},
				natsFlags...)
			f, stop := startCommand(t, args...)
			// mqtt tcp://host:port nats nats://host:port metrics http://host:port/metrics
			if len(f) != 6 || f[0] != "mqtt" || f[2] != "nats" || f[4] != "metrics" {
				t.Fatalf("ready line %q", f)
			}
			if wantURL != "" && f[3] != wantURL {
				t.Errorf("ready line names nats %s, want %s", f[3], wantURL)
			}
			final := publishFinal(t, f[1])
			waitStored(t, f[3], wire.ChannelFinal, final)
			waitMetric(t, f[5], `bridge_messages_forwarded_total{channel="final"} 1`)
			if c := stop(); c != 0 {
				t.Errorf("exit code %d, want 0", c)
			}
		})
	}
}

// publishFinal connects a meter to the broker at url and publishes its
// final reading at QoS 1, returning the payload.
func publishFinal(t *testing.T, url string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	drn := cmdTestDRN()
	m, err := mqttc.Connect(ctx, mqttc.Options{Broker: url, ClientID: drn, Username: drn,
		Password: broker.MeterPassword(bridgeFleetSecret, drn), NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Disconnect(0)
	now := time.Now()
	final, _ := json.Marshal(wire.Telemetry{DRN: drn, Utility: "water", Unit: "m3", Seq: 9,
		Credited: "3", Consumed: "1", Cleared: "0", Remaining: "2", Relay: "closed",
		Final: true, SimTime: now, SentAt: now})
	if err := m.Publish(ctx, wire.Topic(drn, wire.KindTelemetry), 1, false, final); err != nil {
		t.Fatal(err)
	}
	return final
}

// waitStored waits until the stream at natsURL holds payload as the last
// message on the test meter's subject of channel c.
func waitStored(t *testing.T, natsURL string, c wire.Channel, payload []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	nc, err := natsx.Connect(natsx.ConnectConfig{URL: natsURL})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	subj, _ := wire.Subject(c, cmdTestDRN(), wire.DefaultPartitions)
	for {
		st, err := js.Stream(ctx, natsx.StreamName)
		if err == nil {
			if msg, err := st.GetLastMsgForSubject(ctx, subj); err == nil {
				if string(msg.Data) != string(payload) {
					t.Errorf("%s holds %s, want %s", subj, msg.Data, payload)
				}
				return
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("%s never stored", subj)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitMetric polls a /metrics endpoint until it shows the line.
func waitMetric(t *testing.T, url, line string) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), line) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics lack %s:\n%s", line, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServeKeepsTheNATSStore: with --nats-store the stream outlives the
// process, so a second start finds what the first stored.
func TestServeKeepsTheNATSStore(t *testing.T) {
	secretFile := writeSecret(t, "fleet.secret", string(bridgeFleetSecret))
	store := t.TempDir()
	args := []string{"serve", "--listen", "127.0.0.1:0", "--metrics", "", "--fleet-secret",
		"@" + secretFile, "--log-level", "warn", "--nats-listen", "127.0.0.1:0",
		"--nats-store", store}
	f, stop := startCommand(t, args...)
	final := publishFinal(t, f[1])
	waitStored(t, f[3], wire.ChannelFinal, final)
	if c := stop(); c != 0 {
		t.Fatalf("exit code %d", c)
	}
	if _, err := os.Stat(filepath.Join(store, "jetstream")); err != nil {
		t.Fatalf("store: %v", err)
	}

	f, stop = startCommand(t, args...)
	waitStored(t, f[3], wire.ChannelFinal, final)
	if c := stop(); c != 0 {
		t.Errorf("exit code %d", c)
	}
}
