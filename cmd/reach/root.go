package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes of CLI.md: the same for every command.
const (
	exitOK          = 0
	exitNo          = 1 // the network said no: not reachable, no mapping possible
	exitUsage       = 2
	exitPartial     = 3 // open but unverified, no echo
	exitInterrupted = 130
)

// exitError carries the exit code a failure should end the process with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// errSilent ends a command with a non-zero code after it has already told the
// user everything (the verdict and the next step): main prints nothing more.
var errSilent = errors.New("reported")

func withCode(code int, err error) error { return &exitError{code: code, err: err} }

// usageErrorf is a bad flag or argument: exit 2.
func usageErrorf(format string, args ...any) error {
	return withCode(exitUsage, fmt.Errorf(format, args...))
}

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitNo
}

func newRootCmd(ios *IOStreams, d *deps) *cobra.Command {
	root := &cobra.Command{
		Use:   "reach",
		Short: "Can the internet reach my program? Map, prove and explain.",
		Long: `reach answers the question every person hosting a server at home asks:
can the internet reach my program, and if not, why not?

It finds your router, forwards a port through it (UPnP IGD, NAT-PMP or PCP)
and opens an IPv6 pinhole, proves with a framed round trip that your program
answers, TCP and UDP (through the router, or with --via from a TURN relay
outside your network), and explains what stands in the way (double NAT,
carrier-grade NAT, no UPnP, a router that does not loop back, a host
firewall). Nothing it opens is left behind: a ledger in your state directory
lets the next run remove what a killed one left.

The framed protocol is the one of the classic async-socket tutorial: a
little-endian uint32 length, then the payload. reach serve is its echo server,
reach send its client.`,
		Example: `  # Forward port 1234, prove it, host an echo server until Ctrl-C
  reach expose --port 1234

  # From outside your network: is it really reachable?
  reach check 203.0.113.7:1234

  # Proved from outside, from home, through a TURN relay you have an account on
  reach expose --port 1234 --via turn:USER:PASS@turn.example.net:3478

  # Why can't anyone connect? Double NAT, CGNAT, no UPnP...
  reach diagnose`,
		Version:       currentVersion().String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().BoolVarP(&ios.Verbose, "verbose", "v", false, "show the raw error behind each failed step")
	root.SetOut(ios.Out)
	root.SetErr(ios.ErrOut)
	root.SetVersionTemplate("reach version {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return withCode(exitUsage, explainFlagError(err))
	})
	root.AddCommand(
		newExposeCmd(ios, d),
		newCheckCmd(ios, d),
		newDiagnoseCmd(ios, d),
		newMapCmd(ios, d),
		newUnmapCmd(ios, d),
		newMappingsCmd(ios, d),
		newServeCmd(ios, d),
		newSendCmd(ios, d),
		newVersionCmd(ios),
	)
	root.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			return usageErrorf("unknown command %q: did you mean `reach %s`?", args[0], s[0])
		}
		return usageErrorf("unknown command %q", args[0])
	}
	root.SuggestionsMinimumDistance = 2
	root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	// The commands' flags are defined in their own files; the habits every
	// command shares are added here, once the tree is complete.
	for _, c := range root.Commands() {
		c.Args = wrapArgs(c.Args)
		onceFlags(c)
		completeFlagValues(c)
	}
	return root
}
