package probe

import (
	"fmt"
	"net/netip"
)

// Status is whether the internet reaches the program, as far as the
// evidence shows.
type Status string

// The reachability statuses.
const (
	// StatusVerified: a probe echo came back through the public address.
	StatusVerified Status = "verified"
	// StatusOpen: a connection through the public address was accepted
	// but no echo came back: the program is the user's own, which does not
	// answer reach probes, or (with candidate causes) something else
	// answered in place of reach's server. The port is open from outside,
	// the program unverified.
	StatusOpen Status = "open"
	// StatusUnverified: nothing says no, nothing proved yes.
	StatusUnverified Status = "unverified"
	// StatusUnreachable: the evidence says the internet cannot reach it.
	StatusUnreachable Status = "unreachable"
)

// Diagnosis is the verdict drawn from an Evidence: what stands in the way,
// whether the program is reachable, the facts that decided it, the
// candidate causes and what to do.
type Diagnosis struct {
	NAT    NAT
	Status Status
	// VerifiedBy says how a verified status was proved (ViaLoopback,
	// ViaTURN, ViaOutside); empty otherwise.
	VerifiedBy string
	// Target is the public address and port the internet should use;
	// invalid when none is known.
	Target netip.AddrPort
	// Headline is the verdict in one line.
	Headline string
	// Evidence lists the facts, one line each.
	Evidence []string
	// Causes are the candidate causes when not verified: several when the
	// evidence fits several, never one stated as fact without evidence.
	Causes []string
	// Advice lists what to do, most practical first; it follows from the
	// evidence and never contradicts it.
	Advice []string
	// IPv6 is the verdict over IPv6; nil when IPv6 was not looked at.
	IPv6 *IPv6Verdict
}

// IPv6Verdict is whether the program is reachable over IPv6.
type IPv6Verdict struct {
	Status Status
	// Target is [address]:port; invalid when the host has no global IPv6
	// address.
	Target   netip.AddrPort
	Verified bool
	// VerifiedBy says how a verified status was proved (ViaTURN,
	// ViaOutside); empty otherwise.
	VerifiedBy string
	Headline   string
	Advice     []string
}

// Decide draws the verdict from the evidence. It is a pure function.
func Decide(e Evidence) Diagnosis {
	j := judge{e: e}
	j.nat()
	if e.IPv4Off && e.IPv6 != nil {
		j.ipv6Only()
		return j.d
	}
	j.reach()
	j.ipv6()
	return j.d
}

type judge struct {
	e   Evidence
	d   Diagnosis
	ext netip.Addr     // the router's public-side address, zero if unknown
	tgt netip.AddrPort // the public address to use; port zero when unknown
	// natAdvice is what to do about the NAT verdict itself.
	natAdvice []string
}

func (j *judge) fact(format string, args ...any) {
	j.d.Evidence = append(j.d.Evidence, fmt.Sprintf(format, args...))
}

func (j *judge) cause(format string, args ...any) {
	j.d.Causes = append(j.d.Causes, fmt.Sprintf(format, args...))
}

func (j *judge) advise(lines ...string) { j.d.Advice = append(j.d.Advice, lines...) }

