package scenarios

import (
	"context"
	"errors"
	"net"
	"net/http"
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

// startVendor runs a vending service with no fleet against the broker, its
// API on a loopback port, as `vendor serve` would; it returns the API URL.
func startVendor(t *testing.T, b *broker.Broker, user, password, token string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var svc *vending.Service
	ready := make(chan struct{})
	client, err := mqttc.Connect(ctx, mqttc.Options{Broker: b.URL(), ClientID: "vendor-1",
		Username: user, Password: password,
		Subscriptions: []mqttc.Subscription{{Filter: wire.SharedResultFilter, QoS: 1,
			Handler: func(m mqttc.Message) {
				<-ready
				if drn, _, err := wire.ParseTopic(m.Topic); err == nil {
					svc.HandleResult(drn, m.Payload)
				}
			}}}})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := vending.NewKeyStore(nil, sts.DKGA02, sts.DKGA04)
	if err != nil {
		t.Fatal(err)
	}
	svc, err = vending.New(ctx, vending.Config{Keys: keys, Publisher: client, APIToken: token,
		DBPath: filepath.Join(t.TempDir(), "ledger.db")})
	close(ready)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() { done <- svc.Run(ctx) }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: svc.Handler(), ReadHeaderTimeout: time.Second}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			done <- err
			return
		}
		done <- nil
	}()
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
		svc.Close()
		client.Disconnect(100 * time.Millisecond)
	})
	return "http://" + ln.Addr().String()
}

// TestExternalVendor runs shipped scenarios against a broker and a vending
// service of their own: the scenario registers its fleet through the API,
// gets the decoder keys from the vendor and types tokens into its meters.
func TestExternalVendor(t *testing.T) {
	secret := []byte("external-vendor-fleet-secret")
	b, err := broker.New(broker.Config{Listen: "127.0.0.1:0", FleetSecret: secret,
		Accounts: []broker.Account{
			{Username: "vendor", Password: "vendor-password", Role: broker.RoleVendor},
			{Username: "ops", Password: "ops-password", Role: broker.RoleVendor},
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown(ctx)
	url := startVendor(t, b, "vendor", "vendor-password", "api-token")
	for _, name := range []string{"smoke", "replay", "smoke"} {
		data, _ := ShippedFile(name)
		sc, err := Parse(name+".yaml", data)
		if err != nil {
			t.Fatal(err)
		}
		rep := RunScenario(ctx, sc, StackConfig{BrokerURL: b.URL(), FleetSecret: secret,
			Username: "ops", Password: "ops-password", VendorURL: url, VendorToken: "api-token"})
		if !rep.Passed {
			var sb strings.Builder
			rep.WriteText(&sb)
			t.Errorf("%s against an external vendor failed:\n%s", name, sb.String())
		}
	}
}
