package probe

import (
	"net/netip"
	"time"
)

// NAT is the verdict on what stands between this host and the internet.
type NAT string

// The NAT verdicts (the "nat" field of diagnose and expose; CLI.md).
const (
	NATNone      NAT = "none"               // this host holds a public address itself: no NAT, no mapping needed
	NATPublic    NAT = "public"             // the router's external address is public (and matches STUN)
	NATDouble    NAT = "double-nat"         // another NAT (an ISP modem) sits in front of the router
	NATCGNAT     NAT = "cgnat"              // the ISP shares its public address among customers
	NATNoMapping NAT = "no-mapping-service" // the router offers no UPnP, NAT-PMP nor PCP
	NATNoGateway NAT = "no-gateway"         // this host has no default route
	NATUnknown   NAT = "unknown"            // the evidence does not decide
)

// Failure kinds of the router side, as the upnp package names them
// (upnp.FailureKind): the evidence keeps the words, not the package.
const (
	FailConflict    = "conflict"            // another host holds the port
	FailNotAllowed  = "not-authorized"      // the router refuses mappings (settings)
	FailNoExternal  = "no-external-address" // the router has no public side: WAN down or another NAT
	FailNoResources = "no-resources"        // the router's table is full
	FailUnsupported = "unsupported"         // the router does not implement what was asked
	FailUnanswered  = "unanswered"          // no reply in time
	FailRefused     = "refused"             // any other refusal in the protocol's words
)

// ServiceEvidence is what one port-mapping service on the gateway said.
type ServiceEvidence struct {
	// Method names the service: "upnp-igd2", "upnp-igd1", "nat-pmp", "pcp".
	Method string
	// ExternalAddr is the external address it reported; zero if none.
	// Asked reports whether it was asked for it: a service found but not
	// asked (reach asks the one it maps with) says nothing of its address.
	ExternalAddr netip.Addr
	Asked        bool
	// Connected is the router's own view of its WAN link (UPnP connection
	// status; false for NAT-PMP result 3 or PCP NETWORK_FAILURE); nil if
	// unknown.
	Connected *bool
	// Err is why reading the external address failed; nil if it worked.
	Err error
	// FailKind is Err's kind (FailNoExternal, ...) and Summary its one
	// short line; both empty if Err is nil.
	FailKind, Summary string
}

// MappingEvidence is the outcome of asking the router for the mapping.
type MappingEvidence struct {
	// Made reports whether a service granted the mapping.
	Made bool
	// Method is the service that made it, or the last one that was asked.
	Method string
	// ExternalPort is the port granted (or asked, when not made).
	ExternalPort uint16
	// Moved reports whether the router granted another external port than
	// the one asked.
	Moved bool
	// Permanent reports whether the router accepted only a permanent lease.
	Permanent bool
	// FailKind and Failure say why it was not made (one short line).
	FailKind string
	Failure  string
	// Holder is who holds the port on a conflict ("192.168.1.20:1234"),
	// with the description the router lists for it; Free is an external
	// port the router's list shows free, 0 if unknown.
	Holder            string
	HolderDescription string
	Free              uint16
}

// ListenerEvidence is what a connection to the program's own port from this
// host showed (expose --no-serve).
type ListenerEvidence struct {
	// OnLAN reports whether the program accepts connections on this host's
	// LAN address, where the router's forward arrives.
	OnLAN bool
	// OnLoopback reports whether it accepts them on 127.0.0.1.
	OnLoopback bool
}

// How a probe went through the public address.
const (
	ViaLoopback = "loopback"      // from this host, back in through the router (NAT loopback)
	ViaTURN     = "turn"          // from a TURN relay outside
	ViaOutside  = "outside-probe" // a reach check from outside arrived while hosting
	ViaSelf     = "self"          // from this host to its own public address: never crosses a network
)

// ProbeEvidence is one reach probe through a public address.
type ProbeEvidence struct {
	Target  netip.AddrPort
	Via     string
	Verdict Verdict
	Detail  string
	// From is the outside peer that sent it (ViaOutside).
	From netip.AddrPort
	RTT  time.Duration
}

// Evidence is every observation about the path from the internet to the
// user's program. Zero fields are unknown or not looked at.
type Evidence struct {
	// Port is the program's port on this host; ExternalPort the port the
	// internet should use (zero: Port); Protocol "tcp" or "udp" (empty:
	// tcp). Zero Port means "your port" (diagnose).
	Port, ExternalPort uint16
	Protocol           string
	// OwnProgram reports whether the user's own program serves the port
	// (expose --no-serve), which does not echo reach probes.
	OwnProgram bool

	// LocalIP is this host's address toward the gateway; Gateway the
	// default gateway, zero if there is none.
	LocalIP, Gateway netip.Addr
	// Looked reports whether the gateway was asked for mapping services.
	Looked bool
	// Services are the port-mapping services that answered on the gateway.
	Services []ServiceEvidence
	// Silent names the services that did not answer, with why.
	Silent map[string]string

	// Mapping is the outcome of the mapping request; nil if none was made
	// or asked (diagnose, a host with a public address).
	Mapping *MappingEvidence
	// ExternalAddr is the router's external address as the service that
	// made the mapping reported it.
	ExternalAddr netip.Addr

	// STUN is this host's public address as a STUN server saw it; zero if
	// unknown. STUNAsked reports whether any server was asked.
	STUN      netip.Addr
	STUNAsked bool
	// Hops are the first routers toward the internet.
	Hops []Hop

	// Listener is what a connection to the program showed; nil if not
	// looked at (reach's own server listens on every address).
	Listener *ListenerEvidence
	// Probes are the reach probes through a public address.
	Probes []ProbeEvidence

	// IPv6 is what reach learned and did over IPv6; nil if not looked at
	// (--ipv6 off).
	IPv6 *IPv6Evidence
	// IPv4Off reports that IPv4 was left out on purpose (--ipv6 only): no
	// mapping was asked for and no probe made over IPv4, so the verdict is
	// IPv6's alone.
	IPv4Off bool

	// Firewall is this host's own firewall as the system reports it; nil
	// if not looked at. GOOS names the system (runtime.GOOS), for the
	// exact step that allows the port.
	Firewall *FirewallState
	GOOS     string
}

func (e Evidence) extPort() uint16 {
	if e.Mapping != nil && e.Mapping.Made && e.Mapping.ExternalPort != 0 {
		return e.Mapping.ExternalPort
	}
	if e.ExternalPort != 0 {
		return e.ExternalPort
	}
	return e.Port
}

func (e Evidence) proto() string {
	if e.Protocol == "" {
		return "tcp"
	}
	return e.Protocol
}

// IPv6Evidence is the IPv6 side: no NAT, but a router firewall that drops
// unsolicited inbound packets until a pinhole is opened.
type IPv6Evidence struct {
	// Address is this host's IPv6 address toward the IPv6 internet; zero
	// if it has none. Global reports whether it is reachable from the
	// internet at all (not link-local, not ULA).
	Address netip.Addr
	Global  bool
	// Gateway is the IPv6 default gateway; zero if unknown.
	Gateway netip.Addr
	// Pinhole reports whether a pinhole was opened, with Method; Failure is
	// why not (one short line).
	Pinhole bool
	Method  string
	Failure string
	// Probes are the probes through the IPv6 address (an outside reach
	// check that arrived over IPv6).
	Probes []ProbeEvidence
}
