// Package probe tells whether a framed server is reachable and what the path
// to it looks like: the reach probe round trip, the public address by STUN,
// the first hops, and the NAT verdict drawn from them. It never prints.
package probe

import "net/netip"

// AddrClass is what kind of address a router reports as its external one.
type AddrClass string

// The classes of an external address.
const (
	AddrPublic      AddrClass = "public"
	AddrPrivate     AddrClass = "private"     // RFC 1918: another NAT in front (double NAT)
	AddrShared      AddrClass = "shared"      // 100.64.0.0/10: carrier-grade NAT
	AddrUnspecified AddrClass = "unspecified" // 0.0.0.0 or empty: not connected, or hidden
	AddrReserved    AddrClass = "reserved"    // loopback, link-local, documentation, multicast...
)

var (
	sharedPrefix = netip.MustParsePrefix("100.64.0.0/10")
	reserved     = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("192.0.0.0/24"),
		netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("198.18.0.0/15"),
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"),
		netip.MustParsePrefix("240.0.0.0/4"),
		netip.MustParsePrefix("2001:db8::/32"),
	}
)

// ClassifyAddr reports what kind of external address a is.
func ClassifyAddr(a netip.Addr) AddrClass {
	a = a.Unmap()
	switch {
	case !a.IsValid() || a.IsUnspecified():
		return AddrUnspecified
	case sharedPrefix.Contains(a):
		return AddrShared
	case a.IsPrivate():
		return AddrPrivate
	case a.IsLoopback(), a.IsLinkLocalUnicast(), a.IsMulticast(), a.IsInterfaceLocalMulticast():
		return AddrReserved
	}
	for _, p := range reserved {
		if p.Contains(a) {
			return AddrReserved
		}
	}
	return AddrPublic
}
