package probe

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// Path look-up limits.
const (
	// PathSTUNWait bounds the STUN exchange of LookPath, under STUN's own
	// timeout: a server across the world answers within 300 ms and the
	// request is resent once at 500 ms; a later answer comes too late to
	// change a verdict.
	PathSTUNWait = 1500 * time.Millisecond
	// pathHopsWait bounds the TTL-limited probes for the first hops.
	pathHopsWait = time.Second
	// pathHops is how many hops are looked at: the router, and what is
	// behind it (a modem, the provider's NAT).
	pathHops = 3
)

// PathConfig says where LookPath asks. Nil functions mean the real ones.
type PathConfig struct {
	// Servers are the STUN servers ("host:port"); none means STUN is off
	// and LookPath does nothing.
	Servers []string
	// PublicAddr and Hops replace PublicAddr and Hops (tests).
	PublicAddr func(ctx context.Context, servers []string) (STUNResult, error)
	Hops       func(ctx context.Context, target netip.AddrPort, maxTTL int) ([]Hop, error)
}

// Path is what the outside says about this network: the public address by
// STUN and the first hops toward the STUN server.
type Path struct {
	// Asked reports whether any STUN server was asked.
	Asked   bool
	STUN    *STUNResult
	STUNErr error
	Hops    []Hop
	HopsErr error
}

// LookPath asks STUN, then traces the first hops toward the server that
// answered (or the first one asked).
func LookPath(ctx context.Context, cfg PathConfig) Path {
	var res Path
	if len(cfg.Servers) == 0 {
		return res
	}
	if cfg.PublicAddr == nil {
		cfg.PublicAddr = PublicAddr
	}
	if cfg.Hops == nil {
		cfg.Hops = Hops
	}
	res.Asked = true
	sctx, cancel := context.WithTimeout(ctx, PathSTUNWait)
	r, err := cfg.PublicAddr(sctx, cfg.Servers)
	cancel()
	target := cfg.Servers[0]
	if err != nil {
		res.STUNErr = err
	} else {
		res.STUN = &r
		target = r.Server
	}
	hctx, cancel := context.WithTimeout(ctx, pathHopsWait)
	defer cancel()
	dst, err := resolveUDP4(hctx, target)
	if err != nil {
		res.HopsErr = err
		return res
	}
	res.Hops, res.HopsErr = cfg.Hops(hctx, dst, pathHops)
	return res
}

// Public returns the address STUN saw, zero if none.
func (p Path) Public() netip.Addr {
	if p.STUN == nil {
		return netip.Addr{}
	}
	return p.STUN.Addr.Addr().Unmap()
}

func resolveUDP4(ctx context.Context, hostport string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return netip.AddrPort{}, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(a, uint16(p)), nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("probe: %s has no IPv4 address", host)
	}
	return netip.AddrPortFrom(addrs[0].Unmap(), uint16(p)), nil
}
