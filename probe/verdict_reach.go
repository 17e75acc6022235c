package probe

import (
	"fmt"
	"net/netip"
)

// reach decides whether the program is reachable, after nat.
func (j *judge) reach() {
	e, d := j.e, &j.d
	a := advisor{e: e, ext: j.ext}
	// j.tgt may lack the port (diagnose): the advice names the address
	// with a PORT placeholder, the Diagnosis has no target.
	j.tgt = j.target()
	if j.tgt.Port() != 0 {
		d.Target = j.tgt
	}
	if j.proved() {
		return
	}
	t := a.targetText(j.tgt)
	mapped := e.Mapping != nil && e.Mapping.Made
	switch d.NAT {
	case NATNoGateway:
		d.Status = StatusUnreachable
		d.Headline = "not reachable: this host has no default gateway"
		j.advise(j.natAdvice...)
		return
	case NATCGNAT, NATDouble:
		d.Status = StatusUnreachable
		what := "carrier-grade NAT (your ISP shares one public IPv4 address among customers)"
		if d.NAT == NATDouble {
			what = "double NAT (another router, often the ISP's modem, is in front of yours)"
		}
		d.Headline = "not reachable from the internet: " + what
		if mapped {
			d.Headline = fmt.Sprintf("mapped on your router (port %d), but not reachable from the internet: %s", e.Mapping.ExternalPort, what)
		}
		j.cause("%s", what)
		j.advise(j.natAdvice...)
		return
	}
	if l := e.Listener; l != nil && !l.OnLAN {
		d.Status = StatusUnreachable
		if l.OnLoopback {
			d.Headline = fmt.Sprintf("not reachable: your program listens only on 127.0.0.1:%d, which nothing outside this host can reach", e.Port)
			j.cause("the program is bound to the loopback address (127.0.0.1 or localhost)")
			j.advise("make your program listen on all addresses: 0.0.0.0 (in C#: IPAddress.Any), not 127.0.0.1 or localhost")
		} else {
			d.Headline = fmt.Sprintf("nothing listens on %s yet", netip.AddrPortFrom(e.LocalIP, e.Port))
			if mapped {
				d.Headline = fmt.Sprintf("mapped at %s, but nothing listens on port %d yet", t, e.Port)
			}
			j.cause("your program is not running, or listens on another port")
			j.advise(fmt.Sprintf("start your program on port %d; reach says when it comes up", e.Port))
		}
		j.advise(j.natAdvice...)
		return
	}
	if j.outsideSaysNo(a) {
		return
	}
	switch d.NAT {
	case NATNone:
		d.Status = StatusUnverified
		d.Headline = fmt.Sprintf("not verified from here: this host has the public address %s itself (no NAT, no mapping needed)", e.LocalIP.Unmap())
		if e.Port != 0 {
			j.cause("only this host's firewall, or the cloud's security group or firewall rules, can stand in the way")
		}
		j.advise(a.checkFromOutside(j.tgt),
			fmt.Sprintf("if that times out, allow %s in this host's firewall and in the cloud's security group or firewall rules", a.port()))
		j.firewall(a)
	case NATUnknown:
		if m := e.Mapping; m != nil && !m.Made {
			d.Status = StatusUnreachable
			d.Headline = "not reachable yet: the router did not make the mapping"
			if m.Failure != "" {
				d.Headline += ": " + m.Failure
			}
			if m.FailKind == FailNoExternal {
				j.cause("the router has no public side: its WAN is down, or another NAT is in front of it")
				j.advise(j.natAdvice...)
			} else {
				j.mappingAdvice(a, m)
				j.advise(j.natAdvice...)
			}
			return
		}
		d.Status = StatusUnverified
		d.Headline = "not verified: the evidence does not say what stands between the router and the internet"
		if mapped {
			d.Headline = fmt.Sprintf("mapped at %s, not verified: the router's public side is unclear", t)
		}
		j.advise(j.natAdvice...)
		if j.tgt.IsValid() {
			j.advise(a.checkFromOutside(j.tgt))
		}
	case NATPublic:
		j.publicRouter(a, t)
	case NATNoMapping:
		d.Status = StatusUnverified
		d.Headline = "not verified: no port mapping (the router answers no UPnP, NAT-PMP or PCP)"
		if e.Port != 0 {
			j.cause("the port is not forwarded on the router")
			j.cause("or it is forwarded by hand, but the router does not loop back, so this host cannot test it")
		}
		j.advise(a.manualForward()...)
		j.advise(fmt.Sprintf("or turn on UPnP (or NAT-PMP/PCP) in the router's settings%s and run reach again", a.routerPage()),
			"if this network is not yours (a cloud or office network), its admin or the provider's console opens ports")
		if j.tgt.IsValid() {
			j.advise(a.checkFromOutside(j.tgt))
		}
	}
}

