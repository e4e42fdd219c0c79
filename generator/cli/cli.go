// Package cli is the mcpgen command line: cobra wiring over package
// generator, runnable in-process for tests.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcpgen/mcpgen/generator"
)

// Exit codes of Run.
const (
	ExitOK       = 0
	ExitFailure  = 1 // conflicts, a failure while working, or --diff with changes to make
	ExitBadInput = 2 // the user asked for something mcpgen cannot do
)

// Run executes mcpgen with args (without the program name) and returns
// the process exit code.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return ExitOK
	}
	var exit *exitError
	if errors.As(err, &exit) {
		return exit.code
	}
	fmt.Fprintf(stderr, "mcpgen: %v\n", err)
	var in *generator.InputError
	var failed *runFailure
	switch {
	case errors.As(err, &in):
		return ExitBadInput
	case errors.As(err, &failed):
		return ExitFailure
	}
	// An unknown command, flag or argument: the help of the command that
	// refused it says what it takes.
	fmt.Fprintf(stderr, "  fix: see `%s --help`\n", cmd.CommandPath())
	return ExitBadInput
}

// runFailure is an error met while doing the work, as opposed to a
// problem with what was asked.
type runFailure struct{ err error }

func (e *runFailure) Error() string { return e.err.Error() }
func (e *runFailure) Unwrap() error { return e.err }

// failed marks err as a failure of the work unless it is an InputError.
func failed(err error) error {
	var in *generator.InputError
	var exit *exitError
	if err == nil || errors.As(err, &in) || errors.As(err, &exit) {
		return err
	}
	return &runFailure{err}
}

// exitError ends a run with a code after its message was already printed.
type exitError struct{ code int }

func (e *exitError) Error() string { return "exit " + strconv.Itoa(e.code) }

// usageError is an argument or flag error.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "mcpgen",
		Short: "Scaffold per-user MCP OAuth connections into a Go web app",
		Long: `mcpgen writes the code a Go web application needs so that each of its users
can connect their own account on a remote MCP server through OAuth 2.1 in the
browser, and so that background jobs can later call that server's tools with
the user's stored, encrypted, auto-refreshed token.`,
		Version:       version(),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(flagError)
	// --version prints what mcpgen version does. Declared here, it has no
	// -v, which dev-server's --verbose has.
	root.Flags().Bool("version", false, "print the mcpgen version")
	root.SetVersionTemplate("{{.Version}}\n")
	root.AddCommand(newOAuthCmd(), newVersionCmd(), newDevServerCmd())
	// Cobra adds its completion command when it executes; added now, it
	// refuses unknown shells like the other commands' unknown subcommands.
	root.InitDefaultCompletionCmd()
	requireSubcommands(root)
	return root
}

// version is the version line of mcpgen: its version and the Go it was
// built with.
func version() string {
	v := "mcpgen v" + generator.Version
	if bi, ok := debug.ReadBuildInfo(); ok {
		v += " (" + bi.GoVersion + ")"
	}
	return v
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the mcpgen version",
		Example: `  mcpgen version
  mcpgen --version`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), version())
			return nil
		},
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return &usageError{fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args)}
	}
	return nil
}

// clock returns the time that stamps new migrations: --clock, else
// SOURCE_DATE_EPOCH, else now (the zero time).
func clock(flag string) (time.Time, error) {
	v := flag
	if v == "" {
		v = os.Getenv("SOURCE_DATE_EPOCH")
	}
	if v == "" {
		return time.Time{}, nil
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(secs, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, &generator.InputError{
			Problem: fmt.Sprintf("clock %q is neither Unix seconds nor RFC 3339", v),
			Fix:     "use e.g. 1767225600 or 2026-01-01T00:00:00Z",
		}
	}
	return t.UTC(), nil
}
