package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/reach-net/reach/probe"
	"github.com/spf13/cobra"
)

// Path look-up limits.
const (
	// stunWait bounds the STUN exchange in reach's commands, under the
	// library's own STUNTimeout: a server across the world answers within
	// 300 ms and the request is resent once at 500 ms; a later answer would
	// come too late to change the verdict.
	stunWait = 1500 * time.Millisecond
	// hopsWait bounds the TTL-limited probes for the first hops.
	hopsWait = time.Second
	// pathHops is how many hops we look at: the router, and what is behind
	// it (a modem, the provider's NAT).
	pathHops = 3
	// defaultSTUNPort is STUN's registered port.
	defaultSTUNPort = "3478"
)

func addSTUNFlag(cmd *cobra.Command, servers *[]string) {
	cmd.Flags().StringArrayVar(servers, "stun", nil, "STUN server HOST[:PORT] to learn the public address (repeatable; \"off\" to skip; default: a few well-known public servers)")
}

// stunServers turns --stun into the list to ask; nil means off.
func stunServers(flag []string) ([]string, error) {
	if len(flag) == 0 {
		return probe.DefaultSTUNServers, nil
	}
	var out []string
	for _, s := range flag {
		if strings.EqualFold(s, "off") {
			if len(flag) > 1 {
				return nil, usageErrorf("--stun off cannot be combined with servers")
			}
			return nil, nil
		}
		if _, _, err := net.SplitHostPort(s); err != nil {
			s = net.JoinHostPort(s, defaultSTUNPort)
		}
		host, port, err := net.SplitHostPort(s)
		if err != nil || host == "" {
			return nil, usageErrorf("--stun must be HOST[:PORT], got %q", s)
		}
		if _, err := parsePort("--stun port", port); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// pathResult is what the outside says about this network: the public
// address by STUN and the first hops toward the STUN server.
type pathResult struct {
	STUN    *probe.STUNResult
	STUNErr error
	Hops    []probe.Hop
	HopsErr error
}

// lookPath asks STUN, then traces the first hops toward the server that
// answered. With no servers it does nothing.
func lookPath(ctx context.Context, d *deps, servers []string) pathResult {
	var res pathResult
	if len(servers) == 0 {
		return res
	}
	sctx, cancel := context.WithTimeout(ctx, stunWait)
	r, err := d.PublicAddr(sctx, servers)
	cancel()
	target := servers[0]
	if err != nil {
		res.STUNErr = err
	} else {
		res.STUN = &r
		target = r.Server
	}
	hctx, cancel := context.WithTimeout(ctx, hopsWait)
	defer cancel()
	dst, err := resolveUDP(hctx, target)
	if err != nil {
		res.HopsErr = err
		return res
	}
	res.Hops, res.HopsErr = d.Hops(hctx, dst, pathHops)
	return res
}

func resolveUDP(ctx context.Context, hostport string) (netip.AddrPort, error) {
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
		return netip.AddrPort{}, fmt.Errorf("%s has no IPv4 address", host)
	}
	return netip.AddrPortFrom(addrs[0].Unmap(), uint16(p)), nil
}
