// Package upnp finds the default gateway and the port-mapping services on it
// (UPnP IGD v1/v2, NAT-PMP, PCP) and adds, renews, lists and deletes port
// mappings through them. It never prints: progress and ignored devices are
// reported through Config.Logf.
package upnp

import (
	"context"
	"net/netip"
	"time"
)

// Protocol is a transport protocol of a mapping: "tcp" or "udp" (lowercase,
// as NAT-PMP and the CLI spell it; UPnP's "TCP"/"UDP" are derived from it).
type Protocol string

// The protocols a mapping can carry.
const (
	TCP Protocol = "tcp"
	UDP Protocol = "udp"
)

// Method names a port-mapping protocol, as reported in expose's ready event.
type Method string

// The mapping methods reach knows.
const (
	MethodIGD2   Method = "upnp-igd2"
	MethodIGD1   Method = "upnp-igd1"
	MethodNATPMP Method = "nat-pmp"
	MethodPCP    Method = "pcp"
	MethodNone   Method = "none"
)

// Mapping is one port forward on the router: ExternalPort/Protocol on the
// router's external address to InternalIP:InternalPort on the LAN.
type Mapping struct {
	Protocol     Protocol
	ExternalPort uint16
	InternalIP   netip.Addr
	InternalPort uint16
	// Description is the UPnP description; empty for NAT-PMP and PCP.
	Description string
	// Lease is the lifetime asked for (on Add) or granted/left (on return).
	// Zero means permanent.
	Lease time.Duration
	// Enabled is false for a UPnP entry the router lists as disabled.
	Enabled bool
}

// Mapper is a port-mapping service on the gateway. UPnP IGD, NAT-PMP and PCP
// all meet it, so expose, map and renewal do not care which one answered.
type Mapper interface {
	// Method tells which protocol (and IGD version) this service speaks.
	Method() Method
	// ExternalAddr returns the router's external (WAN) address as it reports
	// it. An unspecified or zero address means the router is not connected or
	// hides it.
	ExternalAddr(ctx context.Context) (netip.Addr, error)
	// Add creates or refreshes m and returns the mapping actually granted
	// (the lease may be shorter, or permanent after UPnP error 725; NAT-PMP
	// and PCP may grant another external port).
	Add(ctx context.Context, m Mapping) (Mapping, error)
	// Delete removes m. It never removes a mapping that belongs to another
	// host.
	Delete(ctx context.Context, m Mapping) error
}

// Lister is a Mapper that can enumerate the router's mappings (UPnP IGD).
type Lister interface {
	Mapper
	// Mappings lists every mapping the router holds, of any host.
	Mappings(ctx context.Context) ([]Mapping, error)
}
