package upnp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"
)

// DefaultNATPMPPort is the UDP port NAT-PMP and PCP servers listen on.
const DefaultNATPMPPort = 5351

// ErrNATPMPNoReply means the gateway did not answer a NAT-PMP request in
// time: NAT-PMP is off on the router, or the router does not speak it.
var ErrNATPMPNoReply = errors.New("upnp: no nat-pmp reply from the gateway (NAT-PMP off or not supported)")

// NATPMP is a NAT-PMP client (RFC 6886) for one gateway. It meets Mapper.
// Its methods are safe for concurrent use.
type NATPMP struct {
	cfg   Config
	gw    netip.AddrPort
	local netip.Addr
}

// NewNATPMP returns a NAT-PMP client for gateway gw, on port
// cfg.NATPMPPort (zero means 5351). Requests leave from cfg.LocalIP (zero
// means the address the kernel uses to reach gw): NAT-PMP maps ports to the
// address a request comes from. Replies from any address but gw are
// ignored and reported through cfg.Logf.
func NewNATPMP(cfg Config, gw netip.Addr) *NATPMP {
	return &NATPMP{cfg: cfg, gw: netip.AddrPortFrom(gw.Unmap(), pmpPort(cfg)), local: cfg.LocalIP.Unmap()}
}

func pmpPort(cfg Config) uint16 {
	if cfg.NATPMPPort > 0 && cfg.NATPMPPort <= math.MaxUint16 {
		return uint16(cfg.NATPMPPort)
	}
	return DefaultNATPMPPort
}

// Method reports MethodNATPMP.
func (c *NATPMP) Method() Method { return MethodNATPMP }

// Probe reports whether the gateway answers NAT-PMP, by asking its external
// address with a short timeout. A reply with a non-zero result code (for
// example 3, no external address) still proves that NAT-PMP answers; Probe
// returns it as a *NATPMPError so the caller can tell the two apart.
func (c *NATPMP) Probe(ctx context.Context) error {
	_, err := c.externalAddr(ctx, orDefault(c.cfg.probeTimeout, pmpProbeTimeout))
	return err
}

// ExternalAddr asks the gateway for its external IPv4 address.
func (c *NATPMP) ExternalAddr(ctx context.Context) (netip.Addr, error) {
	return c.externalAddr(ctx, pmpOpTimeout)
}

func (c *NATPMP) externalAddr(ctx context.Context, total time.Duration) (netip.Addr, error) {
	var reply natpmpExternalReply
	err := c.exchange(ctx, "external address request", c.local, natpmpExternalRequest(), total, func(b []byte) error {
		var err error
		reply, err = parseNATPMPExternal(b)
		return err
	})
	if err != nil {
		return netip.Addr{}, err
	}
	ext, ok := usableExternal(reply.Addr)
	if !ok && !reply.Addr.IsUnspecified() {
		c.cfg.logf("upnp: nat-pmp: router %s reports external address %s, which is no public address: treated as none", c.gw.Addr(), reply.Addr)
	}
	return ext, nil
}

// Add asks for m. NAT-PMP maps to the address the request comes from, so
// the request leaves from m.InternalIP (zero means this host's address
// toward the gateway), which must be an address of this host. A zero
// m.ExternalPort asks for the internal port. The gateway may grant another
// external port and a shorter lease; the returned Mapping says what it
// granted. A zero m.Lease asks for the longest lease NAT-PMP can express.
func (c *NATPMP) Add(ctx context.Context, m Mapping) (Mapping, error) {
	op, err := natpmpOp(m.Protocol)
	if err != nil {
		return Mapping{}, err
	}
	if m.InternalIP, err = c.source(m); err != nil {
		return Mapping{}, err
	}
	if m.ExternalPort == 0 {
		m.ExternalPort = m.InternalPort
	}
	lifetime := pmpLifetime(m.Lease)
	what := fmt.Sprintf("add mapping %d/%s -> %s:%d", m.ExternalPort, m.Protocol, m.InternalIP, m.InternalPort)
	var reply natpmpMapReply
	err = c.exchange(ctx, what, m.InternalIP, natpmpMapRequest(op, m.InternalPort, m.ExternalPort, lifetime), pmpOpTimeout, func(b []byte) error {
		var err error
		reply, err = parseNATPMPMap(b, op, m.InternalPort)
		return err
	})
	if err != nil {
		return Mapping{}, err
	}
	if reply.Lifetime == 0 || reply.ExternalPort == 0 {
		return Mapping{}, fmt.Errorf("upnp: nat-pmp %s on %s: the gateway granted no mapping (external port %d, lifetime %v)",
			what, c.gw.Addr(), reply.ExternalPort, reply.Lifetime)
	}
	granted := m
	granted.ExternalPort = reply.ExternalPort
	granted.Lease = reply.Lifetime
	granted.Enabled = true
	return granted, nil
}

// Delete removes this host's mapping of m.InternalPort/m.Protocol. NAT-PMP
// mappings are keyed on the requesting host, so it cannot remove another
// host's mapping.
func (c *NATPMP) Delete(ctx context.Context, m Mapping) error {
	op, err := natpmpOp(m.Protocol)
	if err != nil {
		return err
	}
	if m.InternalIP, err = c.source(m); err != nil {
		return err
	}
	what := fmt.Sprintf("delete mapping %d/%s -> %s:%d", m.ExternalPort, m.Protocol, m.InternalIP, m.InternalPort)
	return c.exchange(ctx, what, m.InternalIP, natpmpMapRequest(op, m.InternalPort, 0, 0), pmpOpTimeout, func(b []byte) error {
		_, err := parseNATPMPMap(b, op, m.InternalPort)
		return err
	})
}

// source returns the address a request about m leaves from: m.InternalIP,
// else the configured local address, else the kernel's choice toward gw.
func (c *NATPMP) source(m Mapping) (netip.Addr, error) {
	switch {
	case m.InternalIP.IsValid():
		return m.InternalIP.Unmap(), nil
	case c.local.IsValid():
		return c.local, nil
	}
	return pmpRouteSource(c.gw)
}

func (c *NATPMP) exchange(ctx context.Context, what string, local netip.Addr, req []byte, total time.Duration, parse func([]byte) error) error {
	start := time.Now()
	err := pmpExchange(ctx, &c.cfg, local, c.gw, req, total, func(b []byte) (bool, error) {
		err := parse(b)
		return !errors.Is(err, errNATPMPMalformed), err
	})
	return pmpError("nat-pmp", what, c.gw, start, err, ErrNATPMPNoReply)
}

// pmpLifetime converts a lease to the 32-bit lifetime of NAT-PMP and PCP;
// zero (permanent) becomes the longest lifetime they can express.
func pmpLifetime(d time.Duration) uint32 {
	s := d / time.Second
	if d <= 0 || s > math.MaxUint32 {
		return math.MaxUint32
	}
	if s == 0 {
		return 1
	}
	return uint32(s)
}