// proved applies the probes: a round trip through the public address
// decides, whatever the rest of the evidence suggests.
func (j *judge) proved() bool {
	e, d := j.e, &j.d
	for _, p := range e.Probes {
		j.probeFact(p)
	}
	var open *ProbeEvidence
	for i, p := range e.Probes {
		if !j.counts(p) {
			continue
		}
		switch {
		case p.Verdict == Verified:
			d.Status, d.VerifiedBy, d.Advice = StatusVerified, p.Via, nil
			if p.Target.Addr().IsValid() && !p.Target.Addr().IsUnspecified() {
				d.Target = p.Target
			}
			where := "at " + d.Target.String()
			if !d.Target.IsValid() || d.Target.Port() == 0 {
				where = fmt.Sprintf("from the internet on port %d", e.extPort())
			}
			d.Headline = fmt.Sprintf("reachable %s (verified by %s)", where, viaText(p))
			return true
		case p.Verdict == Open && e.OwnProgram && open == nil:
			open = &e.Probes[i]
		}
	}
	if open != nil {
		d.Status, d.Target = StatusOpen, open.Target
		d.Headline = fmt.Sprintf("forwarded: %s reaches your program (it does not answer reach probes, so there is no echo)", open.Target)
		d.Advice = []string{fmt.Sprintf("to be sure, connect to %s with your program's own client from another network", open.Target)}
		return true
	}
	return false
}

// counts reports whether p says anything about the internet: a probe from
// outside always does; one looped back through the router only when the
// address it went to is the one the internet sees.
func (j *judge) counts(p ProbeEvidence) bool {
	switch p.Via {
	case ViaTURN, ViaOutside:
		return true
	case ViaLoopback:
	default:
		return false
	}
	a := p.Target.Addr().Unmap()
	stun := j.e.STUN.Unmap()
	if a == j.e.LocalIP.Unmap() {
		return false // to this host's own address: it never left the host
	}
	if c := ClassifyAddr(a); c != AddrPublic {
		if p.Verdict == Verified {
			j.fact("the probe came back through this router, but %s is %s, not public: another NAT stands between it and the internet", a, c)
		}
		return false
	}
	if stun.IsValid() && stun != a {
		if p.Verdict == Verified {
			j.fact("the probe came back through this router, but the internet sees this host as %s, not %s", stun, a)
		}
		return false
	}
	return true
}

// probeFact states a probe's outcome as evidence.
func (j *judge) probeFact(p ProbeEvidence) {
	line := fmt.Sprintf("probe through %s (%s): %s", p.Target, p.Via, p.Verdict)
	if p.Detail != "" {
		line += ": " + p.Detail
	}
	j.fact("%s", line)
}

func viaText(p ProbeEvidence) string {
	switch p.Via {
	case ViaLoopback:
		return "a probe round trip through the router"
	case ViaTURN:
		return "a probe round trip from a TURN relay outside"
	case ViaOutside:
		return "a reach check from " + p.From.Addr().String()
	}
	return p.Via
}

// target is the public address and port the internet should use.
func (j *judge) target() netip.AddrPort {
	e := j.e
	port := e.extPort() // zero (diagnose): the address is known, the port is not
	stun := e.STUN.Unmap()
	switch {
	case ClassifyAddr(e.LocalIP) == AddrPublic:
		// Connections to the host's own address arrive on its interface,
		// whatever address its own traffic leaves by (a VPN).
		return netip.AddrPortFrom(e.LocalIP.Unmap(), port)
	case ClassifyAddr(j.ext) == AddrPublic && e.Mapping != nil && e.Mapping.Made:
		return netip.AddrPortFrom(j.ext, port)
	case stun.IsValid():
		return netip.AddrPortFrom(stun, port)
	case ClassifyAddr(j.ext) == AddrPublic:
		return netip.AddrPortFrom(j.ext, port)
	}
	return netip.AddrPort{}
}

// publicRouter is the verdict behind a router that holds the public
// address.
func (j *judge) publicRouter(a advisor, t string) {
	e, d := j.e, &j.d
	m := e.Mapping
	switch {
	case m == nil:
		d.Status = StatusUnverified
		d.Headline = fmt.Sprintf("the router holds the public address %s: a forwarded port is reachable", j.ext)
		j.advise(fmt.Sprintf("nothing on the network path needs fixing; if `reach check %s` from outside still fails, check this host's firewall and that the program listens on %s",
			a.targetText(netip.AddrPortFrom(j.ext, e.extPort())), orUnknown(e.LocalIP)))
	case m.Made:
		d.Status = StatusUnverified
		d.Headline = fmt.Sprintf("mapped at %s, not verified from here", t)
		j.loopbackCauses()
		j.advise(a.checkFromOutside(j.tgt),
			fmt.Sprintf("if that fails too, check this host's firewall for %s", a.port()))
		j.firewall(a)
	default:
		d.Status = StatusUnreachable
		d.Headline = "not reachable yet: the router did not make the mapping"
		if m.Failure != "" {
			d.Headline += ": " + m.Failure
		}
		j.mappingAdvice(a, m)
	}
}

