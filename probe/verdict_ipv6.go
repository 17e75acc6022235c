package probe

import (
	"fmt"
	"net/netip"
)

// ipv6 decides the IPv6 side, then carries it into the headline where the
// IPv4 verdict alone would mislead.
func (j *judge) ipv6() {
	if j.e.IPv6 == nil {
		return
	}
	v := j.ipv6Verdict()
	j.d.IPv6 = v
	j.combineIPv6(v)
}

// ipv6Verdict is the IPv6 verdict. A global address needs no NAT
// traversal, but home routers drop unsolicited inbound IPv6 until a
// pinhole is opened; only a probe that came in over IPv6 verifies it.
func (j *judge) ipv6Verdict() *IPv6Verdict {
	e := j.e.IPv6
	port := j.e.Port
	v := &IPv6Verdict{}
	if !e.Address.IsValid() || !e.Global {
		v.Status = StatusUnreachable
		v.Headline = "no IPv6: this host has no global IPv6 address"
		if e.Address.IsValid() {
			v.Headline = fmt.Sprintf("no IPv6: this host's IPv6 address %s is not global (link-local or private)", e.Address)
		}
		j.fact("%s", v.Headline)
		return v
	}
	v.Target = netip.AddrPortFrom(e.Address, port)
	j.fact("this host's global IPv6 address is %s", e.Address)
	for _, p := range e.Probes {
		if p.Verdict == Verified {
			v.Status, v.Verified = StatusVerified, true
			v.Headline = fmt.Sprintf("reachable over IPv6 at %s (verified by %s)", v.Target, viaText(p))
			j.fact("probe through %s (%s): verified", p.Target, p.Via)
			return v
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
	return v
}

// combineIPv6 puts the IPv6 result into the headline when IPv4 is not
// reachable: under carrier-grade or double NAT IPv6 is the way out, so the
// headline says "not reachable over IPv4" and then what IPv6 showed,
// whatever it showed; in any other case a verified IPv6 path makes a flat
// "not reachable" false, so the headline names IPv4 and adds it. IPv6's
// advice comes first then: it is the practical way in.
func (j *judge) combineIPv6(v *IPv6Verdict) {
	d := &j.d
	if d.Status != StatusUnreachable {
		return // the IPv4 headline is no "no"; IPv6 is its own line
	}
	switch nat := natWords(d.NAT); {
	case nat != "":
		head := fmt.Sprintf("not reachable over IPv4 (%s)", nat)
		if m := j.e.Mapping; m != nil && m.Made {
			head = fmt.Sprintf("mapped on your router (port %d), but %s", m.ExternalPort, head)
		}
		d.Headline = head + "; " + v.Headline
	case v.Verified:
		d.Headline = "IPv4: " + d.Headline + "; " + v.Headline
	default:
		return
	}
	advice := v.Advice
	if v.Verified {
		advice = []string{fmt.Sprintf("people with IPv6 can connect now, to %s; for IPv4:", v.Target)}
	}
	d.Advice = append(append([]string(nil), advice...), d.Advice...)
}

// natWords names a NAT that keeps the internet out over IPv4; empty for
// the other verdicts.
func natWords(n NAT) string {
	switch n {
	case NATCGNAT:
		return "carrier-grade NAT"
	case NATDouble:
		return "double NAT"
	}
	return ""
}
