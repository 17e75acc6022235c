package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/reach-net/reach/frame"
	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
	"github.com/spf13/cobra"
)

type checkOptions struct {
	Target   string
	Count    int
	Timeout  time.Duration
	MaxFrame int
	JSON     bool
	Proto    string
	Via      []string

	via []probe.TURNServer
}

func newCheckCmd(ios *IOStreams, d *deps) *cobra.Command {
	o := &checkOptions{}
	cmd := &cobra.Command{
		Use:   "check HOST:PORT",
		Short: "From outside your network: is the server really reachable?",
		Long: `Dial HOST:PORT, send a reach probe frame and wait for its echo.
Run it from outside the network (a phone's hotspot, a rented server, a
friend's machine): from inside, most routers do not loop back.

Verdicts and exit codes:
  verified     0  a reach server echoed the probe: reachable, RTT printed
  open         3  TCP connected but no echo: another program listens
                  (a server built from the tutorial only receives)
  refused      1  nothing listens, or the router is not forwarding the port
  timeout      1  no answer: a firewall drops it or the port is not forwarded
  unreachable  1  the network says the host cannot be reached
  reset        1  connected, then reset by the peer or a middlebox

With --json it prints one object:
  {"target", "verdict", "rtt_ms", "detail", ...}
rtt_ms is the first probe's round trip in milliseconds (null when no echo
came); --count N adds rtt_min_ms, rtt_avg_ms and rtt_max_ms over the N
probes, sent one after another on one connection.`,
		Example: `  reach check 203.0.113.7:1234
  reach check --count 5 myhome.example.net:1234
  reach check --json 203.0.113.7:1234`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := parseTarget(args[0])
			if err != nil {
				return err
			}
			o.Target = t
			if o.Count < 1 || o.Count > 1000 {
				return usageErrorf("--count must be from 1 to 1000, got %d", o.Count)
			}
			if o.Timeout <= 0 {
				return usageErrorf("--timeout must be positive, got %s", o.Timeout)
			}
			return runCheck(cmd.Context(), ios, d, o)
		},
	}
	cmd.Flags().IntVarP(&o.Count, "count", "c", 1, "probes to send on one connection")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 5*time.Second, "give up after this long")
	cmd.Flags().IntVar(&o.MaxFrame, "max-frame", frame.DefaultMaxFrame, "largest reply accepted, in bytes")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the result as one JSON object on stdout")
	cmd.Flags().StringVar(&o.Proto, "proto", "tcp", "tcp, or udp: one probe datagram, resent 3 times 250 ms apart")
	addViaFlag(cmd, &o.Via)
	return cmd
}

// checkJSON is the stable JSON of check (CLI.md).
type checkJSON struct {
	Target   string        `json:"target"`
	Verdict  probe.Verdict `json:"verdict"`
	RTTMs    *float64      `json:"rtt_ms"`
	RTTMinMs *float64      `json:"rtt_min_ms,omitempty"`
	RTTAvgMs *float64      `json:"rtt_avg_ms,omitempty"`
	RTTMaxMs *float64      `json:"rtt_max_ms,omitempty"`
	Detail   string        `json:"detail"`
	Peer     string        `json:"peer,omitempty"`
	Cause    string        `json:"cause,omitempty"`
	Next     string        `json:"next,omitempty"`
	Scope    string        `json:"scope,omitempty"`
	Note     string        `json:"note,omitempty"`
}

// scopeNote says what a check of a loopback or LAN address does not prove.
func scopeNote(scope string, verified bool) string {
	var what string
	switch scope {
	case probe.ScopeLoopback:
		what = "this is this host's own loopback address"
		if verified {
			return what + ": it proves the server runs, nothing about the internet; run the check from outside against the public address"
		}
	case probe.ScopeLAN:
		what = "this is a private (LAN) address"
		if verified {
			return what + ": it proves the server answers on your network, nothing about the internet; run the check from outside against the public address"
		}
	default:
		return ""
	}
	return what + ": what it says is about this network, not the internet; run the check from outside against the public address"
}

func ms(d time.Duration) *float64 {
	v := float64(d.Microseconds()) / 1000
	return &v
}

func runCheck(ctx context.Context, ios *IOStreams, d *deps, o *checkOptions) error {
	proto, err := parseProto(o.Proto)
	if err != nil {
		return err
	}
	if o.via, err = viaServers(o.Via); err != nil {
		return err
	}
	st := newSteps(ios, o.JSON)
	st.start("probing " + o.Target)
	var res probe.CheckResult
	switch {
	case len(o.via) > 0:
		res, err = checkVia(ctx, d, o, proto)
		if err != nil {
			st.finishSpinner()
			return err
		}
	case proto == upnp.UDP:
		res = d.CheckUDP(ctx, o.Target, probe.CheckConfig{Count: o.Count, Timeout: o.Timeout, MaxFrame: o.MaxFrame})
	default:
		res = d.Check(ctx, o.Target, probe.CheckConfig{Count: o.Count, Timeout: o.Timeout, MaxFrame: o.MaxFrame})
	}
	st.finishSpinner()
	if ctx.Err() != nil {
		return withCode(exitInterrupted, ctx.Err())
	}
	code := checkExit(res.Verdict)
	if o.JSON {
		out := checkJSON{Target: res.Target, Verdict: res.Verdict, Detail: res.Detail, Peer: res.Peer, Cause: res.Cause, Next: res.Next,
			Scope: res.Scope, Note: scopeNote(res.Scope, res.Verdict == probe.Verified)}
		if len(res.RTTs) > 0 {
			out.RTTMs = ms(res.RTTs[0])
			if o.Count > 1 {
				out.RTTMinMs, out.RTTAvgMs, out.RTTMaxMs = ms(res.Min()), ms(res.Avg()), ms(res.Max())
			}
		}
		ios.writeJSON(out)
	} else {
		renderCheck(ios, res, code)
	}
	if code == exitOK {
		return nil
	}
	return withCode(code, errSilent)
}

