package lab

import "net/netip"

// TURNServer6 is the same coturn as TURNServer, reached over IPv6 at
// InetAddr6 (labs with Options.IPv6 only). Either address hands out IPv4
// and IPv6 relayed addresses alike: the family a client asks for
// (REQUESTED-ADDRESS-FAMILY) decides, not the family it came in on.
const TURNServer6 = "turn:" + TURNUser + ":" + TURNPassword + "@[" + InetAddr6 + "]:3478"

// coturnIPv6Args are coturn's IPv6 flags: with Options.IPv6 it also
// listens on InetAddr6, relays from it (an Allocate that asks for IPv6
// gets a relayed address there; one that asks for nothing still gets
// InetAddr, RFC 8656's default), and may reach the lab's IPv6 prefixes
// as peers: the home LAN (routed, not NATed), the router's WAN and the
// internet's link; every other IPv6 peer is denied, as every IPv4 one
// outside the lab's internet is. Without IPv6 the internet host has no
// IPv6 address and coturn none to relay from: it answers an Allocate that
// asks for IPv6 with 440 Address Family not Supported.
func coturnIPv6Args(opts Options) []string {
	if !opts.IPv6 {
		return nil
	}
	return []string{
		"-L", InetAddr6,
		"--relay-ip", InetAddr6,
		"--denied-peer-ip=::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		"--allowed-peer-ip=" + prefixRange(lanPrefix6),
		"--allowed-peer-ip=" + prefixRange(wanPrefix6),
		"--allowed-peer-ip=" + prefixRange(inetPrefix6),
	}
}

// prefixRange writes a prefix ("2001:db8:1::/64") as coturn's address
// range, first-last ("2001:db8:1::-2001:db8:1:0:ffff:ffff:ffff:ffff").
func prefixRange(prefix string) string {
	p := netip.MustParsePrefix(prefix).Masked()
	last := p.Addr().As16()
	for i := p.Bits(); i < 128; i++ {
		last[i/8] |= 0x80 >> (i % 8)
	}
	return p.Addr().String() + "-" + netip.AddrFrom16(last).String()
}
