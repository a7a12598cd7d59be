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
	ctx, stop := notifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// signalError is the cause of a context ended by a signal.
type signalError struct{ sig syscall.Signal }

// Error names the signal as people know it: SIGINT, SIGTERM.
func (e signalError) Error() string {
	switch e.sig {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return e.sig.String()
}

// exitCode is the shell's convention for a process ended by the signal.
func (e signalError) exitCode() int { return 128 + int(e.sig) }

// notifyContext is like signal.NotifyContext, with a [signalError] as the
// context's cause, so that the run can say which signal ended it.
func notifyContext(parent context.Context, sigs ...os.Signal) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case s := <-ch:
			sig, _ := s.(syscall.Signal)
			cancel(signalError{sig: sig})
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		cancel(nil)
		<-done
	}
}

// run executes one command line and returns the exit code: 0 on success,
// 1 with the error on stderr otherwise (a run whose conservation checks
// failed included), 128 + the signal's number (130 for SIGINT) for a run
// interrupted by a signal.
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
