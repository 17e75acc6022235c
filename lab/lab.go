// Package lab builds a home network inside Linux network namespaces for
// end-to-end tests: two LAN hosts on the router's switch, a router running
// the real miniupnpd (UPnP IGD, NAT-PMP, PCP) over nftables NAT, optionally a
// second NAT in front of it (double NAT, carrier-grade NAT), and an internet
// host running coturn as a STUN and TURN server.
//
// Options vary the setup a user may be in:
//
//   - Topology chooses what stands between the PC and the internet: the
//     router alone (Public), a modem's NAT (DoubleNAT) or a carrier's NAT
//     (CGNAT) in front of it, or no NAT at all (PublicHost: a cloud VM
//     whose own interface holds a public address, behind a provider
//     gateway that only routes and answers no SSDP, NAT-PMP or PCP).
//   - UPnP, NATPMP and IGDv1 choose miniupnpd's services; NoService runs
//     none, a router without port mapping.
//   - Forwards are port forwards set by hand on the router (how a tutorial
//     tells a user to do it with UPnP off): DNAT rules in its nftables.
//   - Loopback makes the router hairpin, for its UPnP and NAT-PMP mappings
//     and its manual forwards alike.
//   - NoSTUN runs no STUN server: the internet host sends no STUN answer
//     (a CGNAT, say, where STUN gets none) but still ends a hop probe. It
//     runs no TURN relay either (one coturn answers both).
//   - TURNUDPOnly makes the TURN relay (TURNServer) relay UDP only, as
//     many public ones do: a TCP allocation gets 442.
//   - IPv6 adds native IPv6 (PCAddr6 behind RouterLAN6, InetAddr6 on the
//     internet): inbound IPv6 is dropped by the router's firewall until a
//     pinhole (UPnP IGDv2 or PCP) opens it; no NAT66.
//
// The PC's address, its gateway and the public address depend on the
// topology: tests read them from PCAddr, Gateway, PublicIP and RouterWAN
// rather than from the constants, which hold for the NAT topologies only.
//
// No namespace is linked to the root namespace, so no packet of a test can
// leave the machine. Every lab is torn down on Close (or test cleanup); labs
// left over by a killed test run are removed by CleanupStale, which New calls.
//
// The lab needs root and the Debian packages miniupnpd-nftables, miniupnpc,
// natpmpc, nftables, coturn and iproute2; see Require. .ci/setup installs
// them (with their services forbidden to start outside the lab).
//
// A test uses it like this:
//
//	l := lab.New(t, lab.Options{UPnP: true, Loopback: true})
//	out, _, code, err := l.Run(ctx, lab.PC, "upnpc", "-u", lab.RootDescURL, "-l")
//	cmd := l.Command(ctx, lab.Inet, "reach", "check", "11.0.0.2:1234")
//
// A router with UPnP off and the port forwarded by hand, reached through
// its WAN address:
//
//	l := lab.New(t, lab.Options{NoService: true,
//		Forwards: []lab.Forward{{Proto: "tcp", ExternalPort: 1234}}})
//	cmd := l.Command(ctx, lab.Inet, "reach", "check", l.RouterWAN()+":1234")
//
// The one-command outside check: from the PC, behind a router that does
// not loop back, the TURN relay on the internet host connects to the
// router's WAN address:
//
//	srv, _ := probe.ParseTURN(lab.TURNServer)
//	res := probe.CheckVia(ctx, srv, netip.MustParseAddrPort(l.RouterWAN()+":1234"), "tcp", probe.ViaConfig{})
//
// (run inside the PC's namespace: see Command).
//
// A cloud VM, reached at its own address; and a carrier NAT with no STUN
// answer:
//
//	l := lab.New(t, lab.Options{Topology: lab.PublicHost})
//	cmd := l.Command(ctx, lab.Inet, "reach", "check", l.PCAddr()+":1234")
//	l := lab.New(t, lab.Options{Topology: lab.CGNAT, NATPMP: true, NoSTUN: true})
//
// On failure the test's log gets the router's log, lease file, rulesets and
// the STUN server's log (Logs).
package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Hosts of a lab, as passed to Run and Command.
const (
	PC     = "pc"     // the user's machine, 192.168.1.10 (PublicHost: 11.0.1.10)
	Dev2   = "dev2"   // another LAN device, 192.168.1.20 (PublicHost: 11.0.1.20)
	Router = "router" // the home router, 192.168.1.1, runs miniupnpd (PublicHost: the provider's gateway 11.0.1.1)
	Modem  = "modem"  // DoubleNAT only: the ISP modem in front of the router
	ISP    = "isp"    // CGNAT only: the carrier NAT in front of the router
	Inet   = "inet"   // a host on the internet, 11.0.0.1, runs the STUN and TURN server
)

