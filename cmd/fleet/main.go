// Command fleet simulates fleets of virtual STS prepaid meters. Each
// subcommand reads its flags into a config struct and hands it to a run
// function; the logic lives in the packages.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		// cobra has printed the error.
		os.Exit(1)
	}
}

// newRootCmd builds the fleet command with all its subcommands.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "fleet",
		Short:         "Simulate fleets of STS prepaid meters",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.AddCommand(newMeterCmd())
	return root
}
