// Command broker runs the product's MQTT broker: mochi-mqtt with the fleet's
// authentication (each meter's password derived from the fleet secret) and
// topic ACL, on loopback by default, with Prometheus metrics, and the bridge
// that forwards results and telemetry to NATS (package bridge), into an
// embedded NATS server unless told where NATS is. `broker serve` reads its
// flags into a serveConfig and hands it to runServe; `broker bridge` runs the
// bridge alone against any MQTT broker. The broker itself lives in package
// broker.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit code: 0 on success, 1
// with the error on stderr otherwise.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		return 1
	}
	return 0
}

// newRootCmd builds the broker command tree.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "broker",
		Short: "The stsfleet MQTT broker",
		Long: "broker runs the MQTT broker meters, the vendor and analytics talk through.\n" +
			"Meters sign in with their DRN and a password derived from the fleet secret;\n" +
			"each may read only its own tokens and write only its own results, telemetry\n" +
			"and status. The vendor and analytics have their own accounts. The bridge\n" +
			"forwards results and telemetry to NATS, for analytics.",
		SilenceUsage: true,
	}
	root.AddCommand(newServeCmd())
	root.AddCommand(newBridgeCmd())
	return root
}