// Addresses inside every lab. PCAddr, Dev2Addr, RouterLAN and RootDescURL
// hold behind a home router (every topology but PublicHost); the PCAddr,
// Dev2Addr and Gateway methods hold in every lab.
const (
	PCAddr     = "192.168.1.10"
	Dev2Addr   = "192.168.1.20"
	RouterLAN  = "192.168.1.1"
	InetAddr   = "11.0.0.1"
	STUNServer = "11.0.0.1:3478"
	// TURNServer is the internet host's coturn as a TURN relay, in the
	// form reach's --via takes: the same server and port as STUNServer,
	// with long-term credentials. It relays from InetAddr to the lab's
	// internet (11.0.0.0/24 and 11.0.1.0/24) only, and in labs with IPv6
	// also from 2001:db8:fe::1 to the lab's IPv6 prefixes only.
	TURNServer   = "turn:" + TURNUser + ":" + TURNPassword + "@" + STUNServer
	TURNUser     = "reach"
	TURNPassword = "secret"
	TURNRealm    = "lab"
	UPnPHTTPPort = 5000 // miniupnpd's fixed http_port
	// RootDescURL is miniupnpd's device description, for `upnpc -u`.
	RootDescURL = "http://192.168.1.1:5000/rootDesc.xml"
)

// Lab is one running home network. Its methods are safe for concurrent use.
type Lab struct {
	opts   Options
	prefix string // namespace name prefix, unique per process and lab
	dir    string // config, pid, lease and log files

	mu      sync.Mutex
	daemons []*daemon
	hosts   []string // namespaces created, in order
	closed  bool
}

// labSeq numbers the labs of this process.
var labSeq atomic.Int64

