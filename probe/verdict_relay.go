package probe

import "fmt"

// outsideSaysNo applies a probe from a TURN relay outside that did not
// come back. What the relay reached decides: a connection something
// accepted (Open) proves the port open from outside, not that this program
// answers; silence after a UDP probe to the user's own program proves
// nothing by itself; the rest (refused, timeout, reset, no UDP echo from
// reach's own server) says the internet did not reach the program,
// whatever the router said. The causes depend on what was made.
func (j *judge) outsideSaysNo(a advisor) bool {
	last := j.relayProbe()
	if last == nil {
		return false
	}
	switch {
	case last.Verdict == Open:
		j.relayOpen(a, last)
		return true
	case last.Verdict == NoAnswer && j.e.OwnProgram:
		j.relaySilent(a, last)
		return true
	}
	e, d := j.e, &j.d
	d.Status = StatusUnreachable
	d.Headline = fmt.Sprintf("not reachable from outside: a TURN relay's probe through %s got %s", last.Target, last.Verdict)
	if last.Verdict == Reset {
		what := "another program, or another device the router forwards the port to"
		if d.NAT == NATNone {
			what = "another program, or something the cloud puts in front of this host"
		}
		j.cause("something accepted the relay's connection through %s and then cut it: %s", last.Target, what)
		if e.OwnProgram {
			j.cause("or your program closes connections that send it something it does not understand")
		}
		j.cause("or a firewall or router on the way cuts connections from outside")
	}
	mapped := e.Mapping != nil && e.Mapping.Made
	switch {
	case d.NAT == NATNone:
		if last.Verdict != Reset {
			j.cause("this host's firewall, or the cloud's security group or firewall rules, drops connections from outside")
		}
		j.advise(fmt.Sprintf("allow %s in this host's firewall and in the cloud's security group or firewall rules", a.port()))
	case mapped:
		if last.Verdict != Reset {
			j.cause("the router does not forward the mapping it reported (some routers list a mapping they do not apply)")
			j.cause("or this host's firewall drops connections from outside")
		}
		j.advise(fmt.Sprintf("check this host's firewall for %s", a.port()),
			"restart the router, or forward the port by hand:")
		j.advise(a.manualForward()...)
	default:
		if last.Verdict != Reset {
			j.cause("the port is not forwarded on the router")
			j.cause("or this host's firewall drops connections from outside")
		}
		j.advise(a.manualForward()...)
	}
	j.firewall(a)
	return true
}

// relayProbe is the TURN relay's probe that decides when none came back:
// one that reached something (Open) outweighs another relay's failure;
// otherwise the last.
func (j *judge) relayProbe() *ProbeEvidence {
	var last *ProbeEvidence
	for i, p := range j.e.Probes {
		if p.Via != ViaTURN || p.Verdict == Verified {
			continue
		}
		if p.Verdict == Open {
			return &j.e.Probes[i]
		}
		last = &j.e.Probes[i]
	}
	return last
}

// relayOpen is the verdict when the relay's connection through the public
// address was accepted but reach's own server did not echo the probe: the
// port is open from outside (as `reach check` says "open"), and what
// answered is unproved.
func (j *judge) relayOpen(a advisor, p *ProbeEvidence) {
	d := &j.d
	d.Status = StatusOpen
	d.Headline = fmt.Sprintf("open from outside, not verified: a TURN relay reached %s, but reach's echo did not come back", p.Target)
	relayFailed := "or the relay itself failed after it connected, before the echo (the evidence then says it failed to join the connection)"
	again := "or run reach again, with another --via relay if you have one"
	if d.NAT == NATNone {
		j.cause("something in front of this host (the cloud's load balancer, or a proxy) accepts connections itself and passes nothing on")
		j.cause("%s", relayFailed)
		j.advise(a.checkFromOutside(j.tgt),
			fmt.Sprintf("look at what the cloud puts in front of %s (a load balancer, a proxy) and whether it passes %s on", j.e.LocalIP.Unmap(), a.port()),
			again)
		return
	}
	j.cause("the router forwards %s to another device, not this host (a forward by hand can come before the mapping)", a.port())
	j.cause("or a firewall or proxy on the way accepts connections itself and passes nothing on")
	j.cause("%s", relayFailed)
	j.advise(fmt.Sprintf("see which device the router forwards %s to: `reach mappings`, or the router's page%s", a.port(), a.routerPage()),
		a.checkFromOutside(j.tgt), again)
}

// relaySilent is the verdict when the relay's UDP probes to the user's own
// program got no answer: silence proves nothing by itself.
func (j *judge) relaySilent(a advisor, p *ProbeEvidence) {
	e, d := j.e, &j.d
	d.Status = StatusUnverified
	d.Headline = fmt.Sprintf("not verified: a TURN relay's UDP probes through %s got no answer, and silence proves nothing by itself", p.Target)
	j.cause("your program does not answer reach's probe (most UDP programs answer only their own messages)")
	mapped := e.Mapping != nil && e.Mapping.Made
	switch {
	case d.NAT == NATNone:
		j.cause("or this host's firewall, or the cloud's security group or firewall rules, drops the datagrams")
	case mapped:
		j.cause("or the router does not forward the mapping it reported")
		j.cause("or a firewall (this host's, or the router's) drops the datagrams")
	default:
		j.cause("or the port is not forwarded on the router")
		j.cause("or a firewall (this host's, or the router's) drops the datagrams")
	}
	j.advise(a.checkFromOutside(j.tgt))
	switch {
	case d.NAT == NATNone:
		j.advise(fmt.Sprintf("if that gets no answer either, allow %s in this host's firewall and in the cloud's security group or firewall rules", a.port()))
	case mapped:
		j.advise(fmt.Sprintf("if that gets no answer either, check this host's firewall for %s, then restart the router or forward the port by hand", a.port()))
	default:
		j.advise(fmt.Sprintf("if that gets no answer either, check this host's firewall for %s and forward the port by hand:", a.port()))
		j.advise(a.manualForward()...)
	}
	j.firewall(a)
}
