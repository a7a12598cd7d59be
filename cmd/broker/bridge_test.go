package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/natsx"
	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/protocol/wire"
)

// The bridge test's secrets; nothing real.
var (
	bridgeFleetSecret       = []byte("cmd bridge test fleet secret, not real")
	bridgeAnalyticsPassword = "cmd bridge test analytics password"
)

// TestBridgeCommand runs broker bridge with an embedded NATS server against
// a real broker and follows a final reading from a meter into JetStream.
func TestBridgeCommand(t *testing.T) {
	b, err := broker.New(broker.Config{Listen: "127.0.0.1:0", FleetSecret: bridgeFleetSecret,
		Accounts: []broker.Account{{Username: broker.DefaultAnalyticsUsername,
			Password: bridgeAnalyticsPassword, Role: broker.RoleAnalytics}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown(context.Background())
	pwFile := filepath.Join(t.TempDir(), "analytics.password")
	if err := os.WriteFile(pwFile, []byte(bridgeAnalyticsPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"bridge", "--mqtt", b.URL(), "--mqtt-password", "@" + pwFile,
			"--nats-listen", "127.0.0.1:0", "--nats-store", t.TempDir(),
			"--metrics", "127.0.0.1:0", "--log-level", "warn"}, outW, io.Discard)
		outW.Close()
	}()
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatalf("no ready line: %v", err)
	}
	go io.Copy(io.Discard, outR)
	f := strings.Fields(line)
	if len(f) != 6 || f[0] != "mqtt" || f[2] != "nats" || f[4] != "metrics" {
		t.Fatalf("ready line %q", line)
	}
	natsURL, metricsURL := f[3], f[5]

	drn := cmdTestDRN()
	m, err := mqttc.Connect(ctx, mqttc.Options{Broker: b.URL(), ClientID: drn, Username: drn,
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

	nc, err := natsx.Connect(natsx.ConnectConfig{URL: natsURL})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	subj, _ := wire.Subject(wire.ChannelFinal, drn, wire.DefaultPartitions)
	deadline := time.Now().Add(patience)
	for {
		st, err := js.Stream(ctx, natsx.StreamName)
		if err == nil {
			if msg, err := st.GetLastMsgForSubject(ctx, subj); err == nil {
				if string(msg.Data) != string(final) {
					t.Errorf("%s holds %s, want %s", subj, msg.Data, final)
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("final reading never reached %s", subj)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The stream may hold the reading a moment before the bridge has
	// its acknowledgement and counts it.
	waitMetric(t, metricsURL, `bridge_messages_forwarded_total{channel="final"} 1`)

	cancel()
	if c := <-code; c != 0 {
		t.Errorf("bridge exit code %d, want 0", c)
	}
}

func TestBridgeCommandFlagErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no password": {[]string{"bridge"}, "--mqtt-password is required"},
		"missing file": {[]string{"bridge", "--mqtt-password", "@/nonexistent/pw"},
			"mqtt-password"},
		"bad nats addr": {[]string{"bridge", "--mqtt-password", "x", "--nats-listen", "nope"},
			"--nats-listen"},
		"bad log level":  {[]string{"bridge", "--log-level", "loud"}, "--log-level"},
		"positional arg": {[]string{"bridge", "extra"}, "unknown command"},
	} {
		t.Run(name, func(t *testing.T) {
			var stderr strings.Builder
			if code := run(context.Background(), tc.args, io.Discard, &stderr); code == 0 {
				t.Fatal("exit code 0")
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q does not mention %q", stderr.String(), tc.want)
			}
		})
	}
}

func cmdTestDRN() string {
	body := fmt.Sprintf("07%08d", 42)
	check, err := sts.LuhnCheckDigit(body)
	if err != nil {
		panic(err)
	}
	return body + string(check)
}
