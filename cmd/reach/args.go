package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/reach-net/reach/upnp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// parseTarget checks a HOST:PORT argument: a host (name or address) and a
// port from 1 to 65535. IPv6 literals go in brackets: [2001:db8::1]:1234.
func parseTarget(arg string) (string, error) {
	host, port, err := net.SplitHostPort(arg)
	if err != nil {
		return "", usageErrorf("%q is not HOST:PORT (for example 203.0.113.7:1234): %v", arg, stripAddrPrefix(err))
	}
	if host == "" {
		return "", usageErrorf("%q has no host: give the server's address, for example 203.0.113.7:%s", arg, port)
	}
	if _, err := parsePort("port in "+arg, port); err != nil {
		return "", err
	}
	return net.JoinHostPort(host, port), nil
}

func stripAddrPrefix(err error) string {
	var ae *net.AddrError
	if errors.As(err, &ae) {
		return ae.Err
	}
	return err.Error()
}

// parsePort reads a port number from 1 to 65535.
func parsePort(what, s string) (uint16, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, usageErrorf("%s must be a number from 1 to 65535, got %q", what, s)
	}
	return uint16(n), nil
}

// checkPort validates a --port style flag value.
func checkPort(flag string, n int) error {
	if n == 0 && flag == "port" {
		return usageErrorf("--port is missing or 0: give the port your program listens on, from 1 to 65535, for example `--port 1234`")
	}
	if n < 1 || n > 65535 {
		return usageErrorf("--%s must be from 1 to 65535, got %d", flag, n)
	}
	return nil
}

// checkPortPair validates --port, the other port of the mapping (zero
// means the same as --port) and --proto.
func checkPortPair(port int, otherFlag string, other *int, proto string) error {
	if err := checkPort("port", port); err != nil {
		return err
	}
	if *other == 0 {
		*other = port
	}
	if err := checkPort(otherFlag, *other); err != nil {
		return err
	}
	_, err := parseProto(proto)
	return err
}

// parseProto reads --proto.
func parseProto(s string) (upnp.Protocol, error) {
	switch strings.ToLower(s) {
	case "tcp":
		return upnp.TCP, nil
	case "udp":
		return upnp.UDP, nil
	}
	return "", usageErrorf("--proto must be tcp or udp, got %q", s)
}

// parseGateway reads --gateway (empty: the default gateway).
func parseGateway(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() || a.IsUnspecified() {
		return netip.Addr{}, usageErrorf("--gateway must be the router's IPv4 address, for example 192.168.1.1, got %q", s)
	}
	prefixes, err := localPrefixes()
	if err != nil || len(prefixes) == 0 || a.IsLoopback() {
		return a, nil // cannot tell, or a fake router on loopback
	}
	var mine []string
	for _, p := range prefixes {
		if !p.Addr().Is4() || p.Addr().IsLoopback() {
			continue
		}
		if p.Addr() == a {
			return netip.Addr{}, usageErrorf("--gateway %s is this host's own address, not the router's", a)
		}
		if p.Contains(a) {
			return a, nil
		}
		mine = append(mine, p.String())
	}
	have := "no IPv4 subnet"
	if len(mine) > 0 {
		have = strings.Join(mine, ", ")
	}
	return netip.Addr{}, usageErrorf("--gateway %s is not on a local subnet (this host has %s): "+
		"the router must be on this host's own link", a, have)
}

// localPrefixes lists this host's interface addresses with their subnets;
// tests replace it.
var localPrefixes = func() ([]netip.Prefix, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var ps []netip.Prefix
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if p, err := netip.ParsePrefix(n.String()); err == nil {
				ps = append(ps, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()))
			}
		}
	}
	return ps, nil
}

// parseMethod reads --method: auto, upnp, pcp or nat-pmp.
func parseMethod(s string) (string, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return "auto", nil
	case "upnp", "upnp-igd", "igd":
		return "upnp", nil
	case "pcp":
		return "pcp", nil
	case "nat-pmp", "natpmp", "pmp":
		return "nat-pmp", nil
	}
	return "", usageErrorf("--method must be auto, upnp, pcp or nat-pmp, got %q", s)
}

func quotePreview(p []byte, limit int) string {
	if len(p) > limit {
		return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(string(p[:limit])), len(p))
	}
	return strconv.Quote(string(p))
}

// wrapArgs turns cobra's argument-count errors into usage errors (exit 2)
// that say what the command takes: "did you mean `--port 1234`?" for
// `reach expose 1234`.
func wrapArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	if check == nil {
		return nil
	}
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return withCode(exitUsage, explainArgs(cmd, args, check))
		}
		return nil
	}
}

