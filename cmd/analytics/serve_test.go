package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stsfleet/stsfleet/analytics"
	"github.com/stsfleet/stsfleet/natsx"
	"github.com/stsfleet/stsfleet/protocol/wire"
)

// TestServe runs analytics serve as instance 1 of 2 against an embedded
// NATS server: of two final readings it aggregates only its own meter's.
func TestServe(t *testing.T) {
	ns, err := natsx.Start(natsx.Config{Port: natsx.RandomPort, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown(context.Background())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- execute(ctx, newRootCmd(), []string{"serve", "--nats", ns.ClientURL(),
			"--instance", "1/2", "--listen", "127.0.0.1:0", "--state", t.TempDir(),
			"--log-level", "warn"}, outW, io.Discard)
		outW.Close()
	}()
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatalf("no ready line: %v", err)
	}
	go io.Copy(io.Discard, outR)
	f := strings.Fields(line)
	if len(f) != 8 || f[0] != "analytics" || f[2] != "partitions" || f[3] != "16-31" {
		t.Fatalf("ready line %q", line)
	}
	base := f[1]

	mine, theirs := meterIn(16, 31), meterIn(0, 15)
	nc, err := natsx.Connect(natsx.ConnectConfig{URL: ns.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	for _, drn := range []string{mine, theirs} {
		now := time.Now()
		payload, _ := json.Marshal(wire.Telemetry{DRN: drn, Utility: "gas", Unit: "m3", Seq: 1,
			Credited: "2.5", Consumed: "1", Cleared: "0", Remaining: "1.5", Relay: "closed",
			Final: true, SimTime: now, SentAt: now})
		subj, _ := wire.Subject(wire.ChannelFinal, drn, wire.DefaultPartitions)
		if _, err := js.Publish(ctx, subj, payload); err != nil {
			t.Fatal(err)
		}
	}

	var s analytics.Summary
	deadline := time.Now().Add(20 * time.Second)
	for s.FinalReadings == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the final reading never reached the summary")
		}
		time.Sleep(10 * time.Millisecond)
		s = summary(t, base)
	}
	gas := s.ByUtility["gas"]
	if s.Meters != 1 || gas.Consumed.String() != "1" || gas.Remaining.String() != "1.5" {
		t.Errorf("summary: meters %d, gas consumed %s remaining %s; want 1, 1, 1.5",
			s.Meters, gas.Consumed, gas.Remaining)
	}

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"analytics_partitions_owned 16\n", "go_goroutines "} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// The status page, with the gas meter's final reading in its table:
	// sold, consumed and remaining cells.
	resp, err = http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"<svg ", "partitions 16-31 of 32",
		"<td>gas</td><td>m3</td><td>0.0</td><td>1.0</td>\n<td>1.5</td>"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the status page lacks %q", want)
		}
	}
	cancel()
	if c := <-code; c != 0 {
		t.Errorf("exit code %d, want 0", c)
	}
}

func summary(t *testing.T, base string) analytics.Summary {
	t.Helper()
	resp, err := http.Get(base + "/v1/summary")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s analytics.Summary
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// meterIn returns a DRN whose partition lies in lo..hi.
func meterIn(lo, hi int) string {
	for i := 0; ; i++ {
		drn := fmt.Sprintf("%011d", 12_000_000_000+i)
		if p := wire.Partition(drn, wire.DefaultPartitions); p >= lo && p <= hi {
			return drn
		}
	}
}

func TestServeFlagErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"both shares": {[]string{"serve", "--partitions", "0-3", "--instance", "0/2"},
			"exclude"},
		"bad partitions":  {[]string{"serve", "--partitions", "0-99"}, "--partitions"},
		"bad instance":    {[]string{"serve", "--instance", "2/2"}, "--instance"},
		"bad count":       {[]string{"serve", "--partition-count=-1"}, "--partition-count"},
		"bad log level":   {[]string{"serve", "--log-level", "loud"}, "--log-level"},
		"bad listen":      {[]string{"serve", "--listen", "nowhere"}, "--listen"},
		"positional args": {[]string{"serve", "x"}, "unknown command"},
	} {
		t.Run(name, func(t *testing.T) {
			var stderr strings.Builder
			c := execute(context.Background(), newRootCmd(), tc.args, io.Discard, &stderr)
			if c == 0 {
				t.Fatal("exit code 0")
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q does not mention %q", stderr.String(), tc.want)
			}
		})
	}
}
