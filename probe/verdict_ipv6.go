package probe

import (
	"fmt"
	"net/netip"
)

// ipv6 decides the IPv6 side. A global address needs no NAT traversal,
// but home routers drop unsolicited inbound IPv6 until a pinhole is
// opened; only a probe that came in over IPv6 verifies it.
func (j *judge) ipv6() {
	e := j.e.IPv6
	if e == nil {
		return
	}
	port := j.e.Port
	v := &IPv6Verdict{}
	j.d.IPv6 = v
	if !e.Address.IsValid() || !e.Global {
		v.Status = StatusUnreachable
		v.Headline = "no IPv6: this host has no global IPv6 address"
		if e.Address.IsValid() {
			v.Headline = fmt.Sprintf("no IPv6: this host's IPv6 address %s is not global (link-local or private)", e.Address)
		}
		j.fact("%s", v.Headline)
		return
	}
	v.Target = netip.AddrPortFrom(e.Address, port)
	j.fact("this host's global IPv6 address is %s", e.Address)
	for _, p := range e.Probes {
		if p.Verdict == Verified {
			v.Status, v.Verified = StatusVerified, true
			v.Headline = fmt.Sprintf("reachable over IPv6 at %s (verified by %s)", v.Target, viaText(p))
			j.fact("probe through %s (%s): verified", p.Target, p.Via)
			return
		}
	}
	check := fmt.Sprintf("run `reach check '%s'` from a host with IPv6 on another network", v.Target)
	switch {
	case port == 0:
		v.Status = StatusUnverified
		v.Headline = "IPv6: this host has a global address; a pinhole in the router opens a port"
	case e.Pinhole:
		v.Status = StatusUnverified
		v.Headline = fmt.Sprintf("IPv6: pinhole open at %s (%s), not verified from here", v.Target, e.Method)
		j.fact("the router opened an IPv6 pinhole for %s (%s)", v.Target, e.Method)
		v.Advice = []string{check}
	default:
		// No probe came back, and none says it cannot: most routers'
		// IPv6 firewalls drop inbound connections, some let them in.
		v.Status = StatusUnverified
		v.Headline = fmt.Sprintf("IPv6: no pinhole opened for %s; it is reachable only if the router's IPv6 firewall lets it in (most drop inbound by default)", v.Target)
		if e.Failure != "" {
			v.Headline += " (" + e.Failure + ")"
			j.fact("no IPv6 pinhole: %s", e.Failure)
		}
		v.Advice = []string{
			fmt.Sprintf("allow inbound IPv6 to %s in the router's firewall settings (\"IPv6 firewall\", \"pinhole\", or UPnP IGDv2/PCP for IPv6)", v.Target),
			check,
		}
	}
	// Under carrier-grade or double NAT, IPv6 is the way out: say so.
	if (j.d.NAT == NATCGNAT || j.d.NAT == NATDouble) && e.Pinhole {
		j.d.Headline = fmt.Sprintf("not reachable over IPv4 (%s); %s", j.d.NAT, v.Headline)
	}
}
