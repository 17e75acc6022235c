package main

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/reach-net/reach/expose"
	"github.com/reach-net/reach/frame"
	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
	"github.com/spf13/cobra"
)

type exposeOptions struct {
	routerOptions
	hostOptions
	ExternalPort   string
	Proto          string
	Lease          time.Duration
	NoServe        bool
	RequireMapping bool
	STUN           []string
	Via            []string
	Description    string
	IPv6           string

	extPort uint16
	anyPort bool
	both    bool // --proto both: a TCP and a UDP session
	proto   upnp.Protocol
	servers []string
	via     []probe.TURNServer
}

func newExposeCmd(ios *IOStreams, d *deps) *cobra.Command {
	o := &exposeOptions{}
	cmd := &cobra.Command{
		Use:   "expose --port N",
		Short: "Forward a port through the router, prove it works, host until Ctrl-C",
		Long: `The main job. reach expose:
  1. finds the default gateway and this host's address on its network (a
     host with a public address of its own has no NAT: nothing to map);
  2. finds a port-mapping service on it: UPnP IGD (v2, v1), PCP, NAT-PMP;
  3. starts the framed echo server on --port (not with --no-serve: your own
     program already listens there, and reach checks that the router can
     reach it, not only 127.0.0.1);
  4. maps the external port to this host, with a lease (--lease); a port
     another device holds is named, with a free one (--external-port auto
     takes it);
  5. reads the router's external address and says what it is: public,
     private (double NAT), shared (carrier-grade NAT);
  6. verifies with a probe round trip through the public address (needs a
     router that loops back; without a mapping it still probes the address
     STUN saw, for a port forwarded by hand); with --via a TURN relay
     outside your network probes it too: a true outside round trip;
  7. prints the verdict, then hosts until Ctrl-C, renewing the lease at
     half its life (at least every 5 minutes) and re-creating the mapping
     if the router lost it; a reach check from outside that arrives while
     hosting is the proof a loopback could not give, and is reported;
  8. opens an IPv6 pinhole for the port where this host has a global IPv6
     address (UPnP IGDv2 firewall control, or PCP): the way out of
     carrier-grade NAT; --ipv6 off skips it, --ipv6 only skips IPv4;
  9. on exit (Ctrl-C, SIGTERM, a closed terminal) removes the mapping it
     made, and only that one; a mapping that was there before is kept.

Every mapping is recorded in a ledger in the user's state directory: a
mapping left by an expose that was killed is removed by the next reach that
talks to the router, and a port a running reach exposes is never taken over.
The lease is 10 minutes by default, so a leftover also closes by itself.

Without any mapping service it still hosts the server and tells you how to
forward the port by hand (--require-mapping makes that exit 1 instead).`,
		Example: `  reach expose --port 1234
  reach expose --port 25565 --no-serve          # your Minecraft server already listens
  reach expose --port 1234 --external-port auto # another device holds 1234 on the router
  reach expose --port 1234 --json               # one JSON event per line
  reach expose --port 1234 --via turn:user:pass@turn.example.net:3478  # proved from outside
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
	cmd.Flags().StringVar(&o.ExternalPort, "external-port", "", "port on the router's external address (default: --port; auto: a free one)")
	cmd.Flags().StringVar(&o.Proto, "proto", "tcp", "tcp, udp (a UDP echo server, a UDP mapping and a UDP probe) or both")
	cmd.Flags().DurationVar(&o.Lease, "lease", defaultExposeLease, "mapping lease, renewed at half its life and at least every 5m (0 = permanent)")
	cmd.Flags().BoolVar(&o.NoServe, "no-serve", false, "do not start the echo server: your own program listens on --port")
	cmd.Flags().BoolVar(&o.RequireMapping, "require-mapping", false, "exit 1 when no mapping can be made, instead of hosting anyway")
	cmd.Flags().StringVar(&o.Description, "description", "", "label shown in the router's mapping list (default: reach PORT on HOST)")
	addSTUNFlag(cmd, &o.STUN)
	addViaFlag(cmd, &o.Via)
	addIPv6Flag(cmd, &o.IPv6)
	addRouterFlags(cmd, &o.routerOptions)
	addHostFlags(cmd, &o.hostOptions)
	return cmd
}

// defaultExposeLease is short so that a mapping left by an expose that was
// killed (kill -9, a power cut) closes by itself within minutes even if no
// reach runs again to heal it; renewing at half of it is one cheap request
// every 5 minutes.
const defaultExposeLease = 10 * time.Minute

func (o *exposeOptions) validate() error {
	if err := o.hostOptions.validate(); err != nil {
		return err
	}
	ext := 0
	switch strings.ToLower(o.ExternalPort) {
	case "":
	case "auto":
		o.anyPort = true
	default:
		n, err := strconv.Atoi(o.ExternalPort)
		if err != nil {
			return usageErrorf("--external-port must be a port from 1 to 65535 or auto, got %q", o.ExternalPort)
		}
		ext = n
	}
	proto := o.Proto
	if strings.EqualFold(proto, "both") {
		o.both, proto = true, "tcp"
	}
	m := mapOptions{Port: o.Port, ExternalPort: ext, Proto: proto, Lease: o.Lease}
	if err := m.validate(); err != nil {
		return err
	}
	o.extPort = uint16(m.ExternalPort)
	o.proto, _ = parseProto(m.Proto)
	servers, err := stunServers(o.STUN)
	if err != nil {
		return err
	}
	o.servers = servers
	if o.via, err = viaServers(o.Via); err != nil {
		return err
	}
	return checkIPv6Mode(o.IPv6)
}

func runExpose(ctx context.Context, ios *IOStreams, d *deps, o *exposeOptions) error {
	rcfg, family, err := o.config(ios, d.Config)
	if err != nil {
		return err
	}
	r := newExposeRenderer(ios, o)
	cfg := expose.Config{
		Port: uint16(o.Port), ExternalPort: o.extPort, AnyPort: o.anyPort, Protocol: o.proto, Lease: o.Lease,
		Description: o.Description, Family: family, RequireMapping: o.RequireMapping, NoServe: o.NoServe,
		Timeout: o.Timeout, Router: rcfg, STUN: o.servers, Via: o.via, Bind: o.Bind, Server: o.serverConfig(o.JSON),
		OnEvent:    r.render,
		FindRouter: d.FindRouter, FindGateway: d.FindGateway, Check: d.Check, CheckUDP: d.CheckUDP, CheckVia: d.CheckVia,
		PublicAddr: d.PublicAddr, Hops: d.Hops,
		After: d.After, Ledger: d.Ledger, Command: "expose", IPv6: o.IPv6, FindIPv6: d.FindIPv6,
	}
	if cfg.Description == "" {
		cfg.Description = mappingDescription(d, cfg.Port)
	}
	cfgs := []expose.Config{cfg}
	if o.both { // many games want TCP and UDP on one port: two mappings, two servers
		udp := cfg
		udp.Protocol = upnp.UDP
		cfgs = append(cfgs, udp)
	}
	var sessions []*expose.Session
	for _, c := range cfgs {
		s, err := expose.Start(ctx, c)
		sessions = append(sessions, s)
		if err != nil {
			return closeAll(ctx, r, o, sessions, err)
		}
	}
	return closeAll(ctx, r, o, sessions, hostAll(ctx, sessions))
}

// hostAll hosts every session until ctx ends or one of them fails.
func hostAll(ctx context.Context, sessions []*expose.Session) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(sessions))
	for _, s := range sessions {
		go func() { errs <- s.Host(ctx) }()
	}
	var first error
	for range sessions {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	return first
}

// closeAll removes what the sessions made and picks the exit code. A
// Ctrl-C before hosting started is not evidence: no verdict, exit 130.
func closeAll(ctx context.Context, r *exposeRenderer, o *exposeOptions, sessions []*expose.Session, err error) error {
	interrupted := err != nil && (errors.Is(err, context.Canceled) || ctx.Err() != nil)
	left := false
	for _, s := range sessions {
		cause := err
		if interrupted {
			cause = nil
		}
		if st := s.Close(ctx, cause); st.Mapped && !st.Deleted && !st.Kept {
			left = true
		}
	}
	r.close()
	switch {
	case left:
		return withCode(exitNo, errSilent)
	case interrupted:
		return withCode(exitInterrupted, context.Canceled)
	case errors.Is(err, expose.ErrNoMapping):
		return withCode(exitNo, errors.New("no mapping was made (--require-mapping)"))
	case errors.Is(err, expose.ErrServe), errors.Is(err, expose.ErrExposed):
		return withCode(exitNo, jsonErr(o.JSON, err))
	case err != nil:
		return withCode(exitNo, err)
	}
	return nil
}

// serverConfig is the echo server's limits.
func (o *hostOptions) serverConfig(jsonMode bool) frame.ServerConfig {
	// The log shows at most its part of a message: the rest of a big
	// frame goes back without being read into reach (Preview).
	return frame.ServerConfig{MaxClients: o.MaxClients, MaxPerIP: o.MaxPerIP, IdleTimeout: o.IdleTimeout, MaxFrame: o.MaxFrame,
		Preview: o.messageLimit(jsonMode) + utf8.UTFMax}
}
