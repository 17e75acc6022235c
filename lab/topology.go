package lab

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Interface names inside the namespaces. They are per namespace, so they
// never clash between labs.
const (
	lanBridge = "br-lan" // router's LAN switch, 192.168.1.1/24
	wanBridge = "wan0"   // router's WAN (miniupnpd's ext_ifname), a bridge
	uplink    = "uplink" // router's veth toward the internet / modem / ISP
	hairIn    = "hpa"    // loopback: routed end of the hairpin veth
	hairOut   = "hpb"    // loopback: its peer, a port of wanBridge
	// wanMAC is wanBridge's fixed MAC, the hairpin's static neighbour.
	wanMAC = "02:00:0b:00:00:02"
)

// Addresses of PublicHost: the provider's subnet, routed (not NATed) by the
// router namespace between its LAN bridge and its uplink 11.0.0.2.
const (
	publicHostNet     = "11.0.1.0/24"
	publicHostGateway = "11.0.1.1"
	publicHostPC      = "11.0.1.10"
	publicHostDev2    = "11.0.1.20"
)

// upstream describes the outer NAT of DoubleNAT and CGNAT.
type upstream struct {
	host     string // Modem or ISP
	lanAddr  string // its address toward the router, with prefix
	wanAddr  string // its public address, with prefix
	routerIP string // the router's WAN address, with prefix
}

func (l *Lab) upstream() (upstream, bool) {
	switch l.opts.Topology {
	case DoubleNAT:
		return upstream{Modem, "192.168.0.1/24", "11.0.0.3/24", "192.168.0.2/24"}, true
	case CGNAT:
		return upstream{ISP, "100.64.0.1/10", "11.0.0.4/24", "100.64.0.2/10"}, true
	}
	return upstream{}, false
}

// build creates the namespaces, links, addresses, routes and rulesets.
func (l *Lab) build(ctx context.Context) error {
	hosts := []string{Router, PC, Dev2, Inet}
	up, hasUp := l.upstream()
	if hasUp {
		hosts = append(hosts, up.host)
	}
	for _, h := range hosts {
		if err := l.addHost(ctx, h); err != nil {
			return err
		}
	}
	r := l.Namespace(Router)
	routerWAN := "11.0.0.2/24"
	gw := InetAddr
	if hasUp {
		routerWAN = up.routerIP
		gw = strings.Split(up.lanAddr, "/")[0]
	}
	steps := [][]string{
		// The LAN: a switch in the router, pc and dev2 on it (with
		// PublicHost, the provider's subnet).
		{"-n", r, "link", "add", lanBridge, "type", "bridge"},
		{"-n", r, "addr", "add", l.Gateway() + "/24", "dev", lanBridge},
		{"-n", r, "link", "set", lanBridge, "up"},
		{"-n", l.Namespace(PC), "link", "add", "eth0", "type", "veth", "peer", "name", "lan1", "netns", r},
		{"-n", l.Namespace(Dev2), "link", "add", "eth0", "type", "veth", "peer", "name", "lan2", "netns", r},
		{"-n", r, "link", "set", "lan1", "master", lanBridge, "up"},
		{"-n", r, "link", "set", "lan2", "master", lanBridge, "up"},
		{"-n", l.Namespace(PC), "addr", "add", l.PCAddr() + "/24", "dev", "eth0"},
		{"-n", l.Namespace(PC), "link", "set", "eth0", "up"},
		{"-n", l.Namespace(PC), "route", "add", "default", "via", l.Gateway()},
		{"-n", l.Namespace(Dev2), "addr", "add", l.Dev2Addr() + "/24", "dev", "eth0"},
		{"-n", l.Namespace(Dev2), "link", "set", "eth0", "up"},
		{"-n", l.Namespace(Dev2), "route", "add", "default", "via", l.Gateway()},
		// The router's WAN: a bridge holding its address, with the uplink
		// as a port (and the hairpin's return port when Loopback).
		{"-n", r, "link", "add", wanBridge, "address", wanMAC, "type", "bridge"},
		{"-n", r, "addr", "add", routerWAN, "dev", wanBridge},
		{"-n", r, "link", "set", wanBridge, "up"},
	}
	// The router's uplink goes to the internet host or to the outer NAT.
	next := Inet
	if hasUp {
		next = up.host
	}
	steps = append(steps,
		[]string{"-n", r, "link", "add", uplink, "type", "veth", "peer", "name", "lan0", "netns", l.Namespace(next)},
		[]string{"-n", r, "link", "set", uplink, "master", wanBridge, "up"},
		[]string{"-n", r, "route", "add", "default", "via", gw},
	)
	if hasUp {
		u := l.Namespace(up.host)
		steps = append(steps,
			[]string{"-n", u, "addr", "add", up.lanAddr, "dev", "lan0"},
			[]string{"-n", u, "link", "set", "lan0", "up"},
			[]string{"-n", u, "link", "add", "wan0", "type", "veth", "peer", "name", "lan0", "netns", l.Namespace(Inet)},
			[]string{"-n", u, "addr", "add", up.wanAddr, "dev", "wan0"},
			[]string{"-n", u, "link", "set", "wan0", "up"},
			[]string{"-n", u, "route", "add", "default", "via", InetAddr},
		)
	}
	// The internet host has no default route: it knows only 11.0.0.0/24
	// (and, with PublicHost, that the provider routes 11.0.1.0/24).
	steps = append(steps,
		[]string{"-n", l.Namespace(Inet), "addr", "add", InetAddr + "/24", "dev", "lan0"},
		[]string{"-n", l.Namespace(Inet), "link", "set", "lan0", "up"},
	)
	if l.opts.Topology == PublicHost {
		steps = append(steps, []string{"-n", l.Namespace(Inet), "route", "add", publicHostNet, "via", l.RouterWAN()})
	}
	if l.opts.Loopback {
		steps = append(steps, l.hairpinSteps()...)
	}
	if l.opts.IPv6 {
		steps = append(steps, l.ipv6Steps(up, hasUp)...)
	}
	for _, s := range steps {
		if err := run(ctx, "ip", s...); err != nil {
			return err
		}
	}
	// The provider's router only routes: no NAT, no firewall.
	if l.opts.Topology != PublicHost {
		rules := routerRuleset(l.opts.Loopback, strings.Split(routerWAN, "/")[0], l.opts.Forwards)
		if err := l.nft(ctx, Router, rules); err != nil {
			return err
		}
	}
	if hasUp {
		if err := l.nft(ctx, up.host, outerNATRuleset); err != nil {
			return err
		}
	}
	return nil
}

