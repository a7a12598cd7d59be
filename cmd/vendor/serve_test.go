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

	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/protocol/wire"
	"github.com/stsfleet/stsfleet/vending"
)

// Test secrets; nothing real.
var (
	serveFleetSecret = []byte("serve test fleet secret, not real")
	serveVendorPass  = "serve test vendor password"
	serveAPIToken    = "serve-test-token"
)

// writeSecret writes a 0600 secret file and returns @PATH.
func writeSecret(t *testing.T, name, v string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return "@" + p
}

// TestServeDeliversOverMQTT runs vendor serve against an in-process broker
// and plays one meter by hand: the token arrives on the meter's topic,
// decodes under its injected key, and the meter's accept settles the vend.
func TestServeDeliversOverMQTT(t *testing.T) {
	dir := t.TempDir()
	if out := vendor(t, "fleet", "init", "--meters", "3", "--out", dir); out.code != 0 {
		t.Fatalf("fleet init: %s", out.stderr)
	}
	b, err := broker.New(broker.Config{Listen: "127.0.0.1:0", FleetSecret: serveFleetSecret,
		Accounts: []broker.Account{{Username: "vendor", Password: serveVendorPass,
			Role: broker.RoleVendor}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown(context.Background())

	cfg := defaultServeConfig()
	cfg.Listen, cfg.Metrics = "127.0.0.1:0", ""
	cfg.Fleet, cfg.Keys = filepath.Join(dir, vending.FleetFile), filepath.Join(dir,
		vending.KeyStoreFile)
	cfg.DB = filepath.Join(dir, "vendor.db")
	cfg.MQTT, cfg.MQTTPassword = b.URL(), writeSecret(t, "mqtt", serveVendorPass)
	cfg.APIToken = writeSecret(t, "token", serveAPIToken)
	cfg.LogLevel = "error"
	stdout, lines := io.Pipe()
	serveCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- runServe(serveCtx, cfg, lines, io.Discard) }()
	ready, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, stdout)
	fields := strings.Fields(ready)
	if len(fields) < 2 || fields[0] != "api" {
		t.Fatalf("ready line %q", ready)
	}
	api := fields[1]

	def, _ := vending.LoadDefinition(cfg.Fleet)
	inj, _ := vending.LoadInjection(filepath.Join(dir, vending.InjectionFile))
	m := def.Meters[0]
	tokens := make(chan wire.TokenMessage, 4)
	meterClient, err := mqttc.Connect(ctx, mqttc.Options{Broker: b.URL(), ClientID: m.DRN,
		Username: m.DRN, Password: broker.MeterPassword(serveFleetSecret, m.DRN),
		Subscriptions: []mqttc.Subscription{{Filter: wire.Topic(m.DRN, wire.KindToken),
			QoS: 1, Handler: func(msg mqttc.Message) {
				if tm, err := wire.DecodeToken(msg.Payload); err == nil {
					tokens <- tm
				}
			}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer meterClient.Disconnect(100 * time.Millisecond)

	var v vending.VendResponse
	call(t, "POST", api+"/v1/vend", `{"meter":"`+m.DRN+`","amount":"100.00"}`, 201, &v)
	var tm wire.TokenMessage
	select {
	case tm = <-tokens:
	case <-ctx.Done():
		t.Fatal("no token on the meter's topic")
	}
	if tm.VendID != v.VendID || tm.Token != v.Token {
		t.Fatalf("token message %+v for vend %+v", tm, v)
	}
	c, err := sts.NewCipher(inj[m.DRN].EA, inj[m.DRN].Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := sts.ParseToken(tm.Token)
	if f, ok, err := sts.Decode(c, tok); err != nil || !ok || f.TID != v.TID {
		t.Fatalf("token does not decode under the injected key: %v %v", ok, err)
	}
	res, _ := json.Marshal(wire.ResultMessage{VendID: tm.VendID, Token: tm.Token,
		Outcome: "accept", Credited: v.Units, Unit: v.Unit, SentAt: time.Now()})
	if err := meterClient.Publish(ctx, wire.Topic(m.DRN, wire.KindResult), 1, false,
		res); err != nil {
		t.Fatal(err)
	}
	var st vending.VendStatus
	for deadline := time.Now().Add(10 * time.Second); ; {
		call(t, "GET", api+"/v1/vends/"+v.VendID, "", 200, &st)
		if st.State == "accepted" || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st.State != "accepted" {
		t.Fatalf("vend state %s, want accepted", st.State)
	}
	resp, err := http.Get(api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `vendor_token_results_total{outcome="accept"} 1`) {
		t.Errorf("/metrics lacks the accept:\n%.2000s", body)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

// call makes an authenticated API call and decodes the answer.
func call(t *testing.T, method, url, body string, status int, out any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+serveAPIToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("%s %s: %d %s, want %d", method, url, resp.StatusCode, b, status)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
}

func TestServeFlagErrors(t *testing.T) {
	dir := t.TempDir()
	if out := vendor(t, "fleet", "init", "--meters", "2", "--out", dir); out.code != 0 {
		t.Fatal(out.stderr)
	}
	keys := filepath.Join(dir, vending.KeyStoreFile)
	token := writeSecret(t, "token", "x")
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"--api-token", token}, "--keys"},
		{[]string{"--keys", keys}, "--api-token"},
		{[]string{"--keys", filepath.Join(dir, "nope"), "--api-token", token}, "--keys"},
		{[]string{"--keys", keys, "--api-token", token, "--mqtt-password", ""},
			"--mqtt-password"},
		{[]string{"--keys", keys, "--api-token", token, "--mqtt", "", "--sim-speed", "0"},
			"--sim-speed"},
		{[]string{"--keys", keys, "--api-token", token, "--mqtt", "", "--sim-start", "today"},
			"--sim-start"},
		{[]string{"--keys", keys, "--api-token", token, "--mqtt", "", "--log-level", "loud"},
			"--log-level"},
		{[]string{"--keys", keys, "--api-token", "@" + filepath.Join(dir, "none"), "--mqtt",
			""}, "--api-token"},
	} {
		args := append([]string{"serve", "--db", filepath.Join(t.TempDir(), "v.db")},
			tc.args...)
		out := vendor(t, args...)
		if out.code == 0 || !strings.Contains(out.stderr, tc.flag) {
			t.Errorf("%v: %d %q, want an error naming %s", tc.args, out.code, out.stderr,
				tc.flag)
		}
		if strings.Contains(out.stderr, "A5A5") {
			t.Errorf("%v: a key in the error", tc.args)
		}
	}
}
