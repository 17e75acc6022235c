package lab

import "fmt"

// The IPv6 variant (Options.IPv6): native IPv6 beside the IPv4 NAT, the
// way most ISPs deliver it. The LAN holds 2001:db8:1::/64 and the router
// routes it without NAT66; its firewall (the inet table's forward chain,
// policy drop) lets out what the LAN starts and drops unsolicited inbound
// IPv6 until miniupnpd opens a pinhole (IGDv2 WANIPv6FirewallControl or
// PCP), which it adds to its own forward chain. The masquerade is IPv4
// only. Behind DoubleNAT or CGNAT the modem or carrier box routes IPv6
// with no filter at all: a pinhole on the home router is all it takes.
//
//	pc 2001:db8:1::10, dev2 ::20 -- br-lan 2001:db8:1::1 [router] wan0 2001:db8:ff::2
//	Public:          wan0 -- 2001:db8:fe::1 inet (one link, two prefixes, routes on-link)
//	DoubleNAT/CGNAT: wan0 -- 2001:db8:ff::1 [modem/isp] 2001:db8:fe::2 -- 2001:db8:fe::1 inet
//
// Addresses are added without duplicate address detection, so they are
// usable at once (and miniupnpd sees its LAN address when it starts).
const (
	PCAddr6     = "2001:db8:1::10"
	Dev2Addr6   = "2001:db8:1::20"
	RouterLAN6  = "2001:db8:1::1"
	RouterWAN6  = "2001:db8:ff::2"
	InetAddr6   = "2001:db8:fe::1"
	lanPrefix6  = "2001:db8:1::/64"
	wanPrefix6  = "2001:db8:ff::/64"
	inetPrefix6 = "2001:db8:fe::/64"
	upLAN6      = "2001:db8:ff::1" // the modem's or carrier's address toward the router
	upWAN6      = "2001:db8:fe::2" // its address toward the internet host
)

// ipv6Sysctls turn IPv6 back on in host (addHost turns it off first) when
// the lab has IPv6: no DAD delays, forwarding on the routers. Empty
// without IPv6.
func (l *Lab) ipv6Sysctls(host string) []string {
	if !l.opts.IPv6 {
		return nil
	}
	s := []string{
		"net.ipv6.conf.all.disable_ipv6=0",
		"net.ipv6.conf.default.disable_ipv6=0",
		"net.ipv6.conf.all.accept_dad=0",
		"net.ipv6.conf.default.accept_dad=0",
		"net.ipv6.conf.all.accept_ra=0",
		"net.ipv6.conf.default.accept_ra=0",
	}
	switch host {
	case Router, Modem, ISP:
		s = append(s, "net.ipv6.conf.all.forwarding=1", "net.ipv6.icmp.ratelimit=0")
	}
	return s
}

// ipv6Steps are the `ip` commands that give the lab its IPv6 addresses and
// routes; up is the outer box behind DoubleNAT or CGNAT (hasUp).
func (l *Lab) ipv6Steps(up upstream, hasUp bool) [][]string {
	r, pc, dev2, inet := l.Namespace(Router), l.Namespace(PC), l.Namespace(Dev2), l.Namespace(Inet)
	addr := func(ns, a, dev string) []string {
		return []string{"-n", ns, "-6", "addr", "add", a, "dev", dev, "nodad"}
	}
	route := func(ns string, args ...string) []string {
		return append([]string{"-n", ns, "-6", "route", "add"}, args...)
	}
	steps := [][]string{
		addr(r, RouterLAN6+"/64", lanBridge),
		addr(pc, PCAddr6+"/64", "eth0"),
		route(pc, "default", "via", RouterLAN6, "dev", "eth0"),
		addr(dev2, Dev2Addr6+"/64", "eth0"),
		route(dev2, "default", "via", RouterLAN6, "dev", "eth0"),
		addr(r, RouterWAN6+"/64", wanBridge),
		addr(inet, InetAddr6+"/64", "lan0"),
	}
	if !hasUp {
		// One link between the router and the internet host: each
		// reaches the other's prefix on-link.
		return append(steps,
			route(r, inetPrefix6, "dev", wanBridge),
			route(r, "default", "via", InetAddr6, "dev", wanBridge),
			route(inet, wanPrefix6, "dev", "lan0"),
			route(inet, lanPrefix6, "via", RouterWAN6, "dev", "lan0"),
		)
	}
	u := l.Namespace(up.host)
	return append(steps,
		route(r, "default", "via", upLAN6, "dev", wanBridge),
		addr(u, upLAN6+"/64", "lan0"),
		addr(u, upWAN6+"/64", "wan0"),
		route(u, lanPrefix6, "via", RouterWAN6, "dev", "lan0"),
		route(u, "default", "via", InetAddr6, "dev", "wan0"),
		route(inet, wanPrefix6, "via", upWAN6, "dev", "lan0"),
		route(inet, lanPrefix6, "via", upWAN6, "dev", "lan0"),
	)
}

// miniupnpdIPv6 is miniupnpd's IPv6 configuration: off, or on with the
// WAN interface named (it then serves IGDv2 WANIPv6FirewallControl and PCP
// for IPv6 on its LAN address and adds pinholes to its forward chain).
func miniupnpdIPv6(opts Options) string {
	if !opts.IPv6 {
		return "ipv6_disable=yes\n"
	}
	return fmt.Sprintf("ipv6_disable=no\next_ifname6=%s\n", wanBridge)
}