// explainArgs is the usage error for arguments check refused.
func explainArgs(cmd *cobra.Command, args []string, check cobra.PositionalArgs) error {
	path := cmd.Name()
	if check(cmd, nil) == nil && check(cmd, []string{"x"}) != nil { // takes none
		port := cmd.Flags().Lookup("port")
		if n, err := strconv.Atoi(args[0]); err == nil && n > 0 && n < 65536 && port != nil && !port.Changed {
			return fmt.Errorf("%s takes no arguments: did you mean `--port %s`?", path, args[0])
		}
		return fmt.Errorf("%s takes no arguments, got %q", path, strings.Join(args, " "))
	}
	want := strings.TrimSpace(strings.TrimPrefix(cmd.Use, cmd.Name()))
	msg := fmt.Sprintf("%s takes %s, got %d argument(s)", path, want, len(args))
	if ex := firstExample(cmd); ex != "" {
		msg += ": for example `" + ex + "`"
	}
	return errors.New(msg)
}

// firstExample is the first command of cmd's examples.
func firstExample(cmd *cobra.Command) string {
	for _, l := range strings.Split(cmd.Example, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			return l
		}
	}
	return ""
}

// explainFlagError turns pflag's errors into sentences: "--port must be a
// port number from 1 to 65535, got "abc"", not strconv's text.
func explainFlagError(err error) error {
	var rep *repeatedFlagError
	if errors.As(err, &rep) {
		return rep
	}
	var iv *pflag.InvalidValueError
	if !errors.As(err, &iv) {
		return err
	}
	f := iv.GetFlag()
	var want string
	switch t := f.Value.Type(); {
	case isPortFlag(f.Name) && strings.Contains(t, "int"):
		want = "must be a port number from 1 to 65535"
	case strings.Contains(t, "int"):
		want = "must be a whole number"
	case t == "duration":
		want = "must be a duration such as 500ms, 30s, 5m or 1h"
	case t == "bool":
		want = "is true or false"
	default:
		return fmt.Errorf("--%s: invalid value %q: %v", f.Name, iv.GetValue(), errors.Unwrap(err))
	}
	return fmt.Errorf("--%s %s, got %q", f.Name, want, iv.GetValue())
}

// isPortFlag reports whether a flag names a port: --port, --external-port,
// --internal-port.
func isPortFlag(name string) bool { return name == "port" || strings.HasSuffix(name, "-port") }

// onceFlags makes a port flag given twice an error: pflag keeps the last
// value, so `--port 1234 --port 1235` would silently serve only 1235.
func onceFlags(cmd *cobra.Command) {
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if isPortFlag(f.Name) {
			f.Value = &onceValue{Value: f.Value, name: f.Name}
		}
	})
}

// onceValue is a flag value that may be set only once.
type onceValue struct {
	pflag.Value
	name  string
	first string // the value given first; empty until set
	set   bool
}

func (v *onceValue) Set(s string) error {
	if v.set {
		return &repeatedFlagError{Flag: v.name, First: v.first, Again: s}
	}
	v.set, v.first = true, s
	return v.Value.Set(s)
}

// repeatedFlagError is a flag given more than once.
type repeatedFlagError struct{ Flag, First, Again string }

func (e *repeatedFlagError) Error() string {
	return fmt.Sprintf("--%s given twice (%s, then %s): give it once", e.Flag, e.First, e.Again)
}

// flagChoices are the values that completion offers for a flag, by name;
// a command whose flag help names only some of them (serve's --proto has
// no "both", say) gets those.
var flagChoices = map[string][]string{
	"proto":  {"tcp", "udp", "both"},
	"method": {"auto", "upnp", "pcp", "nat-pmp"},
	"ipv6":   {"auto", "off", "only"},
	"stun":   {"off"},
}

// completeFlagValues registers shell completion of the values of the
// flags in flagChoices that cmd has, and of nothing (not file names) for
// its other flags that take a value.
func completeFlagValues(cmd *cobra.Command) {
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.NoOptDefVal != "" { // a bool: takes no value
			return
		}
		if _, ok := cmd.GetFlagCompletionFunc(f.Name); ok {
			return // its own file registered one
		}
		choices := namedChoices(f)
		cmd.RegisterFlagCompletionFunc(f.Name, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return choices, cobra.ShellCompDirectiveNoFileComp
		})
	})
}

// namedChoices is the part of flagChoices[f.Name] that f's help names, or
// all of it when the help names none.
func namedChoices(f *pflag.Flag) []string {
	all := flagChoices[f.Name]
	var named []string
	for _, c := range all {
		if regexp.MustCompile(`\b` + regexp.QuoteMeta(c) + `\b`).MatchString(f.Usage) {
			named = append(named, c)
		}
	}
	if len(named) == 0 {
		return all
	}
	return named
}
