package lab

import (
	"fmt"
	"strings"
)

// The nftables names miniupnpd is configured with; the chains must exist
// before it starts.
const (
	nftTable         = "filter"
	nftForwardChain  = "miniupnpd"
	nftPreChain      = "prerouting_miniupnpd"
	nftPostChain     = "postrouting_miniupnpd"
	lanPrefix        = "192.168.1.0/24"
	miniupnpdUUID    = "3d3cec3a-8cf0-11e0-98ee-00a0c9000001"
	miniupnpdLogName = "miniupnpd.log"
	coturnLogName    = "coturn.log"
)

// routerRuleset is the home router's firewall: NAT out the WAN (IPv4
// only), LAN to WAN and established traffic forwarded, everything else
// from the WAN only through the manual forwards and miniupnpd's port
// forwards and IPv6 pinholes, all keyed on the WAN interface. With
// loopback, LAN packets to the WAN address are left untracked on their
// first pass (they come back in through the WAN, see hairpinSteps, and
// meet the same forwards) and hairpinned connections are masqueraded so
// the LAN server answers through the router.
func routerRuleset(loopback bool, wanAddr string, forwards []Forward) string {
	var dnat, accept strings.Builder
	for _, f := range forwards {
		f = f.withDefaults()
		fmt.Fprintf(&dnat, "\t\tiifname %q %s dport %d dnat ip to %s:%d\n",
			wanBridge, f.Proto, f.ExternalPort, f.InternalIP, f.InternalPort)
		fmt.Fprintf(&accept, "\t\tiifname %q ip daddr %s %s dport %d ct status dnat accept\n",
			wanBridge, f.InternalIP, f.Proto, f.InternalPort)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {\n", nftTable)
	fmt.Fprintf(&b, `	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		iifname "%s" accept
%s		jump %s
	}
	chain %s {
	}
	chain prerouting {
		type nat hook prerouting priority -100; policy accept;
%s		jump %s
	}
	chain postrouting {
		type nat hook postrouting priority 100; policy accept;
		jump %s
		meta nfproto ipv4 oifname "%s" masquerade
`, lanBridge, accept.String(), nftForwardChain, nftForwardChain, dnat.String(), nftPreChain, nftPostChain, wanBridge)
	if loopback {
		fmt.Fprintf(&b, "\t\toifname %q ct status dnat ip saddr %s masquerade\n", lanBridge, lanPrefix)
	}
	fmt.Fprintf(&b, "\t}\n\tchain %s {\n\t}\n\tchain %s {\n\t}\n", nftPreChain, nftPostChain)
	if loopback {
		fmt.Fprintf(&b, `	chain raw {
		type filter hook prerouting priority -300; policy accept;
		iifname "%s" ip daddr %s notrack
	}
`, lanBridge, wanAddr)
	}
	b.WriteString("}\n")
	return b.String()
}

// outerNATRuleset is the modem's or carrier's NAT: masquerade out wan0,
// nothing comes in unless it answers traffic from inside. IPv6 (with
// Options.IPv6) it routes as it is, unfiltered.
const outerNATRuleset = `table inet nat {
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		iifname "lan0" accept
		meta nfproto ipv6 accept
	}
	chain postrouting {
		type nat hook postrouting priority 100; policy accept;
		meta nfproto ipv4 oifname "wan0" masquerade
	}
}
`

// miniupnpdConfig is the router daemon's configuration: services from
// opts, secure mode, mappings of ports 1024-65535 for LAN hosts only, and
// all state (leases) in dir.
func miniupnpdConfig(opts Options, leaseFile string) string {
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ext_ifname=%s\n", wanBridge)
	fmt.Fprintf(&b, "listening_ip=%s\n", lanBridge)
	fmt.Fprintf(&b, "http_port=%d\n", UPnPHTTPPort)
	fmt.Fprintf(&b, "enable_upnp=%s\n", yes(opts.UPnP))
	fmt.Fprintf(&b, "enable_natpmp=%s\n", yes(opts.NATPMP))
	fmt.Fprintf(&b, "force_igd_desc_v1=%s\n", yes(opts.IGDv1))
	fmt.Fprintf(&b, "secure_mode=yes\n")
	b.WriteString(miniupnpdIPv6(opts))
	fmt.Fprintf(&b, "system_uptime=no\n")
	fmt.Fprintf(&b, "notify_interval=60\n")
	fmt.Fprintf(&b, "lease_file=%s\n", leaseFile)
	fmt.Fprintf(&b, "uuid=%s\n", miniupnpdUUID)
	fmt.Fprintf(&b, "friendly_name=reach lab router\n")
	fmt.Fprintf(&b, "upnp_table_name=%s\nupnp_nat_table_name=%s\n", nftTable, nftTable)
	fmt.Fprintf(&b, "upnp_forward_chain=%s\nupnp_nat_chain=%s\nupnp_nat_postrouting_chain=%s\n",
		nftForwardChain, nftPreChain, nftPostChain)
	fmt.Fprintf(&b, "allow 1024-65535 %s 1024-65535\n", lanPrefix)
	b.WriteString("deny 0-65535 0.0.0.0/0 0-65535\n")
	return b.String()
}
