// Command fleet simulates fleets of STS prepaid meters. With no arguments
// it runs everything in one process (an MQTT broker, the vending service,
// NATS with analytics, and 1,000 meters) through a few simulated days and
// prints the summary;
// `fleet run` is the same run. Each subcommand reads its flags into a
// config struct and hands it to a run function; the logic lives in the
// packages.
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

// run executes one command line and returns the exit code: 0 on success,
// 1 with the error on stderr otherwise (a run whose conservation checks
// failed included).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	// cobra prints the error.
	if err := root.ExecuteContext(ctx); err != nil {
		return exitCode(err)
	}
	return 0
}

// newRootCmd builds the fleet command with all its subcommands. The root
// itself is the run, with the run's flags.
func newRootCmd() *cobra.Command {
	cfg := defaultRunConfig()
	root := &cobra.Command{
		Use:   "fleet",
		Short: "Simulate fleets of STS prepaid meters",
		Long: "fleet with no arguments runs the product in one process: an MQTT broker, the\n" +
			"vending service with a fresh vending key, NATS and analytics, and 1,000 meters\n" +
			"whose customers buy tokens that reach them over MQTT, through 3 simulated days\n" +
			"in about a minute. It prints a summary and exits non-zero when conservation\n" +
			"fails. The flags point any part at an external server instead.",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: false,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAll(cmd.Context(), cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	addRunFlags(root, &cfg)
	root.AddCommand(withScenarioFiles(newRunCmd()), newMeterCmd(), newScenariosCmd())
	root.AddCommand(newBenchCmd())
	return root
}
