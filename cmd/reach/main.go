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

	"golang.org/x/term"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ios := &IOStreams{Out: os.Stdout, ErrOut: os.Stderr, IsTerminal: isTerminal(os.Stderr)}
	code := execute(ctx, ios, defaultDeps(), os.Args[1:])
	stop()
	os.Exit(code)
}

// execute runs one command line and returns the process exit code; it
// prints the error, if any, once.
func execute(ctx context.Context, ios *IOStreams, d *deps, args []string) int {
	cmd := newRootCmd(ios, d)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	if code == exitInterrupted || (ctx.Err() != nil && errors.Is(err, context.Canceled)) {
		fmt.Fprintln(ios.ErrOut, "reach: interrupted")
		return exitInterrupted
	}
	if !errors.Is(err, errSilent) {
		fmt.Fprintf(ios.ErrOut, "reach: %v\n", err)
		if code == exitUsage {
			fmt.Fprintln(ios.ErrOut, "Run 'reach --help' for usage.")
		}
	}
	return code
}

// isTerminal reports whether f is a terminal (not merely a character
// device such as /dev/null), so the spinner and carriage returns only go
// where a person watches.
func isTerminal(f *os.File) bool {
	return term.IsTerminal(int(f.Fd()))
}
