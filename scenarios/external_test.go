package scenarios

import (
	"context"
	"strings"
	"testing"

	"github.com/stsfleet/stsfleet/broker"
)

// TestExternalBroker runs a shipped scenario against a broker listening on
// loopback TCP, as an external one: meters, vendor and observer all
// connect over sockets with the credentials given.
func TestExternalBroker(t *testing.T) {
	secret := []byte("external-broker-fleet-secret")
	b, err := broker.New(broker.Config{Listen: "127.0.0.1:0", FleetSecret: secret,
		Accounts: []broker.Account{{Username: "ops", Password: "ops-password",
			Role: broker.RoleVendor}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown(ctx)
	data, _ := ShippedFile("replay")
	sc, err := Parse("replay.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	rep := RunScenario(ctx, sc, StackConfig{BrokerURL: b.URL(), FleetSecret: secret,
		Username: "ops", Password: "ops-password"})
	if !rep.Passed {
		var sb strings.Builder
		rep.WriteText(&sb)
		t.Errorf("replay against an external broker failed:\n%s", sb.String())
	}
	if st := b.Stats(); st.Connects < 4 {
		t.Errorf("broker saw %d connects, want the fleet's 4 and more", st.Connects)
	}
}
