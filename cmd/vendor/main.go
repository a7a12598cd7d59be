package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

func main() {
	// Long-running commands stop when the context ends.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, newRootCmd(), os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// env holds what the commands take from the process rather than from their
// flags, so that tests can fix it.
type env struct {
	// now returns the current time, read for --issued now.
	now func() time.Time
	// nibble returns a random 4-bit value, the RND of tokens issued
	// without --rnd.
	nibble func() uint8
	// random supplies the key material of key new.
	random io.Reader
}

// processEnv returns the real clock and random sources.
func processEnv() env {
	return env{
		now:    time.Now,
		nibble: func() uint8 { return uint8(mrand.IntN(16)) },
		random: rand.Reader,
	}
}

// run executes one command line on root under ctx, which commands see as
// cmd.Context(), and returns the process exit code: 0 on success, 1 with a
// message on stderr otherwise.
func run(ctx context.Context, root *cobra.Command, args []string,
	stdout, stderr io.Writer) int {
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

// newRootCmd returns the vendor command tree bound to the process clock and
// random sources.
func newRootCmd() *cobra.Command { return newRoot(processEnv()) }

// newRoot builds the command tree. Each command group lives in its own file
// and is added here.
func newRoot(e env) *cobra.Command {
	root := &cobra.Command{
		Use:   "vendor",
		Short: "STS vending tools: keys and tokens",
		Long: "vendor makes vending keys, derives decoder keys, and issues and decodes\n" +
			"STS (IEC 62055-41) tokens. Every command prints an aligned table, or one\n" +
			"JSON object with --json. Key flags take hex or @FILE; vending keys are\n" +
			"never printed.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newKeyCmd(e), newTokenCmd(e))
	root.AddCommand(newFleetCmd(e), newServeCmd())
	return root
}

// newGroup returns a command that only holds subcommands: alone it prints
// its help, and an unknown subcommand is an error.
func newGroup(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	c.AddCommand(subs...)
	return c
}
