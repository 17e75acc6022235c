package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
	"github.com/spf13/cobra"
)

type exposeOptions struct {
	routerOptions
	hostOptions
	ExternalPort   int
	Proto          string
	Lease          time.Duration
	NoServe        bool
	RequireMapping bool
	STUN           []string
	Description    string

	proto   upnp.Protocol
	servers []string
}

func newExposeCmd(ios *IOStreams, d *deps) *cobra.Command {
	o := &exposeOptions{}
	cmd := &cobra.Command{
		Use:   "expose --port N",
		Short: "Forward a port through the router, prove it works, host until Ctrl-C",
		Long: `The main job. reach expose:
  1. finds the default gateway and this host's address on its network;
  2. finds a port-mapping service on it: UPnP IGD (v2, v1), PCP, NAT-PMP;
  3. starts the framed echo server on --port (not with --no-serve: your own
     program already listens there);
  4. maps the external port to this host, with a lease (--lease);
  5. reads the router's external address and says what it is: public,
     private (double NAT), shared (carrier-grade NAT);
  6. verifies with a probe round trip through the external address (needs a
     router that loops back; if it does not, run reach check from outside);
  7. prints the ready line, then hosts until Ctrl-C, renewing the lease at
     half its life (at least every 5 minutes) and re-creating the mapping
     if the router lost it (a reboot);
  8. on exit removes the mapping it made, and only that one.

Without any mapping service it still hosts the server and tells you how to
forward the port by hand (--require-mapping makes that exit 1 instead).`,
		Example: `  reach expose --port 1234
  reach expose --port 25565 --no-serve          # your Minecraft server already listens
  reach expose --port 1234 --json               # one JSON event per line
  reach expose --port 1234 --stun off --lease 2h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return runExpose(cmd.Context(), ios, d, o)
		},
	}
	cmd.Flags().IntVarP(&o.Port, "port", "p", 0, "local port to host and forward (required)")
	cmd.Flags().IntVar(&o.ExternalPort, "external-port", 0, "port on the router's external address (default: --port)")
	cmd.Flags().StringVar(&o.Proto, "proto", "tcp", "tcp or udp (udp maps only; the echo server and the proof are TCP)")
	cmd.Flags().DurationVar(&o.Lease, "lease", time.Hour, "mapping lease, renewed at half its life and at least every 5m (0 = permanent)")
	cmd.Flags().BoolVar(&o.NoServe, "no-serve", false, "do not start the echo server: your own program listens on --port")
	cmd.Flags().BoolVar(&o.RequireMapping, "require-mapping", false, "exit 1 when no mapping can be made, instead of hosting anyway")
	cmd.Flags().StringVar(&o.Description, "description", "", "label shown in the router's mapping list (default: reach PORT on HOST)")
	addSTUNFlag(cmd, &o.STUN)
	addRouterFlags(cmd, &o.routerOptions)
	addHostFlags(cmd, &o.hostOptions)
	return cmd
}

func (o *exposeOptions) validate() error {
	if err := o.hostOptions.validate(); err != nil {
		return err
	}
	m := mapOptions{Port: o.Port, ExternalPort: o.ExternalPort, Proto: o.Proto, Lease: o.Lease}
	if err := m.validate(); err != nil {
		return err
	}
	o.ExternalPort = m.ExternalPort
	o.proto, _ = parseProto(o.Proto)
	servers, err := stunServers(o.STUN)
	if err != nil {
		return err
	}
	o.servers = servers
	return nil
}

// Waits of expose.
const (
	// verifyWindow: routers can take a moment to install a forward, so the
	// loopback probe is retried this long before concluding there is no NAT
	// loopback.
	verifyWindow = 2 * time.Second
	// verifyPeriod is the pause between loopback probes.
	verifyPeriod = 250 * time.Millisecond
	// listenCheckWait bounds the look for the user's own server (--no-serve):
	// it is on this host.
	listenCheckWait = 500 * time.Millisecond
)

// readyEvent is expose's ready line in JSON (CLI.md).
type readyEvent struct {
	Event        string      `json:"event"`
	ExternalIP   string      `json:"external_ip"`
	ExternalPort uint16      `json:"external_port"`
	InternalIP   string      `json:"internal_ip"`
	InternalPort uint16      `json:"internal_port"`
	Protocol     string      `json:"protocol"`
	Method       upnp.Method `json:"method"`
	NAT          probe.NAT   `json:"nat"`
	Verified     bool        `json:"verified"`
	LeaseS       int64       `json:"lease_s"`
	PublicIP     string      `json:"public_ip,omitempty"`
	Gateway      string      `json:"gateway,omitempty"`
	Detail       string      `json:"detail"`
	Advice       []string    `json:"advice,omitempty"`
}

// exposure is the state of one expose run.
type exposure struct {
	ios    *IOStreams
	d      *deps
	o      *exposeOptions
	st     *steps
	cfg    upnp.Config
	r      *router
	mapper upnp.Mapper
	mapped *upnp.Mapping // the mapping we made, nil if none
	want   upnp.Mapping  // what renewals ask for: the lease asked, the port granted
	server *hosted
}

func runExpose(ctx context.Context, ios *IOStreams, d *deps, o *exposeOptions) error {
	cfg, err := o.config(ios, d.Config)
	if err != nil {
		return err
	}
	e := &exposure{ios: ios, d: d, o: o, cfg: cfg, st: newSteps(ios, o.JSON)}
	e.st.stream = o.JSON

	pathc := make(chan pathResult, 1)
	go func() { pathc <- lookPath(ctx, d, o.servers) }()

	r, mapper, findErr := discoverStep(ctx, e.st, d, cfg, &o.routerOptions)
	e.r, e.mapper = r, mapper
	if r == nil {
		e.r = &router{}
	}
	if ctx.Err() != nil {
		return nil // Ctrl-C before anything was made: a clean stop
	}
	if findErr != nil && o.RequireMapping {
		return withCode(exitNo, errSilent)
	}
	if err := e.serve(ctx); err != nil {
		return err
	}
	defer e.server.closeIfRunning(ctx)

	var ext netip.Addr
	if mapper != nil {
		want := upnp.Mapping{
			Protocol: o.proto, ExternalPort: uint16(o.ExternalPort), InternalIP: e.r.LocalIP,
			InternalPort: uint16(o.Port), Description: o.Description, Lease: o.Lease, Enabled: true,
		}
		if want.Description == "" {
			want.Description = mappingDescription(d, want.InternalPort)
		}
		used, got, err := addStep(ctx, e.st, e.r, mapper, o.Method, want, o.Timeout)
		if err == nil {
			e.mapper, e.mapped = used, &got
			e.want = want
			e.want.ExternalPort = got.ExternalPort
			if want.Lease > 0 && got.Lease == 0 {
				e.want.Lease = 0 // the router only accepts permanent mappings (UPnP 725)
			}
			ext, _ = externalStep(ctx, e.st, used, o.Timeout)
		} else if o.RequireMapping {
			return withCode(exitNo, errSilent)
		}
	}
	if ctx.Err() != nil {
		return e.stop(ctx, ctx.Err())
	}
	verified, vdetail := e.verify(ctx, ext)
	path := <-pathc
	verified, vdetail = outsideAgrees(verified, vdetail, ext, path)
	ready := e.ready(ext, verified, vdetail, path)
	if ctx.Err() != nil {
		return e.stop(ctx, ctx.Err())
	}
	e.announce(ready)
	return e.stop(ctx, e.host(ctx))
}

// serve starts the echo server, or with --no-serve looks for the user's.
func (e *exposure) serve(ctx context.Context) error {
	if e.o.NoServe {
		var dl net.Dialer
		cctx, cancel := context.WithTimeout(ctx, listenCheckWait)
		c, err := dl.DialContext(cctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(e.o.Port)))
		cancel()
		if err != nil {
			e.st.done(markWarn, "serve", fmt.Sprintf("--no-serve, but nothing answers on 127.0.0.1:%d yet: start your program", e.o.Port))
			return nil
		}
		c.Close()
		e.st.done(markOK, "serve", fmt.Sprintf("your program listens on port %d", e.o.Port))
		return nil
	}
	h, err := host(e.ios, e.o.JSON, e.o.hostOptions)
	if err != nil {
		e.st.done(markFail, "serve", err.Error())
		return withCode(exitNo, errSilent)
	}
	e.server = h
	e.st.done(markOK, "serve", fmt.Sprintf("framed echo server on %s", h.ln.Addr()))
	return nil
}

// verify probes the external address from here; it needs NAT loopback.
func (e *exposure) verify(ctx context.Context, ext netip.Addr) (bool, string) {
	if e.mapped == nil {
		return false, "no mapping"
	}
	if !ext.IsValid() || probe.ClassifyAddr(ext) == probe.AddrUnspecified {
		e.st.done(markWarn, "verify", "skipped: the router gave no external address to probe")
		return false, "no external address"
	}
	if e.o.proto == upnp.UDP {
		e.st.done(markWarn, "verify", "skipped: reach proves TCP only; test UDP with your program from outside")
		return false, "udp is not verified"
	}
	target := net.JoinHostPort(ext.String(), strconv.Itoa(int(e.mapped.ExternalPort)))
	e.st.start("probing " + target + " through the router")
	deadline := time.Now().Add(verifyWindow)
	var last probe.CheckResult
	for {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		last = e.d.Check(ctx, target, probe.CheckConfig{Timeout: left})
		if last.Verdict == probe.Verified || ctx.Err() != nil {
			break
		}
		if last.Verdict == probe.Open && e.o.NoServe {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(verifyPeriod):
		}
	}
	switch {
	case last.Verdict == probe.Verified:
		e.st.done(markOK, "verify", fmt.Sprintf("probe echoed through %s in %s", target, round(last.RTTs[0])))
		return true, "verified by a probe round trip through " + target
	case last.Verdict == probe.Open && e.o.NoServe:
		e.st.done(markOK, "verify", fmt.Sprintf("TCP connects through %s (your program does not echo reach probes: %s)", target, last.Detail))
		return false, "the forward works: a TCP connection through " + target + " reached your program"
	}
	e.st.done(markWarn, "verify", fmt.Sprintf("the router does not loop back (%s: %s); check from outside", last.Verdict, last.Detail))
	return false, fmt.Sprintf("the router does not loop back; run 'reach check %s' from outside", target)
}

// outsideAgrees withdraws a loopback proof the internet would not share:
// the probe came back through this router, but the router's external
// address is not public, or is not the address the internet sees (STUN),
// so another NAT or a VPN stands between it and the internet.
func outsideAgrees(verified bool, detail string, ext netip.Addr, path pathResult) (bool, string) {
	if !verified {
		return false, detail
	}
	if c := probe.ClassifyAddr(ext); c != probe.AddrPublic {
		return false, fmt.Sprintf("the probe came back through this router, but its external address %s is %s, not public: another NAT stands between it and the internet", ext, c)
	}
	if path.STUN != nil && path.STUN.Addr.Addr() != ext {
		return false, fmt.Sprintf("the probe came back through this router, but the internet sees this host as %s, not %s: another NAT or a VPN is in the way", path.STUN.Addr.Addr(), ext)
	}
	return true, detail
}
