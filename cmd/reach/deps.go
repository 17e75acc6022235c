package main

import (
	"context"
	"net/netip"
	"os"
	"time"

	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
)

// deps are the network-facing pieces a command uses. Tests replace them
// with fakes; main uses the real ones.
type deps struct {
	// FindRouter finds the gateway and the mapping services on it.
	FindRouter func(ctx context.Context, cfg upnp.Config) (*router, error)
	// Check runs the reach probe round trip.
	Check func(ctx context.Context, target string, cfg probe.CheckConfig) probe.CheckResult
	// PublicAddr asks STUN servers for the address the internet sees.
	PublicAddr func(ctx context.Context, servers []string) (probe.STUNResult, error)
	// Hops finds the first routers toward a target.
	Hops func(ctx context.Context, target netip.AddrPort, maxTTL int) ([]probe.Hop, error)
	// Hostname names this host in mapping descriptions.
	Hostname func() (string, error)
	// Now is the clock.
	Now func() time.Time
	// Config is the base router configuration (ports, cache, logger).
	Config upnp.Config
}

func defaultDeps() *deps {
	return &deps{
		FindRouter: findRouter,
		Check:      probe.Check,
		PublicAddr: probe.PublicAddr,
		Hops:       probe.Hops,
		Hostname:   os.Hostname,
		Now:        time.Now,
	}
}
