package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/stsfleet/stsfleet/internal/logtest"
	"github.com/stsfleet/stsfleet/internal/nettest"
	"github.com/stsfleet/stsfleet/natsx"
)

const peerPatience = 20 * time.Second

// TestServeWaitsForNATS starts analytics serve before NATS: it says what it
// waits for, and serves once the server is there.
func TestServeWaitsForNATS(t *testing.T) {
	port, logs := nettest.FreePort(t), logtest.New()
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- execute(ctx, newRootCmd(), []string{"serve", "--nats", url,
			"--listen", "127.0.0.1:0", "--log-level", "info"}, outW, logs)
		outW.Close()
	}()

	logs.Wait(t, peerPatience, "level=WARN", `msg="waiting for NATS server"`, "addr="+url,
		`err="connection refused"`, "retry_in=")
	ns, err := natsx.Start(natsx.Config{Port: port, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown(context.Background())
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatalf("no ready line: %v", err)
	}
	go io.Copy(io.Discard, outR)
	if !strings.HasSuffix(line, " nats "+url+"\n") {
		t.Errorf("ready line %q", line)
	}
	logs.Wait(t, peerPatience, "level=INFO", `msg="connected to NATS server"`, "addr="+url)

	cancel()
	if c := <-code; c != 0 {
		t.Errorf("exit code %d, want 0; the log:\n%s", c, logs)
	}
}

// TestServeRefusedCredentials gives analytics serve a wrong NATS password:
// it exits at once, naming the account and the server, not the password.
func TestServeRefusedCredentials(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT,
		Username: "analytics", Password: "the right password", NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(peerPatience) {
		t.Fatal("nats server not ready")
	}
	const guess = "guessed-password"
	addr := ns.Addr().String()
	stderr := logtest.New()
	var stdout strings.Builder
	c := execute(t.Context(), newRootCmd(), []string{"serve",
		"--nats", "nats://analytics:" + guess + "@" + addr, "--listen", "127.0.0.1:0"},
		&stdout, stderr)
	if c == 0 {
		t.Fatal("exit code 0 with a wrong password")
	}
	text := stderr.String()
	for _, want := range []string{addr, "as analytics", "credentials refused"} {
		if !strings.Contains(text, want) {
			t.Errorf("stderr does not name %q:\n%s", want, text)
		}
	}
	if strings.Contains(text+stdout.String(), guess) {
		t.Errorf("the output holds the password:\n%s", text)
	}
}
