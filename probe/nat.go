package probe

import (
	"fmt"
	"net/netip"
)

// NAT is the verdict on what stands between this host and the internet.
type NAT string

// The NAT verdicts (the "nat" field of diagnose and expose).
const (
	NATPublic    NAT = "public"             // the router's external address is public (and matches STUN)
	NATDouble    NAT = "double-nat"         // another NAT (an ISP modem) sits in front of the router
	NATCGNAT     NAT = "cgnat"              // the ISP shares its public address among customers
	NATNoMapping NAT = "no-mapping-service" // the router offers no UPnP, NAT-PMP nor PCP
	NATNoGateway NAT = "no-gateway"         // this host has no default route
	NATUnknown   NAT = "unknown"            // the evidence does not decide
)

// ServiceEvidence is what one port-mapping service on the gateway said.
type ServiceEvidence struct {
	// Method names the service: "upnp-igd2", "upnp-igd1", "nat-pmp", "pcp".
	Method string
	// ExternalAddr is the external address it reported; zero if none.
	ExternalAddr netip.Addr
	// Connected is the router's own view of its WAN link (UPnP connection
	// status; false for NAT-PMP result 3 or PCP NETWORK_FAILURE); nil if
	// unknown.
	Connected *bool
	// Err is why reading the external address failed; nil if it worked.
	Err error
}

// Evidence is everything diagnose learned about the path. Zero fields are
// unknown.
type Evidence struct {
	// Gateway is the default gateway; zero if there is none.
	Gateway netip.Addr
	// LocalIP is this host's address toward the gateway.
	LocalIP netip.Addr
	// Services are the port-mapping services that answered on the gateway;
	// empty if none did.
	Services []ServiceEvidence
	// STUN is this host's public address as a STUN server saw it; zero if
	// unknown (STUN off or no answer).
	STUN netip.Addr
	// Hops are the first routers toward the internet (see Hops).
	Hops []Hop
	// Port and Protocol ("tcp" or "udp") are what the user wants reachable,
	// for the advice; zero means "your port", empty means tcp.
	Port     uint16
	Protocol string
}

// Diagnosis is the verdict with the facts that decided it and what a
// non-expert can do about it.
type Diagnosis struct {
	NAT NAT
	// Evidence lists the facts, one line each.
	Evidence []string
	// Advice lists what to do, most practical first; empty when nothing
	// on the path needs fixing.
	Advice []string
}

// Decide draws the NAT verdict from the evidence. A shared (100.64.0.0/10)
// address, reported by the router or seen on a hop beyond it, means
// carrier-grade NAT; a private one means another NAT in front of the router
// (double NAT); a public one matching STUN means the router holds the
// public address. The router's own report outweighs the hops: ISPs often
// route through private addresses behind a public customer address.
func Decide(e Evidence) Diagnosis {
	var d Diagnosis
	if !e.Gateway.IsValid() || e.Gateway.IsUnspecified() {
		d.NAT = NATNoGateway
		d.Evidence = append(d.Evidence, "this host has no default gateway")
		d.Advice = append(d.Advice,
			"connect this host to the network (cable or Wi-Fi) and check that it got an address and a default route (`ip route` shows \"default via ...\")")
		return d
	}
	d.Evidence = append(d.Evidence, fmt.Sprintf("gateway %s, this host %s", e.Gateway, orUnknown(e.LocalIP)))

	var ext netip.Addr
	disconnected := false
	for _, s := range e.Services {
		d.Evidence = append(d.Evidence, serviceLine(s))
		if s.Connected != nil && !*s.Connected {
			disconnected = true
		}
		if s.Err == nil && s.ExternalAddr.IsValid() && !ext.IsValid() && ClassifyAddr(s.ExternalAddr) != AddrUnspecified {
			ext = s.ExternalAddr.Unmap()
		}
	}
	if len(e.Services) == 0 {
		d.Evidence = append(d.Evidence, "no port-mapping service (UPnP IGD, NAT-PMP, PCP) answered on the gateway")
	}
	stunIP := e.STUN.Unmap()
	if stunIP.IsValid() {
		d.Evidence = append(d.Evidence, fmt.Sprintf("the internet sees this host as %s (STUN)", stunIP))
	} else {
		d.Evidence = append(d.Evidence, "the address the internet sees is unknown (no STUN answer)")
	}
	next, shared := hopsBeyond(e.Hops, e.Gateway)
	if next.Addr.IsValid() {
		d.Evidence = append(d.Evidence, fmt.Sprintf("hop %d beyond the router: %s (%s)", next.TTL, next.Addr, ClassifyAddr(next.Addr)))
	}
	a := advisor{e: e, ext: ext}

	switch extClass := ClassifyAddr(ext); {
	case extClass == AddrShared:
		d.Evidence = append(d.Evidence, fmt.Sprintf("the router's external address %s is in 100.64.0.0/10, the range ISPs use for carrier-grade NAT", ext))
		return a.cgnat(d)
	case shared.Addr.IsValid() && extClass != AddrPublic:
		d.Evidence = append(d.Evidence, fmt.Sprintf("hop %d, %s, is in 100.64.0.0/10: the ISP's carrier-grade NAT", shared.TTL, shared.Addr))
		return a.cgnat(d)
	case extClass == AddrPrivate:
		d.Evidence = append(d.Evidence, fmt.Sprintf("the router's external address %s is private: another router (often the ISP's modem) is in front of it", ext))
		return a.double(d)
	case extClass == AddrPublic && (!stunIP.IsValid() || stunIP == ext):
		d.NAT = NATPublic
		d.Evidence = append(d.Evidence, fmt.Sprintf("the router holds the public address %s", ext))
		if !stunIP.IsValid() {
			d.Evidence = append(d.Evidence, "not confirmed from outside: no STUN answer (--stun off, or UDP blocked)")
		}
		d.Advice = append(d.Advice, fmt.Sprintf("nothing on the network path needs fixing; if `reach check %s` from outside still fails, check this host's firewall and that the program listens on %s",
			a.target(ext), orUnknown(e.LocalIP)))
		return d
	case extClass == AddrPublic:
		d.NAT = NATUnknown
		d.Evidence = append(d.Evidence, fmt.Sprintf("the router says %s but the internet sees %s", ext, stunIP))
		d.Advice = append(d.Advice,
			"if this host uses a VPN or a proxy, the internet sees the VPN's address: turn it off for the test",
			"otherwise the router has several WAN links or sits behind another NAT: ask the ISP which address is yours",
			fmt.Sprintf("run `reach check %s` from outside your network to test directly", a.target(ext)))
		return d
	case next.Addr.IsValid() && ClassifyAddr(next.Addr) == AddrPrivate:
		d.Evidence = append(d.Evidence, fmt.Sprintf("the first hop beyond the router, %s, is private: traffic crosses another NAT", next.Addr))
		return a.double(d)
	case len(e.Services) == 0:
		d.NAT = NATNoMapping
		d.Advice = append(d.Advice,
			fmt.Sprintf("enable UPnP (or NAT-PMP/PCP) in the router's settings (open http://%s/)", e.Gateway),
			fmt.Sprintf("or forward %s by hand on the router at %s to this host %s, %s", a.port(), e.Gateway, orUnknown(e.LocalIP), a.port()))
		return d
	}
	d.NAT = NATUnknown
	if ext.IsValid() {
		d.Evidence = append(d.Evidence, fmt.Sprintf("the router reports %s, a reserved address", ext))
	}
	if disconnected && stunIP.IsValid() {
		d.Evidence = append(d.Evidence, fmt.Sprintf("the router reports no external connection, yet the internet sees %s: another NAT (a modem, or the ISP's carrier-grade NAT) is in front of it", stunIP))
		d.Advice = append(d.Advice, a.doubleAdvice()[0], a.cgnatAdvice()[0])
	}
	d.Advice = append(d.Advice, "look at the router's status page for its WAN (internet) address: private (10.x, 172.16-31.x, 192.168.x) means a modem in front, 100.64-127.x means carrier-grade NAT")
	return d
}

