package lab

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Topology is what stands between the PC and the internet.
type Topology int

// The topologies a lab can build.
const (
	// Public puts the router's WAN (11.0.0.2) directly on the internet.
	Public Topology = iota
	// DoubleNAT puts the router's WAN (192.168.0.2) behind a modem
	// (192.168.0.1) that masquerades to its own public address 11.0.0.3.
	// miniupnpd 2.3.1 then reports an empty external address, refuses
	// UPnP mappings (501) and answers NAT-PMP/PCP with a network failure;
	// only the hop beyond the router (192.168.0.1 answers a TTL-2 probe)
	// tells double NAT from CGNAT.
	DoubleNAT
	// CGNAT puts the router's WAN (100.64.0.2) behind a carrier NAT
	// (100.64.0.1) that masquerades to 11.0.0.4.
	CGNAT
	// PublicHost is a cloud VM: the PC's own interface holds the public
	// address 11.0.1.10/24 (Dev2 is its neighbour 11.0.1.20), and its
	// default gateway 11.0.1.1 is the provider's router, which routes
	// 11.0.1.0/24 to and from its uplink 11.0.0.2 with no NAT and no
	// firewall and runs no mapping service: SSDP goes unanswered and
	// NAT-PMP/PCP get ICMP port unreachable. The internet host reaches the
	// PC's ports directly; hops toward it are 11.0.1.1, then 11.0.0.1.
	// It implies NoService and allows no UPnP, NATPMP, IGDv1, Loopback or
	// Forwards: there is no NAT to map through.
	PublicHost
)

// String names the topology as reach's diagnose verdict does ("none" for
// PublicHost: no NAT).
func (t Topology) String() string {
	switch t {
	case Public:
		return "public"
	case DoubleNAT:
		return "double-nat"
	case CGNAT:
		return "cgnat"
	case PublicHost:
		return "none"
	}
	return fmt.Sprintf("Topology(%d)", int(t))
}

// Options choose the router and the path to the internet. Exactly one of
// NoService or (UPnP and/or NATPMP) must be set, except with PublicHost,
// which implies NoService.
type Options struct {
	// Topology is what stands between the PC and the internet; zero means
	// Public.
	Topology Topology
	// UPnP turns on miniupnpd's UPnP IGD (v2 unless IGDv1).
	UPnP bool
	// NATPMP turns on miniupnpd's NAT-PMP and PCP (one switch in 2.3.1).
	NATPMP bool
	// NoService runs no miniupnpd at all: a router without port mapping.
	NoService bool
	// IGDv1 makes miniupnpd describe itself as an IGDv1 device.
	IGDv1 bool
	// Loopback makes the router hairpin: LAN packets to its WAN address go
	// through its port forwards (miniupnpd's and Forwards) like packets
	// from the internet.
	Loopback bool
	// Forwards are port forwards set by hand in the router's settings, with
	// any service or none: DNAT from the router's WAN to a LAN host plus a
	// forward accept, in place from the start. They outlast RestartRouter
	// (a router keeps its settings) and come before miniupnpd's mappings.
	// Behind DoubleNAT or CGNAT they forward only what reaches the router.
	Forwards []Forward
	// NoSTUN starts no STUN server: the internet host (still 11.0.0.1, still
	// the end of a hop probe, which it answers with port unreachable) sends
	// no STUN answer; reach's STUN client sees none in time.
	NoSTUN bool
	// TURNUDPOnly makes the TURN relay refuse TCP allocations (442), as
	// many public TURN servers do; UDP relays still work.
	TURNUDPOnly bool
	// IPv6 adds native IPv6 (no NAT66) beside the IPv4 setup: PCAddr6 on
	// 2001:db8:1::/64 behind RouterLAN6, the router's WAN RouterWAN6, the
	// internet host InetAddr6. The router's firewall drops unsolicited
	// inbound IPv6 until miniupnpd (which then serves IPv6 too) opens a
	// pinhole; a modem or carrier box in front routes IPv6 unfiltered. See
	// ipv6.go.
	IPv6 bool
}

