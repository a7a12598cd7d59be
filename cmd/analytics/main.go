// Command analytics works on data around the fleet simulator: it imports
// prepaid-token SMS receipts, charts them and fits purchase models. The
// logic lives in analytics/receipts; this command reads flags into a
// config, runs it and prints the result.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, newRootCmd(), os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// execute runs one command line and returns the process exit code: 0 on
// success, 1 with a message on stderr otherwise.
func execute(ctx context.Context, root *cobra.Command, args []string, stdout,
	stderr io.Writer) int {
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
	return 1
}

// newRootCmd returns the analytics command with its subcommands. Each group
// of subcommands lives in a file of its own and is added here.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "analytics",
		Short:         "Import, chart and model data around the fleet simulator",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newReceiptsCmd())
	root.AddCommand(newServeCmd())
	return root
}