// nat decides the NAT verdict. A public address on this host's own
// interface means no NAT at all. Otherwise a shared (100.64.0.0/10)
// address, reported by the router or seen on a hop beyond it, means
// carrier-grade NAT; a private one means another NAT in front of the router
// (double NAT); a public one matching STUN means the router holds the
// public address. The router's own report outweighs the hops: ISPs often
// route through private addresses behind a public customer address.
func (j *judge) nat() {
	e := j.e
	a := advisor{e: e}
	stun := e.STUN.Unmap()
	local := e.LocalIP.Unmap()
	if ClassifyAddr(local) == AddrPublic {
		j.fact("this host has the public address %s on its own interface", local)
		if stun.IsValid() && stun != local {
			j.d.NAT = NATUnknown
			j.fact("yet the internet sees it as %s (STUN): its traffic leaves through another address (a VPN, a proxy or a cloud NAT)", stun)
			j.natAdvice = a.vpnAdvice()
			return
		}
		j.d.NAT = NATNone
		if stun.IsValid() {
			j.fact("the internet sees the same address (STUN)")
		}
		return
	}
	if !e.Gateway.IsValid() || e.Gateway.IsUnspecified() {
		j.d.NAT = NATNoGateway
		j.fact("this host has no default gateway")
		j.natAdvice = []string{"connect this host to the network (cable or Wi-Fi) and check that it has a default route (`ip route` shows \"default via ...\")"}
		return
	}
	j.fact("gateway %s, this host %s", e.Gateway, orUnknown(local))

	var ext netip.Addr
	if c := ClassifyAddr(e.ExternalAddr); c != AddrUnspecified {
		ext = e.ExternalAddr.Unmap()
	}
	behind := false // the router itself says it has no public side
	for _, s := range e.Services {
		j.fact("%s", serviceLine(s))
		if (s.Connected != nil && !*s.Connected) || s.FailKind == FailNoExternal {
			behind = true
		}
		if s.Err == nil && !ext.IsValid() && ClassifyAddr(s.ExternalAddr) != AddrUnspecified {
			ext = s.ExternalAddr.Unmap()
		}
	}
	if m := e.Mapping; m != nil && !m.Made && m.FailKind == FailNoExternal {
		behind = true
	}
	if e.Looked && len(e.Services) == 0 {
		j.fact("no port-mapping service (UPnP IGD, NAT-PMP, PCP) answered on the gateway")
	}
	switch {
	case stun.IsValid():
		j.fact("the internet sees this network as %s (STUN)", stun)
	case e.STUNAsked:
		j.fact("the address the internet sees is unknown: no STUN server answered")
	}
	next, shared := hopsBeyond(e.Hops, e.Gateway)
	if next.Addr.IsValid() {
		j.fact("hop %d beyond the router: %s (%s)", next.TTL, next.Addr, ClassifyAddr(next.Addr))
	}
	j.ext = ext
	a.ext = ext

	switch extClass := ClassifyAddr(ext); {
	case extClass == AddrShared:
		j.fact("the router's external address %s is in 100.64.0.0/10, the range ISPs use for carrier-grade NAT", ext)
		j.d.NAT, j.natAdvice = NATCGNAT, a.cgnatAdvice()
	case shared.Addr.IsValid() && extClass != AddrPublic:
		j.fact("hop %d, %s, is in 100.64.0.0/10: the ISP's carrier-grade NAT", shared.TTL, shared.Addr)
		j.d.NAT, j.natAdvice = NATCGNAT, a.cgnatAdvice()
	case extClass == AddrPrivate:
		j.fact("the router's external address %s is private: another router (often the ISP's modem) is in front of it", ext)
		j.d.NAT, j.natAdvice = NATDouble, a.doubleAdvice()
	case extClass == AddrPublic && (!stun.IsValid() || stun == ext):
		j.d.NAT = NATPublic
		j.fact("the router holds the public address %s", ext)
		if !stun.IsValid() {
			j.fact("not confirmed from outside: no STUN answer")
		}
	case extClass == AddrPublic:
		j.d.NAT = NATUnknown
		j.fact("the router says %s but the internet sees %s", ext, stun)
		j.natAdvice = a.vpnAdvice()
	case next.Addr.IsValid() && ClassifyAddr(next.Addr) == AddrPrivate:
		j.fact("the first hop beyond the router, %s, is private: traffic crosses another NAT", next.Addr)
		j.d.NAT, j.natAdvice = NATDouble, a.doubleAdvice()
	case behind:
		j.d.NAT = NATUnknown
		j.fact("the router reports no external address: its WAN is down, or another NAT (a modem, or the ISP's carrier-grade NAT) is in front of it")
		j.natAdvice = []string{a.doubleAdvice()[0], a.cgnatAdvice()[0], a.wanPage()}
	case e.Looked && len(e.Services) == 0:
		j.d.NAT = NATNoMapping
	default:
		j.d.NAT = NATUnknown
		if ext.IsValid() {
			j.fact("the router reports %s, a reserved address", ext)
		}
		j.natAdvice = []string{a.wanPage()}
	}
}
