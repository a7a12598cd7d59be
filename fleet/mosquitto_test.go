package fleet_test

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/fleet"
	"github.com/stsfleet/stsfleet/fleet/stack"
	"github.com/stsfleet/stsfleet/simclock"
	"github.com/stsfleet/stsfleet/vending"
)

const mosquittoBin = "/usr/sbin/mosquitto"

// mosquittoACL gives the vendor and each meter the same rights as the
// embedded broker's ACL: %u is the username, a meter's DRN.
const mosquittoACL = `user vendor
topic write sts/v1/meters/+/token
topic read sts/v1/meters/+/result
topic read $share/vendors/sts/v1/meters/+/result
topic read sts/v1/meters/+/status

user analytics
topic read sts/v1/meters/+/result
topic read sts/v1/meters/+/telemetry
topic read sts/v1/meters/+/status

pattern read sts/v1/meters/%u/token
pattern write sts/v1/meters/%u/result
pattern write sts/v1/meters/%u/telemetry
pattern write sts/v1/meters/%u/status
`

// mosquittoHash is a password file entry in mosquitto 2's format:
// $7$ is PBKDF2-SHA512, then the iterations, a 12-byte salt and the
// 64-byte hash, base64.
func mosquittoHash(t *testing.T, password string) string {
	const iterations = 101
	salt := make([]byte, 12)
	rand.Read(salt)
	h, err := pbkdf2.Key(sha512.New, password, salt, iterations, sha512.Size)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.StdEncoding
	return fmt.Sprintf("$7$%d$%s$%s", iterations, enc.EncodeToString(salt), enc.EncodeToString(h))
}

// startMosquitto runs mosquitto on a free loopback port with a password
// file for the vendor and every meter, and returns its URL.
func startMosquitto(t *testing.T, def *vending.Definition, vendorPassword,
	analyticsPassword string) string {
	t.Helper()
	dir := t.TempDir()
	var pw strings.Builder
	fmt.Fprintf(&pw, "vendor:%s\n", mosquittoHash(t, vendorPassword))
	fmt.Fprintf(&pw, "analytics:%s\n", mosquittoHash(t, analyticsPassword))
	for _, m := range def.Meters {
		fmt.Fprintf(&pw, "%s:%s\n", m.DRN,
			mosquittoHash(t, broker.MeterPassword(testSecret, m.DRN)))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	conf := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous false\npersistence false\n"+
		"password_file %s\nacl_file %s\nmax_queued_messages 10000\n", port,
		filepath.Join(dir, "passwd"), filepath.Join(dir, "acl"))
	if os.Geteuid() == 0 {
		// Run as root, mosquitto would switch to its own user, which
		// cannot read the test's files.
		conf += "user root\n"
	}
	for name, content := range map[string]string{"passwd": pw.String(), "acl": mosquittoACL,
		"mosquitto.conf": conf} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	cmd := exec.Command(mosquittoBin, "-c", filepath.Join(dir, "mosquitto.conf"))
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	waitFor(t, "mosquitto to listen", func() bool {
		select {
		case <-exited:
			t.Fatalf("mosquitto exited: %s", out.String())
		default:
		}
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return "tcp://" + addr
}

func TestAgainstMosquitto(t *testing.T) {
	if _, err := os.Stat(mosquittoBin); err != nil {
		t.Skipf("%s not found: install Debian's mosquitto package to run this test",
			mosquittoBin)
	}
	gen, err := vending.NewFleet(vending.FleetConfig{Meters: 50, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	const vendorPassword, analyticsPassword = "vendor-password-for-tests", "analytics-pw"
	url := startMosquitto(t, gen.Definition, vendorPassword, analyticsPassword)

	clock := simclock.New(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), 40_000)
	s := startStack(t, stack.Config{
		Definition: gen.Definition, Injection: gen.Injection, Keys: gen.Keys, Clock: clock,
		BrokerURL: url, VendorUser: "vendor", VendorPassword: vendorPassword,
		// The bridge and analytics read through mosquitto too.
		AnalyticsUser: "analytics", AnalyticsPassword: analyticsPassword,
		Analytics: stack.NATSAnalytics("", nil),
		DBPath:    filepath.Join(t.TempDir(), "ledger.db"),
		Fleet:     fleet.Config{Step: time.Hour, TelemetryInterval: 2 * time.Hour},
	})
	sum, err := s.Run(context.Background(), stack.RunConfig{SimDuration: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Passed || sum.TokensVended < 50 || sum.TokensAccepted != sum.TokensVended {
		t.Errorf("through mosquitto: passed %v (%v), vended %d, accepted %d", sum.Passed,
			sum.Failures(), sum.TokensVended, sum.TokensAccepted)
	}
	if sum.TelemetryAggregated < 50 {
		t.Errorf("analytics aggregated %d readings, want every meter's final one",
			sum.TelemetryAggregated)
	}
}