// Forward is one port forward set by hand on the router.
type Forward struct {
	// Proto is "tcp" or "udp".
	Proto string
	// ExternalPort is the port on the router's WAN address (1-65535).
	ExternalPort uint16
	// InternalIP is the LAN host forwarded to; empty means PCAddr.
	InternalIP string
	// InternalPort is the port on that host; zero means ExternalPort.
	InternalPort uint16
}

// String is the forward as a router's settings page shows it:
// "1234/tcp -> 192.168.1.10:1234", with the defaults filled in.
func (f Forward) String() string {
	f = f.withDefaults()
	return fmt.Sprintf("%d/%s -> %s:%d", f.ExternalPort, f.Proto, f.InternalIP, f.InternalPort)
}

// withDefaults fills in InternalIP and InternalPort.
func (f Forward) withDefaults() Forward {
	if f.InternalIP == "" {
		f.InternalIP = PCAddr
	}
	if f.InternalPort == 0 {
		f.InternalPort = f.ExternalPort
	}
	return f
}

// lanNet is the home LAN behind the router.
var lanNet = netip.MustParsePrefix(lanPrefix)

func (o Options) validate() error {
	if o.TURNUDPOnly && o.NoSTUN {
		return errors.New("lab: TURNUDPOnly with NoSTUN: NoSTUN runs no TURN relay")
	}
	switch o.Topology {
	case Public, DoubleNAT, CGNAT:
	case PublicHost:
		return o.validatePublicHost()
	default:
		return fmt.Errorf("lab: unknown topology %d", int(o.Topology))
	}
	if o.NoService && (o.UPnP || o.NATPMP || o.IGDv1) {
		return errors.New("lab: NoService with UPnP, NATPMP or IGDv1 set: choose one")
	}
	if !o.NoService && !o.UPnP && !o.NATPMP {
		return errors.New("lab: no mapping service chosen: set UPnP and/or NATPMP, or NoService")
	}
	if o.IGDv1 && !o.UPnP {
		return errors.New("lab: IGDv1 needs UPnP")
	}
	seen := make(map[string]bool)
	for _, f := range o.Forwards {
		if err := f.validate(); err != nil {
			return err
		}
		key := fmt.Sprintf("%d/%s", f.ExternalPort, f.Proto)
		if seen[key] {
			return fmt.Errorf("lab: forward %s: port %s forwarded twice", f, key)
		}
		seen[key] = true
	}
	return nil
}

// validatePublicHost refuses what needs a NAT router in front of the PC.
func (o Options) validatePublicHost() error {
	var set []string
	for _, opt := range []struct {
		name string
		on   bool
	}{
		{"UPnP", o.UPnP}, {"NATPMP", o.NATPMP}, {"IGDv1", o.IGDv1},
		{"Loopback", o.Loopback}, {"Forwards", len(o.Forwards) > 0},
	} {
		if opt.on {
			set = append(set, opt.name)
		}
	}
	if len(set) > 0 {
		return fmt.Errorf("lab: PublicHost has no NAT router, so nothing to map, forward or loop back: unset %s", strings.Join(set, ", "))
	}
	return nil
}

func (f Forward) validate() error {
	if f.Proto != "tcp" && f.Proto != "udp" {
		return fmt.Errorf("lab: forward %s: protocol %q, want \"tcp\" or \"udp\"", f, f.Proto)
	}
	if f.ExternalPort == 0 {
		return fmt.Errorf("lab: forward %s: external port 0", f)
	}
	f = f.withDefaults()
	ip, err := netip.ParseAddr(f.InternalIP)
	if err != nil || !ip.Is4() {
		return fmt.Errorf("lab: forward %s: internal address %q is not an IPv4 address", f, f.InternalIP)
	}
	broadcast := netip.AddrFrom4([4]byte{192, 168, 1, 255})
	if !lanNet.Contains(ip) || ip == lanNet.Addr() || ip == broadcast || ip.String() == RouterLAN {
		return fmt.Errorf("lab: forward %s: internal address %s is not a LAN host of %s (nor the router %s)", f, ip, lanPrefix, RouterLAN)
	}
	return nil
}
