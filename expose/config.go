package expose

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/reach-net/reach/frame"
	"github.com/reach-net/reach/ledger"
	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
)

// Waits of a session.
const (
	// DefaultTimeout bounds each request to the router.
	DefaultTimeout = 5 * time.Second
	// verifyWindow: routers can take a moment to install a forward, so the
	// loopback probe is retried this long before concluding there is no NAT
	// loopback.
	verifyWindow = 2 * time.Second
	// verifyPeriod is the pause between loopback probes.
	verifyPeriod = 250 * time.Millisecond
	// listenCheckWait bounds the look for the user's own program: it is on
	// this host, so it answers at once or not at all.
	listenCheckWait = 500 * time.Millisecond
	// listenPoll is how often hosting looks again for a program that does
	// not listen yet.
	listenPoll = time.Second
	// renewRetry is the pause after a failed renewal: soon enough that a
	// rebooted router gets its mapping back within a minute.
	renewRetry = 30 * time.Second
	// releaseWait bounds the removal of the mapping on Close.
	releaseWait = 3 * time.Second
	// shutdownGrace is how long clients get to be closed: closing sockets
	// is local work, so a second is plenty.
	shutdownGrace = time.Second
)

// Errors Start returns; match them with errors.Is.
var (
	// ErrNoMapping means RequireMapping was set and no mapping was made.
	ErrNoMapping = errors.New("expose: no mapping was made")
	// ErrServe means the echo server could not listen (see the Step).
	ErrServe = errors.New("expose: the echo server could not start")
	// ErrExposed means a running reach already exposes the port.
	ErrExposed = errors.New("expose: a running reach already exposes the port")
)

// Config is one exposure. Port is required; the zero value of every other
// field is a sensible default.
type Config struct {
	// Port is the local port served and forwarded; ExternalPort the port
	// on the router (zero: Port). AnyPort takes a free external port when
	// another host holds it.
	Port, ExternalPort uint16
	AnyPort            bool
	// Protocol is tcp (zero) or udp.
	Protocol upnp.Protocol
	// Lease is the mapping's lease; zero means permanent.
	Lease time.Duration
	// Description labels the mapping in the router's list.
	Description string
	// Family limits the mapping protocol; FamilyAuto takes the best.
	Family upnp.Family
	// RequireMapping makes Start fail with ErrNoMapping when no mapping is
	// made, instead of hosting anyway.
	RequireMapping bool
	// NoServe means the user's own program serves Port.
	NoServe bool
	// MapOnly makes the mapping and nothing else: no server, no probe.
	// Start's Ready then carries the mapping; it outlives the session
	// (reach map), so Close is called only when Start was interrupted,
	// to remove what this run made.
	MapOnly bool
	// Timeout bounds each router request; zero means DefaultTimeout.
	Timeout time.Duration
	// Ledger records the mapping so that a later reach can remove it if
	// this process dies without cleaning up; nil keeps no record. Command
	// is what the ledger says made it ("expose", "map"; empty: expose).
	Ledger  *ledger.Ledger
	Command string

	// IPv6 is IPv6Auto (zero), IPv6Off or IPv6Only.
	IPv6 string

	// Via are TURN relays outside the user's network: each probes the
	// public address from outside, the proof a router without loopback
	// cannot give.
	Via []probe.TURNServer

	// Router is how the router is found.
	Router upnp.Config
	// STUN are the servers asked for the public address; none: STUN off.
	STUN []string
	// Bind is the echo server's listen address (empty: every address);
	// Server its limits (OnEvent is set by the session).
	Bind   string
	Server frame.ServerConfig

	// OnEvent receives every event, from the session's goroutines and the
	// server's; it must return quickly (queue, do not print in place). Nil
	// drops them.
	OnEvent func(Event)

	// Seams for tests; nil means the real thing.
	FindRouter   func(ctx context.Context, cfg upnp.Config) (*upnp.Router, error)
	FindGateway  func(ctx context.Context, cfg upnp.Config) (gw, local netip.Addr, err error)
	Check        func(ctx context.Context, target string, cfg probe.CheckConfig) probe.CheckResult
	CheckUDP     func(ctx context.Context, target string, cfg probe.CheckConfig) probe.CheckResult
	CheckVia     func(ctx context.Context, srv probe.TURNServer, target netip.AddrPort, proto string, cfg probe.ViaConfig) probe.ViaResult
	PublicAddr   func(ctx context.Context, servers []string) (probe.STUNResult, error)
	Hops         func(ctx context.Context, target netip.AddrPort, maxTTL int) ([]probe.Hop, error)
	Listen       func(network, addr string) (net.Listener, error)
	ListenPacket func(network, addr string) (net.PacketConn, error)
	Dial         func(ctx context.Context, network, addr string) (net.Conn, error)
	FindIPv6     func(ctx context.Context) (probe.IPv6Info, error)
	OpenPinhole  func(ctx context.Context, r *upnp.Router, gw6 netip.Addr, want upnp.Pinhole) (*upnp.PinholeLease, error)
	// HostFirewall reads this host's own firewall state.
	HostFirewall func(ctx context.Context) (probe.FirewallState, error)
	// After is the renewal and polling clock.
	After func(d time.Duration) <-chan time.Time
}

func (c *Config) defaults() {
	if c.Protocol == "" {
		c.Protocol = upnp.TCP
	}
	if c.ExternalPort == 0 {
		c.ExternalPort = c.Port
	}
	if c.Command == "" {
		c.Command = "expose"
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.OnEvent == nil {
		c.OnEvent = func(Event) {}
	}
	if c.FindRouter == nil {
		c.FindRouter = upnp.FindRouter
	}
	if c.FindGateway == nil {
		c.FindGateway = upnp.FindGateway
	}
	if c.Check == nil {
		c.Check = probe.Check
	}
	if c.Listen == nil {
		c.Listen = net.Listen
	}
	if c.ListenPacket == nil {
		c.ListenPacket = net.ListenPacket
	}
	if c.CheckVia == nil {
		c.CheckVia = probe.CheckVia
	}
	if c.CheckUDP == nil {
		c.CheckUDP = probe.CheckUDP
	}
	if c.Dial == nil {
		var d net.Dialer
		c.Dial = d.DialContext
	}
	if c.IPv6 == "" {
		c.IPv6 = IPv6Auto
	}
	if c.FindIPv6 == nil {
		c.FindIPv6 = probe.FindIPv6
	}
	if c.OpenPinhole == nil {
		c.OpenPinhole = upnp.OpenPinhole
	}
	if c.HostFirewall == nil {
		c.HostFirewall = probe.HostFirewall
	}
	if c.After == nil {
		c.After = time.After
	}
}