// hairpinSteps make LAN packets to the router's WAN address enter the
// router again through its WAN bridge, where miniupnpd's DNAT rules (keyed
// on the WAN interface) apply to them: policy routing sends them out hpa,
// whose peer hpb is a port of wan0, to wan0's MAC.
func (l *Lab) hairpinSteps() [][]string {
	r := l.Namespace(Router)
	wan := strings.Split(l.RouterWAN(), "/")[0]
	return [][]string{
		{"-n", r, "link", "add", hairIn, "type", "veth", "peer", "name", hairOut},
		{"-n", r, "link", "set", hairOut, "master", wanBridge, "up"},
		{"-n", r, "link", "set", hairIn, "up"},
		// The uplink and the hairpin port never talk to each other, only to
		// the bridge: the internet must not learn hpa's MAC.
		{"-n", r, "link", "set", "dev", hairOut, "type", "bridge_slave", "isolated", "on"},
		{"-n", r, "link", "set", "dev", uplink, "type", "bridge_slave", "isolated", "on"},
		// LAN packets for the WAN address skip local delivery: look up table
		// 100 before the local table.
		{"-n", r, "rule", "add", "pref", "100", "lookup", "local"},
		{"-n", r, "rule", "del", "pref", "0", "lookup", "local"},
		{"-n", r, "rule", "add", "pref", "10", "iif", lanBridge, "to", wan, "lookup", "100"},
		{"-n", r, "route", "add", wan + "/32", "dev", hairIn, "table", "100"},
		{"-n", r, "neigh", "add", wan, "lladdr", wanMAC, "dev", hairIn, "nud", "permanent"},
	}
}

// addHost creates host's namespace with loopback up, IPv6 off (no DAD
// delays, no link-local noise) and no reverse-path filter (the hairpin's
// second pass arrives on the WAN with a LAN source).
func (l *Lab) addHost(ctx context.Context, host string) error {
	ns := l.Namespace(host)
	if err := run(ctx, "ip", "netns", "add", ns); err != nil {
		return err
	}
	l.mu.Lock()
	l.hosts = append(l.hosts, host)
	l.mu.Unlock()
	if err := run(ctx, "ip", "-n", ns, "link", "set", "lo", "up"); err != nil {
		return err
	}
	sysctls := []string{
		"net.ipv6.conf.all.disable_ipv6=1",
		"net.ipv6.conf.default.disable_ipv6=1",
		"net.ipv4.conf.all.rp_filter=0",
		"net.ipv4.conf.default.rp_filter=0",
	}
	switch host {
	case Router, Modem, ISP:
		// icmp_ratelimit=0: a router that just refused a NAT-PMP probe with
		// port-unreachable would otherwise stay silent to a TTL probe for a
		// second, and hop lists would depend on timing.
		sysctls = append(sysctls, "net.ipv4.ip_forward=1", "net.ipv4.icmp_ratelimit=0")
	}
	sysctls = append(sysctls, l.ipv6Sysctls(host)...) // IPv6 back on, with Options.IPv6
	if err := run(ctx, "ip", append([]string{"netns", "exec", ns, "sysctl", "-qw"}, sysctls...)...); err != nil {
		return err
	}
	if host == Router {
		// Bridged LAN frames must not go through the router's IP rules
		// (br_netfilter may be loaded on the host); older kernels have no
		// per-namespace switch, which is fine: then it is off there.
		_ = run(ctx, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0")
	}
	return nil
}

// nft loads ruleset into host's nftables.
func (l *Lab) nft(ctx context.Context, host, ruleset string) error {
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", l.Namespace(host), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("lab: nft ruleset in %s: %w: %s", host, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// run runs a command in the root namespace (ip, to configure the lab's
// namespaces) and returns an error with its output if it failed.
func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("lab: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