// New starts a lab for t and tears it down when t ends, printing the
// router's and STUN server's logs and rulesets first if t failed. It calls
// Require and CleanupStale first, and fails t if the lab cannot start.
func New(t testing.TB, opts Options) *Lab {
	t.Helper()
	Require(t)
	if err := CleanupStale(); err != nil {
		t.Logf("lab: removing stale labs: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	l, err := Start(ctx, opts)
	if err != nil {
		if l != nil {
			t.Log(l.Logs())
			l.Close()
		}
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log("lab state at failure:\n" + l.Logs())
		}
		if err := l.Close(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return l
}

// startTimeout bounds building a lab: ~40 quick `ip`/`nft` commands and
// two daemons that are ready in well under a second on an idle machine; a
// loaded 2-core CI runner with several labs in parallel needs more.
const startTimeout = 30 * time.Second

// Start builds and starts a lab. On error it returns the partly built lab
// (for Logs) when there is one; the caller must Close it.
func Start(ctx context.Context, opts Options) (*Lab, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.Topology == PublicHost {
		opts.NoService = true
	}
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", tempDirPrefix, os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("lab: temp dir: %w", err)
	}
	l := &Lab{
		opts:   opts,
		prefix: fmt.Sprintf("%s%dn%d-", stalePrefix, os.Getpid(), labSeq.Add(1)),
		dir:    dir,
	}
	if err := l.build(ctx); err != nil {
		return l, err
	}
	if err := l.startDaemons(ctx); err != nil {
		return l, err
	}
	return l, nil
}

// Options returns the options the lab was built with, NoService set when
// PublicHost implied it.
func (l *Lab) Options() Options { return l.opts }

// Dir is the lab's temporary directory (configs, logs, lease file).
func (l *Lab) Dir() string { return l.dir }

// Namespace returns the network namespace name of host.
func (l *Lab) Namespace(host string) string { return l.prefix + host }

// PCAddr is the PC's address: PCAddr behind a home router, its public
// address 11.0.1.10 with PublicHost.
func (l *Lab) PCAddr() string {
	if l.opts.Topology == PublicHost {
		return publicHostPC
	}
	return PCAddr
}

// Dev2Addr is the other device's address: Dev2Addr behind a home router,
// 11.0.1.20 with PublicHost.
func (l *Lab) Dev2Addr() string {
	if l.opts.Topology == PublicHost {
		return publicHostDev2
	}
	return Dev2Addr
}

// Gateway is the PC's default gateway: the home router's RouterLAN, or the
// provider's router 11.0.1.1 with PublicHost.
func (l *Lab) Gateway() string {
	if l.opts.Topology == PublicHost {
		return publicHostGateway
	}
	return RouterLAN
}

// PublicIP is the address the internet sees the PC's traffic from: the
// router's WAN when Public, the outer NAT's behind DoubleNAT or CGNAT, the
// PC's own with PublicHost.
func (l *Lab) PublicIP() string {
	switch l.opts.Topology {
	case DoubleNAT:
		return "11.0.0.3"
	case CGNAT:
		return "11.0.0.4"
	case PublicHost:
		return publicHostPC
	}
	return "11.0.0.2"
}

// RouterWAN is the router's own WAN address (what UPnP reports, where
// Forwards listen); with PublicHost, the provider router's uplink.
func (l *Lab) RouterWAN() string {
	switch l.opts.Topology {
	case DoubleNAT:
		return "192.168.0.2"
	case CGNAT:
		return "100.64.0.2"
	}
	return "11.0.0.2"
}

// Command returns a command that runs name with args inside host's
// namespace. It is killed when ctx ends.
func (l *Lab) Command(ctx context.Context, host, name string, args ...string) *exec.Cmd {
	argv := append([]string{"netns", "exec", l.Namespace(host), name}, args...)
	cmd := exec.CommandContext(ctx, "ip", argv...)
	cmd.SysProcAttr = procAttr()
	cmd.WaitDelay = waitDelay
	return cmd
}

// waitDelay bounds how long Wait waits for output pipes after the process
// was killed: a child that inherited them must not hang the test.
const waitDelay = 2 * time.Second

// Run runs name with args inside host's namespace and returns its output
// and exit code. err is set only when the command could not run or ctx
// ended; a non-zero exit is reported through exitCode alone.
func (l *Lab) Run(ctx context.Context, host, name string, args ...string) (stdout, stderr string, exitCode int, err error) {
	cmd := l.Command(ctx, host, name, args...)
	var out, errb strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &errb
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && ctx.Err() == nil {
		return out.String(), errb.String(), exit.ExitCode(), nil
	}
	if err != nil {
		return out.String(), errb.String(), -1, fmt.Errorf("lab: %s in %s: %w", name, host, err)
	}
	return out.String(), errb.String(), 0, nil
}

// Close stops the daemons, deletes the namespaces and the temp dir. It is
// safe to call more than once.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	daemons := l.daemons
	hosts := l.hosts
	l.mu.Unlock()

	for i := len(daemons) - 1; i >= 0; i-- {
		daemons[i].stop()
	}
	var errs []error
	for i := len(hosts) - 1; i >= 0; i-- {
		if err := removeNamespace(l.Namespace(hosts[i])); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(l.dir); err != nil {
		errs = append(errs, fmt.Errorf("lab: %w", err))
	}
	return errors.Join(errs...)
}
