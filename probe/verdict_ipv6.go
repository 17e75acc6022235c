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

// ipv6Only is the verdict when IPv4 was left out on purpose (--ipv6
// only): IPv6's, headline, status and advice; the NAT in front stays in
// the evidence and adds no advice, since nothing was asked of IPv4.
func (j *judge) ipv6Only() {
	v := j.ipv6Verdict()
	d := &j.d
	d.IPv6 = v
	d.Status, d.VerifiedBy, d.Headline, d.Target = v.Status, v.VerifiedBy, v.Headline, v.Target
	d.Advice = append([]string(nil), v.Advice...)
	j.fact("IPv4 left out (--ipv6 only): no mapping asked for, no probe over IPv4")
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
			v.Status, v.Verified, v.VerifiedBy = StatusVerified, true, p.Via
			v.Headline = fmt.Sprintf("reachable over IPv6 at %s (verified by %s)", v.Target, viaText(p))
			j.fact("probe through %s (%s): verified", p.Target, p.Via)
			return v
		}
	}
	check := fmt.Sprintf("run `reach check '%s'` from a host with IPv6 on another network", v.Target)
	if j.e.proto() == "udp" {
		check = fmt.Sprintf("run `reach check --proto udp '%s'` from a host with IPv6 on another network", v.Target)
		if j.e.OwnProgram {
			check = fmt.Sprintf("test '%s' over UDP from a host with IPv6 on another network, with your program's own client", v.Target)
		}
	}
	switch {
	case port == 0:
		v.Status = StatusUnverified
		v.Headline = "IPv6: this host has a global address; a pinhole in the router opens a port"
	case e.Pinhole:
		j.fact("the router opened an IPv6 pinhole for %s (%s)", v.Target, e.Method)
		j.pinholeProbed(v, check)
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

// pinholeProbed decides an open pinhole that no probe verified, from
// what a TURN relay outside saw of it (expose --via), if one was asked.
// Each outcome names candidates, not one cause: a refusal comes from this
// host or from a router that rejects despite the pinhole; silence from a
// firewall that drops, or, over UDP, a program that does not answer.
func (j *judge) pinholeProbed(v *IPv6Verdict, check string) {
	e := j.e.IPv6
	var relay *ProbeEvidence
	for i, p := range e.Probes {
		j.probeFact(p)
		if p.Via == ViaTURN {
			relay = &e.Probes[i]
		}
	}
	at := fmt.Sprintf("pinhole open at %s (%s)", v.Target, e.Method)
	port := fmt.Sprintf("%d/%s", v.Target.Port(), j.e.proto())
	v.Status = StatusUnverified
	switch {
	case relay == nil:
		v.Headline = "IPv6: " + at + ", not verified from here"
		v.Advice = []string{check}
	case relay.Verdict == Open && j.e.OwnProgram:
		v.Headline = "IPv6: " + at + "; open from outside (a TURN relay reached it), not verified: your program does not echo reach probes"
		v.Advice = []string{"if it is your program that answered there, the IPv6 path works", check}
	case relay.Verdict == Open:
		// reach's own server echoes; something else took the connection.
		v.Headline = "IPv6: " + at + "; a TURN relay outside reached it, but no reach echo came back"
		v.Advice = []string{
			fmt.Sprintf("another program on this host may hold %s over IPv6, or a device on the way answers for it: look with `ss -lntup` (Linux) or `netstat -an` (Windows, macOS)", port),
			check,
		}
	case relay.Verdict == Refused:
		v.Status = StatusUnreachable
		v.Headline = "IPv6: " + at + ", but a TURN relay outside was refused there"
		reject := fmt.Sprintf("this host's firewall, or the router despite the pinhole, rejects inbound IPv6 on %s: allow it", port)
		v.Advice = []string{reject, check}
		if j.e.OwnProgram {
			v.Advice = []string{
				"if your program listens on 0.0.0.0 only, make it listen on IPv6 too (:: ; in C#: IPAddress.IPv6Any with DualMode = true)",
				"else " + reject,
				check,
			}
		}
	case j.e.proto() == "udp" && j.e.OwnProgram:
		v.Headline = "IPv6: " + at + "; a TURN relay outside got no answer there, which proves nothing over UDP"
		v.Advice = []string{"a UDP program that only receives never answers: run `reach serve --proto udp` to prove the path", check}
	default:
		v.Status = StatusUnreachable
		v.Headline = "IPv6: " + at + ", but a probe from a TURN relay outside got no answer"
		v.Advice = []string{
			fmt.Sprintf("a firewall drops it: allow inbound IPv6 on %s in this host's firewall, and check the router's IPv6 firewall settings (some ignore pinholes)", port),
			"or the ISP filters inbound IPv6",
			check,
		}
	}
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
