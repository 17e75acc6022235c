// Command reach answers "can the internet reach my program, and if not, why
// not?": it maps a port through the home router, proves reachability with a
// framed round trip, checks from outside and explains the NAT setup.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP) // SIGHUP: a closed terminal or a dropped SSH session
	ios := newIOStreams(os.Stdout, os.Stderr, os.Getenv)
	code := execute(ctx, ios, defaultDeps(), os.Args[1:])
	stop()
	os.Exit(code)
}

// execute runs one command line and returns the process exit code; it
// prints the error, if any, once.
func execute(ctx context.Context, ios *IOStreams, d *deps, args []string) int {
	root := newRootCmd(ios, d)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	ios.stopSpinner()
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	if code == exitInterrupted || (ctx.Err() != nil && errors.Is(err, context.Canceled)) {
		code, err = exitInterrupted, errInterrupted
	}
	if wantsJSON(args) && (code == exitInterrupted || !errors.Is(err, errSilent)) {
		ios.writeJSON(jsonError{Error: err.Error(), Exit: code})
	}
	switch {
	case code == exitInterrupted:
		fmt.Fprintln(ios.ErrOut, "reach: interrupted")
	case !errors.Is(err, errSilent):
		fmt.Fprintf(ios.ErrOut, "reach: %v\n", err)
		if code == exitUsage {
			fmt.Fprintf(ios.ErrOut, "Run `%s --help` for usage.\n", helpPath(root, cmd))
		}
	}
	return code
}

// helpPath is the command whose --help explains a usage error: the one
// that failed, or the root when the command line named none.
func helpPath(root, cmd *cobra.Command) string {
	if cmd == nil {
		return root.CommandPath()
	}
	return cmd.CommandPath()
}

// errInterrupted is what a command cut short by Ctrl-C reports: no verdict.
var errInterrupted = errors.New("interrupted")

// jsonError is a failure with --json: {"error": "...", "exit": N}.
type jsonError struct {
	Error string `json:"error"`
	Exit  int    `json:"exit"`
}

// wantsJSON reports whether the command line asks for --json, so that a
// failure before the command ran (a usage error) is JSON too.
func wantsJSON(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "--json" || a == "--json=true" {
			return true
		}
	}
	return false
}

// isTerminal reports whether f is a terminal (not merely a character
// device such as /dev/null), so the spinner and carriage returns only go
// where a person watches.
func isTerminal(f *os.File) bool {
	return term.IsTerminal(int(f.Fd()))
}