// hopsBeyond returns the first answering hop after the router and the
// first one in 100.64.0.0/10, ignoring the target itself.
func hopsBeyond(hops []Hop, gw netip.Addr) (next, shared Hop) {
	routerTTL := 1
	for _, h := range hops {
		if h.Addr.Unmap() == gw.Unmap() {
			routerTTL = h.TTL
			break
		}
	}
	for _, h := range hops {
		if h.TTL <= routerTTL || !h.Addr.IsValid() || h.Target {
			continue
		}
		if !next.Addr.IsValid() {
			next = h
		}
		if !shared.Addr.IsValid() && ClassifyAddr(h.Addr) == AddrShared {
			shared = h
		}
	}
	return next, shared
}

func serviceLine(s ServiceEvidence) string {
	line := s.Method + ": "
	switch {
	case s.Err != nil:
		line += "error: " + s.Err.Error()
	case s.ExternalAddr.IsValid():
		line += fmt.Sprintf("external address %s (%s)", s.ExternalAddr, ClassifyAddr(s.ExternalAddr))
	default:
		line += "no external address"
	}
	if s.Connected != nil && !*s.Connected {
		line += "; the router says it is not connected"
	}
	return line
}

func orUnknown(a netip.Addr) string {
	if a.IsValid() {
		return a.String()
	}
	return "(unknown)"
}

// advisor words the advice with the user's own addresses and port.
type advisor struct {
	e   Evidence
	ext netip.Addr
}

func (a advisor) port() string {
	proto := a.e.Protocol
	if proto == "" {
		proto = "tcp"
	}
	if a.e.Port == 0 {
		return "your port (" + proto + ")"
	}
	return fmt.Sprintf("port %d/%s", a.e.Port, proto)
}

func (a advisor) target(ext netip.Addr) string {
	if a.e.Port == 0 {
		return ext.String() + ":PORT"
	}
	return netip.AddrPortFrom(ext, a.e.Port).String()
}

func (a advisor) cgnatAdvice() []string {
	return []string{
		"your ISP shares one public IPv4 address among many customers (carrier-grade NAT), so no router setting can open a port: ask the ISP for a public IPv4 address (often free or cheap; ask to be taken off CGNAT)",
		"or use IPv6, if your ISP and the people connecting have it",
		"or tunnel through a server that has a public address (a small rented server, or a relay such as ngrok, cloudflared or frp)",
	}
}

func (a advisor) cgnat(d Diagnosis) Diagnosis {
	d.NAT = NATCGNAT
	d.Advice = append(d.Advice, a.cgnatAdvice()...)
	return d
}

func (a advisor) doubleAdvice() []string {
	wan := "your router's WAN address (see its status page)"
	if ClassifyAddr(a.ext) == AddrPrivate {
		wan = "your router's WAN address " + a.ext.String()
	}
	return []string{
		"put the ISP's modem (the box in front of your router) in bridge mode, so your router gets the public address",
		fmt.Sprintf("or forward %s on the modem to %s too", a.port(), wan),
		fmt.Sprintf("or put your router in access-point mode and forward %s on the modem to this host %s", a.port(), orUnknown(a.e.LocalIP)),
	}
}

func (a advisor) double(d Diagnosis) Diagnosis {
	d.NAT = NATDouble
	d.Advice = append(d.Advice, a.doubleAdvice()...)
	return d
}
