package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stsfleet/stsfleet/bench"
)

// connectBenchConfig holds the flags of `fleet bench connect`.
type connectBenchConfig struct {
	// Meters is the fleet's size; Rate its connections per second.
	Meters int
	Rate   float64
	// Hold is how long the meters stay connected before memory is read.
	Hold time.Duration
	// JSON is a file for the result; empty writes none.
	JSON string
}

func newBenchConnectCmd() *cobra.Command {
	var c connectBenchConfig
	cmd := &cobra.Command{
		Use:   "connect",
		Short: "Connect a fleet over TCP to a broker in its own process; rate and memory",
		Long: "Starts the embedded broker as a child process on loopback TCP, connects a " +
			"fleet of meters to it at --rate, and reports connections per second and the " +
			"peak RSS of both processes per connected meter.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBenchConnect(cmd.Context(), c, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&c.Meters, "meters", 10_000, "meters to connect")
	fs.Float64Var(&c.Rate, "rate", 4000, "connections per second the fleet ramps at")
	fs.DurationVar(&c.Hold, "hold", 2*time.Second, "how long the meters stay connected")
	fs.StringVar(&c.JSON, "json", "", "write the result as JSON to this file")
	return cmd
}

func runBenchConnect(ctx context.Context, c connectBenchConfig, stdout,
	stderr io.Writer) error {
	if err := c.validate(); err != nil {
		return err
	}
	if c.JSON != "" {
		if err := checkOutputPath(c.JSON); err != nil {
			return fmt.Errorf("--json %s: %w", c.JSON, err)
		}
	}
	secret := make([]byte, 32)
	if _, err := randRead(secret); err != nil {
		return err
	}
	child, url, err := spawnBroker(ctx, secret, stderr)
	if err != nil {
		return err
	}
	defer child.stop()
	fmt.Fprintf(stderr, "broker pid %d on %s; connecting %d meters at %.0f/s\n",
		child.cmd.Process.Pid, url, c.Meters, c.Rate)
	res, err := bench.RunConnect(ctx, bench.ConnectConfig{Meters: c.Meters, Rate: c.Rate,
		BrokerURL: url, FleetSecret: secret, BrokerPID: child.cmd.Process.Pid, Hold: c.Hold})
	if err != nil && ctx.Err() != nil {
		// A connection bench has no partial result: say it was cut
		// short, and exit as the signal says.
		return &interruptedError{when: "before its meters were all connected and held",
			cause: context.Cause(ctx)}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "meters            %d\n", res.Meters)
	fmt.Fprintf(stdout, "connected in      %.2fs: %.0f connections/s (target %.0f/s)\n",
		res.ConnectSeconds, res.AchievedRate, res.TargetRate)
	fmt.Fprintf(stdout, "peak rss fleet    %.1f MiB\n", float64(res.FleetPeakRSS)/(1<<20))
	fmt.Fprintf(stdout, "peak rss broker   %.1f MiB\n", float64(res.BrokerPeakRSS)/(1<<20))
	fmt.Fprintf(stdout, "per meter         %.1f KiB (fleet + broker)\n", res.PerMeter/1024)
	fmt.Fprintf(stdout, "machine           %s\n", res.Machine)
	if c.JSON == "" {
		return nil
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	err = writeFileAtomic(c.JSON, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
	if err != nil {
		return fmt.Errorf("--json %s: %w", c.JSON, err)
	}
	return nil
}

// validate refuses, before the broker process starts, a flag value the
// bench cannot run with.
func (c *connectBenchConfig) validate() error {
	switch {
	case c.Meters < 1:
		return fmt.Errorf("--meters %d: want at least 1", c.Meters)
	case c.Rate <= 0:
		return fmt.Errorf("--rate %g: want more than 0", c.Rate)
	case c.Hold <= 0:
		return fmt.Errorf("--hold %s: want more than 0", c.Hold)
	}
	return nil
}

// brokerChild is the broker process of a connect bench.
type brokerChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan error
}

// spawnBroker starts `fleet bench serve-broker` from this executable,
// hands it the fleet secret on its standard input, and waits for the URL
// it prints.
func spawnBroker(ctx context.Context, secret []byte, stderr io.Writer) (*brokerChild,
	string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", fmt.Errorf("spawn broker: %w", err)
	}
	cmd := exec.Command(exe, "bench", "serve-broker", "--listen", "127.0.0.1:0")
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, "", fmt.Errorf("spawn broker: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", fmt.Errorf("spawn broker: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("spawn broker: %w", err)
	}
	child := &brokerChild{cmd: cmd, stdin: stdin, done: make(chan error, 1)}
	if _, err := fmt.Fprintln(stdin, hex.EncodeToString(secret)); err != nil {
		child.stop()
		return nil, "", fmt.Errorf("spawn broker: %w", err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
				urls <- u
			}
		}
		child.done <- cmd.Wait()
	}()
	select {
	case u := <-urls:
		return child, u, nil
	case err := <-child.done:
		return nil, "", fmt.Errorf("spawn broker: exited before ready: %v", err)
	case <-time.After(30 * time.Second):
		child.stop()
		return nil, "", errors.New("spawn broker: not ready after 30s")
	case <-ctx.Done():
		child.stop()
		return nil, "", ctx.Err()
	}
}

// stop closes the child's standard input, which ends it, and waits.
func (c *brokerChild) stop() {
	c.stdin.Close()
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

func newBenchServeBrokerCmd() *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:    "serve-broker",
		Short:  "Broker process of `fleet bench connect` (reads the fleet secret on stdin)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServeBroker(cmd.Context(), listen, os.Stdin, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "TCP address to listen on")
	return cmd
}

// runServeBroker reads the hex fleet secret from the first line of in,
// serves until in is closed, and prints "ready URL" once listening.
func runServeBroker(ctx context.Context, listen string, in io.Reader, out io.Writer) error {
	rd := bufio.NewReader(in)
	line, err := rd.ReadString('\n')
	if err != nil {
		return fmt.Errorf("serve broker: read fleet secret: %w", err)
	}
	secret, err := hex.DecodeString(strings.TrimSpace(line))
	if err != nil {
		return fmt.Errorf("serve broker: fleet secret: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		// The parent closing stdin (or dying) ends the broker.
		_, _ = io.Copy(io.Discard, rd)
		cancel()
	}()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return bench.ServeBroker(ctx, listen, secret, log, func(url string) {
		fmt.Fprintln(out, "ready "+url)
	})
}

func randRead(b []byte) (int, error) { return rand.Read(b) }