// loopbackCauses names the candidates when the probe through the router did
// not come back.
func (j *judge) loopbackCauses() {
	var last *ProbeEvidence
	for i := range j.e.Probes {
		if j.e.Probes[i].Via == ViaLoopback {
			last = &j.e.Probes[i]
		}
	}
	switch {
	case last == nil && j.e.proto() == "udp" && j.e.OwnProgram:
		j.cause("your own UDP program does not echo reach's probe, so none went through the router: a UDP forward to it is tested with its own client from outside")
	case last == nil:
		j.cause("no probe was made through the router")
	case last.Verdict == Refused:
		j.cause("the router does not loop back (most home routers refuse a connection from the LAN to their own public address)")
		j.cause("or the router has not applied the forward")
	case last.Verdict == Timeout, last.Verdict == NoAnswer:
		j.cause("the router does not loop back and drops such packets")
		j.cause("or a firewall on the way (this host's, or the router's) drops the probe")
	default:
		j.cause("the router does not loop back, or something on the way answered instead of this program (%s)", last.Verdict)
	}
}

// mappingAdvice follows from why the router did not make the mapping.
func (j *judge) mappingAdvice(a advisor, m *MappingEvidence) {
	switch m.FailKind {
	case FailConflict:
		j.conflictAdvice(a, m)
	case FailNotAllowed:
		j.cause("the router's settings do not allow this host to map ports")
		if m.ExternalPort > 0 && m.ExternalPort < 1024 {
			// miniupnpd's default rules, and many routers', map only
			// ports 1024 and up.
			j.cause("or they allow only ports 1024 and up, and %d is below", m.ExternalPort)
			j.advise("try a port of 1024 or more: --external-port on the router's side (some routers want your program's port there too)")
		}
		j.advise(fmt.Sprintf("allow UPnP port mapping for this host in the router's settings%s", a.routerPage()))
		j.advise(a.manualForward()...)
	case FailNoResources:
		j.cause("the router's mapping table is full")
		j.advise("remove mappings nobody needs (`reach mappings` lists them), or restart the router")
		j.advise(a.manualForward()...)
	case FailUnanswered:
		j.cause("the router did not answer the mapping request in time")
		j.advise("run reach again; if it keeps failing, forward the port by hand:")
		j.advise(a.manualForward()...)
	default:
		j.cause("the router refused the mapping")
		j.advise(a.manualForward()...)
	}
}

// conflictAdvice names who holds the port (this host's other program,
// another device, or one the router would not name) and what to do.
func (j *judge) conflictAdvice(a advisor, m *MappingEvidence) {
	port := fmt.Sprintf("%d/%s", m.ExternalPort, j.e.proto())
	ap, err := netip.ParseAddrPort(m.Holder)
	var last string
	switch {
	case err == nil && j.e.LocalIP.IsValid() && ap.Addr() == j.e.LocalIP.Unmap():
		// The router lets one host's programs overwrite each other's
		// mappings; reach refuses to, and names the program's mapping.
		desc := ""
		if m.HolderDescription != "" {
			desc = fmt.Sprintf(" (described on the router as %q)", m.HolderDescription)
		}
		j.cause("port %s on the router is already forwarded to this host's port %d by another program%s", port, ap.Port(), desc)
		last = fmt.Sprintf("or stop that program; if nothing on this host needs the mapping any more, `reach unmap --port %d --proto %s` removes it", m.ExternalPort, j.e.proto())
	case err == nil:
		j.cause("port %s on the router is already forwarded to another device (%s)", port, m.Holder)
		last = fmt.Sprintf("or have the device at %s give the port up (stop its program), or remove the mapping in the router's page%s", ap.Addr(), a.routerPage())
	default:
		j.cause("port %s on the router is already forwarded to another device", port)
		last = fmt.Sprintf("or have that device give the port up (stop its program), or remove the mapping in the router's page%s", a.routerPage())
	}
	if m.Free != 0 {
		j.advise(fmt.Sprintf("use --external-port %d (free on the router), or --external-port auto to take a free port", m.Free))
	} else {
		j.advise("use another --external-port, or --external-port auto to take a free port")
	}
	j.advise(last)
}

// firewall adds what this host's own firewall says: a firewall that is on
// is a candidate (Windows and macOS block a new program's inbound
// connections by default), with the exact step to allow the port; one that
// is off is ruled out.
func (j *judge) firewall(a advisor) {
	fw := j.e.Firewall
	if fw == nil || fw.Status == FirewallUnknown || j.e.Port == 0 {
		return
	}
	if fw.Status == FirewallOff {
		j.fact("this host's firewall is off (%s)", fw.Source)
		return
	}
	j.fact("this host's firewall is on (%s)", fw.Source)
	j.cause("this host's firewall may block inbound connections to the program")
	if fw.BlockAll {
		j.advise("the firewall blocks all incoming connections: turn off \"Block all incoming connections\" in its options")
		return
	}
	if hint := FirewallAllowHint(j.e.GOOS, j.e.Port, j.e.proto()); hint != "" {
		j.advise("allow it through this host's firewall: " + hint)
	}
}