// renderCheck prints a check's result for a person, each fact once: the
// verdict line with its evidence on stdout, then what it means and what to
// do on stderr.
func renderCheck(ios *IOStreams, res probe.CheckResult, code int) {
	mark := markFail
	switch code {
	case exitOK:
		mark = markOK
	case exitPartial:
		mark = markWarn
	}
	if res.Verdict == probe.Verified {
		rtt := fmt.Sprintf("rtt %s", probe.Round(res.RTTs[0]))
		if len(res.RTTs) > 1 {
			rtt = fmt.Sprintf("rtt min/avg/max %s/%s/%s over %d probes", probe.Round(res.Min()), probe.Round(res.Avg()), probe.Round(res.Max()), len(res.RTTs))
		}
		ios.verdict(mark, "verified: %s answers as a reach server (%s)", res.Target, rtt)
	} else {
		ios.verdict(mark, "%s: %s: %s", res.Verdict, res.Target, shortDetail(res.Detail, ios.Verbose))
	}
	if n := scopeNote(res.Scope, res.Verdict == probe.Verified); n != "" {
		ios.printf("  note: %s\n", ios.wrap(n, 8, 4))
	}
	if res.Cause != "" {
		ios.printf("  likely cause: %s\n", ios.wrap(res.Cause, 16, 4))
	}
	if res.Next != "" {
		ios.printf("  next: %s\n", ios.wrap(res.Next, 8, 4))
	}
}

// shortDetail drops the dial's own words from a failure's evidence
// ("dial tcp 203.0.113.7:1234: connect: connection refused" is "connection
// refused": the target is on the line already); --verbose keeps them.
func shortDetail(detail string, verbose bool) string {
	if verbose || !strings.HasPrefix(detail, "dial ") {
		return detail
	}
	if i := strings.LastIndex(detail, ": "); i >= 0 {
		return detail[i+2:]
	}
	return detail
}

func checkExit(v probe.Verdict) int {
	switch v {
	case probe.Verified:
		return exitOK
	case probe.Open:
		return exitPartial
	}
	return exitNo
}

// checkVia runs the check from the first TURN relay that can: the relay
// sits outside the user's network, so this is an outside check from
// inside. A relay that fails on its own side hands over to the next.
func checkVia(ctx context.Context, d *deps, o *checkOptions, proto upnp.Protocol) (probe.CheckResult, error) {
	host, port, _ := net.SplitHostPort(o.Target)
	ip, err := netip.ParseAddr(host)
	if err != nil {
		addrs, lerr := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if lerr != nil || len(addrs) == 0 {
			return probe.CheckResult{}, usageErrorf("--via needs the target's address: %q does not resolve", host)
		}
		ip = viaTargetAddr(addrs)
	}
	p, _ := strconv.ParseUint(port, 10, 16)
	target := netip.AddrPortFrom(ip.Unmap(), uint16(p))
	var res probe.CheckResult
	for _, srv := range o.via {
		v := d.CheckVia(ctx, srv, target, string(proto), probe.ViaConfig{Timeout: o.Timeout, MaxFrame: o.MaxFrame})
		res = probe.CheckResult{Target: o.Target, Verdict: v.Verdict, Detail: fmt.Sprintf("from the TURN relay %s: %s", srv.Addr(), v.Detail),
			Cause: v.Cause, Peer: v.Peer, Scope: probe.ScopeOf(ip)}
		if v.Verified() {
			res.RTTs = []time.Duration{v.RTT}
			return res, nil
		}
		if v.Verdict != "" {
			res.Next = viaHint(v)
			return res, nil
		}
		res.Next = viaHint(v)
	}
	// Every relay failed on its own side: that says nothing about the
	// target, so there is no verdict, only what went wrong.
	return probe.CheckResult{}, fmt.Errorf("no verdict on %s: %s; %s", o.Target, res.Detail, res.Next)
}

// viaTargetAddr picks the address of a target's name that the relay
// probes: the first IPv4 one (most relays relay IPv4 only), else the
// first, IPv6.
func viaTargetAddr(addrs []netip.Addr) netip.Addr {
	for _, a := range addrs {
		if a.Unmap().Is4() {
			return a.Unmap()
		}
	}
	return addrs[0]
}

// viaHint is what to do after a relay's failure.
func viaHint(v probe.ViaResult) string {
	switch v.Failure {
	case "turn-unreachable":
		return "check the relay's address and port, and that this network lets you reach it"
	case "turn-auth":
		return "check the user and password in --via (TURN long-term credentials)"
	case "peer-forbidden":
		return "the relay's policy does not allow this peer address: use another relay"
	case "relay-family-unsupported":
		return "use a TURN relay that relays to this address family (for IPv6: RFC 6156), or run reach check from outside"
	case "tcp-relay-unsupported":
		return "this relay relays UDP only: check a UDP port with --proto udp, or use a relay that allows TCP (RFC 6062)"
	case "peer-refused":
		return "nothing answers on that port from outside: forward it (reach expose maps it) and check that the program runs"
	case "peer-timeout":
		return "a firewall drops it or the port is not forwarded: check the router's forward and this host's firewall"
	case "no-echo":
		if v.Verdict != probe.Open {
			// UDP: silence, which a program that only receives also gives.
			return "nothing came back, which proves nothing for UDP: run `reach serve --proto udp` (or `reach expose --proto udp`) on the host to prove the path; if that stays silent too, check the router's UDP forward and this host's firewall"
		}
		return "something answers, but not a reach server: run reach expose or reach serve on the host to prove the path"
	}
	return ""
}
