package upnp

import "net/netip"

// usableExternal is a as the router's external address, or the
// unspecified address (of a's family) when a cannot be one: unspecified,
// loopback, link-local, multicast or the IPv4 broadcast address. Some
// routers report 0.0.0.0 or 127.0.0.1 while they call their WAN
// "Connected"; such an address is never anyone's public address, so it
// means the same as no external address. Private and shared (100.64/10)
// addresses are kept: they are the evidence of a NAT beyond the router.
func usableExternal(a netip.Addr) (netip.Addr, bool) {
	a = a.Unmap()
	if !a.IsValid() {
		return a, false
	}
	if a.IsUnspecified() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsMulticast() ||
		a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		if a.Is4() {
			return netip.IPv4Unspecified(), false
		}
		return netip.IPv6Unspecified(), false
	}
	return a, true
}
