package main

import (
	"context"
	"net/netip"
	"os"
	"time"

	"github.com/reach-net/reach/ledger"
	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
)

// deps are the network-facing pieces a command uses. Tests replace them
// with fakes; main uses the real ones.
type deps struct {
	// FindGateway finds the default gateway and this host's address.
	FindGateway func(ctx context.Context, cfg upnp.Config) (gw, local netip.Addr, err error)
	// FindRouter finds the gateway and the mapping services on it.
	FindRouter func(ctx context.Context, cfg upnp.Config) (*upnp.Router, error)
	// Check runs the reach probe round trip; CheckUDP the UDP one; CheckVia
	// the one from a TURN relay.
	Check    func(ctx context.Context, target string, cfg probe.CheckConfig) probe.CheckResult
	CheckUDP func(ctx context.Context, target string, cfg probe.CheckConfig) probe.CheckResult
	CheckVia func(ctx context.Context, srv probe.TURNServer, target netip.AddrPort, proto string, cfg probe.ViaConfig) probe.ViaResult
	// PublicAddr asks STUN servers for the address the internet sees.
	PublicAddr func(ctx context.Context, servers []string) (probe.STUNResult, error)
	// Hops finds the first routers toward a target.
	Hops func(ctx context.Context, target netip.AddrPort, maxTTL int) ([]probe.Hop, error)
	// FindIPv6 finds this host's IPv6 address and gateway.
	FindIPv6 func(ctx context.Context) (probe.IPv6Info, error)
	// Hostname names this host in mapping descriptions.
	Hostname func() (string, error)
	// After is the clock of renewals; nil means time.After.
	After func(time.Duration) <-chan time.Time
	// Config is the base router configuration (ports, cache, logger).
	Config upnp.Config
	// Ledger records the mappings reach makes; nil keeps none.
	Ledger *ledger.Ledger
}

func defaultDeps() *deps {
	return &deps{
		FindGateway: upnp.FindGateway,
		FindRouter:  findRouter,
		Check:       probe.Check,
		CheckUDP:    probe.CheckUDP,
		CheckVia:    probe.CheckVia,
		PublicAddr:  probe.PublicAddr,
		Hops:        probe.Hops,
		Hostname:    os.Hostname,
		FindIPv6:    probe.FindIPv6,
		Ledger:      defaultLedger(),
	}
}

// defaultLedger is the ledger in the user's state directory; nil when
// there is none (no home directory).
func defaultLedger() *ledger.Ledger {
	dir, err := ledger.DefaultDir()
	if err != nil {
		return nil
	}
	return ledger.Open(dir)
}

// findRouter is the real discovery, with goupnp's own logging silenced.
func findRouter(ctx context.Context, cfg upnp.Config) (*upnp.Router, error) {
	upnp.SilenceLibraryLogs()
	return upnp.FindRouter(ctx, cfg)
}
