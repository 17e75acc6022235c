package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// ipv6RouteTarget is where FindIPv6 "connects" a UDP socket to learn the
// kernel's source address toward the IPv6 internet. Any global address
// would do: connecting a UDP socket only looks up the route, it sends
// nothing.
var ipv6RouteTarget = netip.MustParseAddrPort("[2001:4860:4860::8888]:53")

// ErrNoIPv6Route means this host has no route to the IPv6 internet (no
// IPv6 default route, or IPv6 off).
var ErrNoIPv6Route = errors.New("probe: no IPv6 route: this host has no IPv6 default route")

// IPv6Info is this host's way onto the IPv6 internet.
type IPv6Info struct {
	// Address is the source address the kernel uses toward the IPv6
	// internet; zero when there is no route (FindIPv6 then returns
	// ErrNoIPv6Route).
	Address netip.Addr
	// Global reports whether Address is a global unicast address, one the
	// internet can reach once the router lets it through: not link-local,
	// not a unique local address (fc00::/7), not IPv4-mapped.
	Global bool
	// Gateway is the IPv6 default gateway (link-local ones carry their
	// interface as the zone); zero when there is none, or on a system
	// where reach cannot read the IPv6 routing table (all but Linux).
	Gateway netip.Addr
	// Interface is the interface of Gateway's route; empty when Gateway is
	// zero.
	Interface string
}

// FindIPv6 finds this host's address toward the IPv6 internet, the
// address an IPv6 pinhole opens to, and (on Linux) the IPv6 default
// gateway, which is where pinhole requests go. It sends nothing.
func FindIPv6(ctx context.Context) (IPv6Info, error) {
	addr, err := ipv6Source(ctx, ipv6RouteTarget)
	if err != nil {
		return IPv6Info{}, err
	}
	info := IPv6Info{Address: addr, Global: IsGlobalIPv6(addr)}
	routes, err := readIPv6Routes()
	if err != nil || routes == nil {
		return info, nil // the gateway is unknown here; the address still holds
	}
	info.Gateway, info.Interface = defaultIPv6Gateway(routes, InterfaceOf(addr))
	return info, nil
}

// IsGlobalIPv6 reports whether a is a global unicast IPv6 address:
// neither link-local, loopback, multicast, unique local (fc00::/7) nor an
// IPv4 address in IPv6 form. Documentation addresses (2001:db8::/32)
// count as global: the lab uses them as its internet.
func IsGlobalIPv6(a netip.Addr) bool {
	return a.Is6() && !a.Is4In6() && a.IsGlobalUnicast() && !a.IsPrivate()
}

// ipv6Source returns the source address the kernel picks toward target.
func ipv6Source(ctx context.Context, target netip.AddrPort) (netip.Addr, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp6", target.String())
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w (%v)", ErrNoIPv6Route, err)
	}
	defer conn.Close()
	ap := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	a := ap.Addr().WithZone("")
	if !a.Is6() || a.Is4In6() || a.IsUnspecified() {
		return netip.Addr{}, fmt.Errorf("%w (source address %s)", ErrNoIPv6Route, a)
	}
	return a, nil
}

// InterfaceOf is the name of the network interface holding a, IPv4 or
// IPv6 (an IPv4-mapped address is read as IPv4); empty if none does or
// the interfaces cannot be read.
func InterfaceOf(a netip.Addr) string {
	a = a.Unmap()
	ifs, err := net.Interfaces()
	if err != nil {
		return ""
	}
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, ia := range addrs {
			// Go lists an interface's IPv4 addresses in 16-byte form.
			if n, ok := ia.(*net.IPNet); ok {
				if b, ok := netip.AddrFromSlice(n.IP); ok && b.Unmap() == a {
					return ifc.Name
				}
			}
		}
	}
	return ""
}
