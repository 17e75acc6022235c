// Package lab builds a home network inside Linux network namespaces for
// end-to-end tests: two LAN hosts on the router's switch, a router running
// the real miniupnpd (UPnP IGD, NAT-PMP, PCP) over nftables NAT, optionally a
// second NAT in front of it (double NAT, carrier-grade NAT), and an internet
// host running coturn as a STUN server.
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
	"syscall"
	"testing"
	"time"
)

// Topology is what stands between the home router and the internet.
type Topology int

// The topologies a lab can build.
const (
	// Public puts the router's WAN (11.0.0.2) directly on the internet.
	Public Topology = iota
	// DoubleNAT puts the router's WAN (192.168.0.2) behind a modem
	// (192.168.0.1) that masquerades to its own public address 11.0.0.3.
	// miniupnpd 2.3.1 then reports an empty external address, refuses
	// UPnP mappings (501) and answers NAT-PMP/PCP with a network failure;
	// only the hop beyond the router (192.168.0.1 answers a TTL-2 probe)
	// tells double NAT from CGNAT.
	DoubleNAT
	// CGNAT puts the router's WAN (100.64.0.2) behind a carrier NAT
	// (100.64.0.1) that masquerades to 11.0.0.4.
	CGNAT
)

// String names the topology as reach's diagnose verdict does.
func (t Topology) String() string {
	switch t {
	case Public:
		return "public"
	case DoubleNAT:
		return "double-nat"
	case CGNAT:
		return "cgnat"
	}
	return fmt.Sprintf("Topology(%d)", int(t))
}

// Hosts of a lab, as passed to Run and Command.
const (
	PC     = "pc"     // the user's machine, 192.168.1.10
	Dev2   = "dev2"   // another LAN device, 192.168.1.20
	Router = "router" // the home router, 192.168.1.1, runs miniupnpd
	Modem  = "modem"  // DoubleNAT only: the ISP modem in front of the router
	ISP    = "isp"    // CGNAT only: the carrier NAT in front of the router
	Inet   = "inet"   // a host on the internet, 11.0.0.1, runs the STUN server
)

// Addresses inside every lab.
const (
	PCAddr       = "192.168.1.10"
	Dev2Addr     = "192.168.1.20"
	RouterLAN    = "192.168.1.1"
	InetAddr     = "11.0.0.1"
	STUNServer   = "11.0.0.1:3478"
	UPnPHTTPPort = 5000 // miniupnpd's fixed http_port
	// RootDescURL is miniupnpd's device description, for `upnpc -u`.
	RootDescURL = "http://192.168.1.1:5000/rootDesc.xml"
)

// Options choose the router and the path to the internet. Exactly one of
// NoService or (UPnP and/or NATPMP) must be set.
type Options struct {
	// Topology is what is in front of the router; zero means Public.
	Topology Topology
	// UPnP turns on miniupnpd's UPnP IGD (v2 unless IGDv1).
	UPnP bool
	// NATPMP turns on miniupnpd's NAT-PMP and PCP (one switch in 2.3.1).
	NATPMP bool
	// NoService runs no miniupnpd at all: a router without port mapping.
	NoService bool
	// IGDv1 makes miniupnpd describe itself as an IGDv1 device.
	IGDv1 bool
	// Loopback makes the router hairpin: LAN packets to its WAN address go
	// through its port forwards like packets from the internet.
	Loopback bool
}

func (o Options) validate() error {
	if o.NoService && (o.UPnP || o.NATPMP || o.IGDv1) {
		return errors.New("lab: NoService with UPnP, NATPMP or IGDv1 set: choose one")
	}
	if !o.NoService && !o.UPnP && !o.NATPMP {
		return errors.New("lab: no mapping service chosen: set UPnP and/or NATPMP, or NoService")
	}
	if o.IGDv1 && !o.UPnP {
		return errors.New("lab: IGDv1 needs UPnP")
	}
	switch o.Topology {
	case Public, DoubleNAT, CGNAT:
	default:
		return fmt.Errorf("lab: unknown topology %d", int(o.Topology))
	}
	return nil
}

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

// Options returns the options the lab was built with.
func (l *Lab) Options() Options { return l.opts }

// Dir is the lab's temporary directory (configs, logs, lease file).
func (l *Lab) Dir() string { return l.dir }

// Namespace returns the network namespace name of host.
func (l *Lab) Namespace(host string) string { return l.prefix + host }

// PublicIP is the address the internet sees the home network's traffic
// from: the router's WAN when Public, else the outer NAT's.
func (l *Lab) PublicIP() string {
	switch l.opts.Topology {
	case DoubleNAT:
		return "11.0.0.3"
	case CGNAT:
		return "11.0.0.4"
	}
	return "11.0.0.2"
}

// RouterWAN is the router's own WAN address (what UPnP reports).
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
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
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
