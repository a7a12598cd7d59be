package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stsfleet/stsfleet/natsx"
	"github.com/stsfleet/stsfleet/protocol/wire"
	"github.com/stsfleet/stsfleet/vending"
)

// natsServe runs vendor serve, recording tokens without MQTT and sending
// vend events to natsURL, until the test ends. It returns the API's URL,
// the fleet definition and a stop that returns Run's error and stderr.
func natsServe(t *testing.T, natsURL string) (api string, def *vending.Definition,
	stop func() (error, string)) {
	t.Helper()
	dir := t.TempDir()
	if out := vendor(t, "fleet", "init", "--meters", "3", "--out", dir); out.code != 0 {
		t.Fatalf("fleet init: %s", out.stderr)
	}
	cfg := defaultServeConfig()
	cfg.Listen, cfg.Metrics, cfg.MQTT = "127.0.0.1:0", "", ""
	cfg.Fleet, cfg.Keys = filepath.Join(dir, vending.FleetFile), filepath.Join(dir,
		vending.KeyStoreFile)
	cfg.DB = filepath.Join(dir, "vendor.db")
	cfg.APIToken = writeSecret(t, "token", serveAPIToken)
	cfg.NATS, cfg.LogLevel = natsURL, "info"

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stdout, lines := io.Pipe()
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, cfg, lines, stderr) }()
	ready, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, stdout)
	f := strings.Fields(ready)
	if len(f) != 6 || f[0] != "api" || f[4] != "nats" || f[5] != natsURL {
		t.Fatalf("ready line %q, want api URL metrics URL nats %s", ready, natsURL)
	}
	def, err = vending.LoadDefinition(cfg.Fleet)
	if err != nil {
		t.Fatal(err)
	}
	return f[1], def, func() (error, string) {
		cancel()
		select {
		case err := <-done:
			return err, stderr.String()
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop")
			return nil, ""
		}
	}
}

// TestServePublishesVendEvents vends through the HTTP API and reads the
// vend event from the meter's vend subject in JetStream.
func TestServePublishesVendEvents(t *testing.T) {
	srv, err := natsx.Start(natsx.Config{Port: natsx.RandomPort, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	api, def, stop := natsServe(t, srv.ClientURL())

	drn := def.Meters[1].DRN
	var v vending.VendResponse
	call(t, "POST", api+"/v1/vend", `{"meter":"`+drn+`","amount":"250.00"}`, 201, &v)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nc, err := natsx.Connect(natsx.ConnectConfig{URL: srv.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := natsx.EnsureStream(ctx, js, natsx.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	subject, _ := wire.Subject(wire.ChannelVend, drn, wire.DefaultPartitions)
	cons, err := natsx.EnsureConsumer(ctx, js, natsx.ConsumerConfig{Name: "vend-test",
		Filters: []string{wire.ChannelFilter(wire.ChannelVend)}})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(15 * time.Second))
	if err != nil {
		t.Fatalf("no vend event: %v", err)
	}
	if msg.Subject() != subject {
		t.Errorf("vend event on %s, want %s", msg.Subject(), subject)
	}
	got, err := wire.DecodeVend(msg.Data())
	if err != nil {
		t.Fatal(err)
	}
	want := wire.VendEvent{VendID: v.VendID, Meter: drn, Utility: string(def.Meters[1].Utility),
		Units: v.Units, Unit: v.Unit, Amount: v.Amount, Currency: v.Currency,
		TokenAmount: v.TokenAmount, OtherCharges: v.OtherCharges, TID: v.TID,
		SimTime: v.SimTime}
	ignore := cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "IssuedAt" },
		cmp.Ignore())
	if diff := cmp.Diff(want, got, ignore); diff != "" {
		t.Errorf("vend event (-want +got):\n%s", diff)
	}
	if got.IssuedAt.IsZero() {
		t.Error("vend event without issued_at")
	}

	waitBody(t, api+"/metrics", `vendor_vend_events_total{result="published"} 1`)
	err, logs := stop()
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
	if !strings.Contains(logs, `msg="vend events forwarded" component=vend-events `+
		`published=1 dropped=0 failed=0`) {
		t.Errorf("no account of the events in the log:\n%s", logs)
	}
}

// TestServeWithoutNATS: NATS is not there; the vendor vends all the same,
// and the event it could not publish is counted and logged.
func TestServeWithoutNATS(t *testing.T) {
	// A loopback port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "nats://" + l.Addr().String()
	l.Close()
	api, def, stop := natsServe(t, url)

	var v vending.VendResponse
	call(t, "POST", api+"/v1/vend", `{"meter":"`+def.Meters[0].DRN+`","amount":"100.00"}`,
		201, &v)
	var st vending.VendStatus
	call(t, "GET", api+"/v1/vends/"+v.VendID, "", 200, &st)
	if st.State != "issued" || st.Units != v.Units {
		t.Errorf("vend %s: %s for %s units, want issued for %s", v.VendID, st.State,
			st.Units, v.Units)
	}
	waitBody(t, api+"/metrics", `vendor_vend_events_total{result="published"} 0`)

	err, logs := stop()
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
	// The event was being tried when the vendor stopped: counted failed.
	for _, want := range []string{`level=ERROR msg="vend event not published"`,
		`level=WARN msg="vend events forwarded" component=vend-events published=0 ` +
			`dropped=0 failed=1`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
}

// syncBuffer is a strings.Builder the command writes and the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

// waitBody polls url until its body contains want.
func waitBody(t *testing.T, url, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s lacks %s:\n%.3000s", url, want, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
