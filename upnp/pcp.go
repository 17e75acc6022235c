package upnp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// pcpThrowawayLifetime is the lifetime asked for the short-lived MAP that
// ExternalAddr makes to learn the external address; it is deleted at once,
// and this only bounds its life if the delete is lost.
const pcpThrowawayLifetime = 60 // seconds

// ErrPCPNoReply means the gateway did not answer a PCP request in time:
// PCP is off on the router, or the router does not speak it.
var ErrPCPNoReply = errors.New("upnp: no pcp reply from the gateway (PCP off or not supported)")

// ErrPCPUnknownNonce means Delete was asked to remove a PCP mapping that
// neither this client nor an earlier reach process on this host (whose
// nonces are kept in the cache directory) created. PCP lets only the holder of the mapping's nonce
// delete it; the mapping expires at the end of its lease.
var ErrPCPUnknownNonce = errors.New("upnp: pcp: reach did not create this mapping here, so it cannot delete it (PCP requires the creator's nonce); it expires at the end of its lease")

// PCP is a Port Control Protocol client (RFC 6887, MAP opcode) for one
// gateway. It meets Mapper. It remembers the nonce of every mapping it
// made, since renewing or deleting a mapping needs the same nonce. Its
// methods are safe for concurrent use.
type PCP struct {
	cfg   Config
	gw    netip.AddrPort
	local netip.Addr

	mu     sync.Mutex
	nonces map[pcpKey][pcpNonceLen]byte
	saved  pcpNonces // nonces of earlier processes (reach map, then unmap)
}

// pcpKey identifies a mapping of this host, as PCP does: protocol and
// internal port (the internal address is always the client's).
type pcpKey struct {
	proto byte
	port  uint16
}

// NewPCP returns a PCP client for gateway gw, on port cfg.NATPMPPort (zero
// means 5351). local is this host's address toward gw, sent in every
// request as the PCP client address; zero means the address the kernel
// uses to reach gw.
func NewPCP(cfg Config, gw, local netip.Addr) *PCP {
	return &PCP{
		cfg:    cfg,
		gw:     netip.AddrPortFrom(gw.Unmap(), pmpPort(cfg)),
		local:  local.Unmap(),
		nonces: make(map[pcpKey][pcpNonceLen]byte),
		saved:  newPCPNonces(cfg),
	}
}

// nonce returns the nonce of this host's mapping key: made by this client,
// or remembered from an earlier process.
func (c *PCP) nonce(local netip.Addr, key pcpKey) ([pcpNonceLen]byte, bool) {
	c.mu.Lock()
	nonce, ok := c.nonces[key]
	c.mu.Unlock()
	if ok {
		return nonce, true
	}
	return c.saved.load(nonceKey(c.gw, local, key))
}

// Method reports MethodPCP.
func (c *PCP) Method() Method { return MethodPCP }

// Probe reports whether the gateway answers PCP, with an ANNOUNCE request
// (it creates no mapping) and a short timeout. A router that speaks only
// NAT-PMP answers with a *PCPError of code PCPUnsuppVersion.
func (c *PCP) Probe(ctx context.Context) error {
	local, err := c.localAddr()
	if err != nil {
		return err
	}
	return c.exchange(ctx, "announce", local, nil, pcpAnnounceRequest(local), pcpOpAnnounce, nil, orDefault(c.cfg.probeTimeout, pmpProbeTimeout), nil)
}

// ExternalAddr learns the router's external address. PCP has no request
// for it alone: the address comes in a MAP reply. So ExternalAddr maps the
// UDP port of its own, freshly opened socket (nothing else can use that
// port, and reach reads nothing but the gateway's replies on it) with a
// short lifetime, reads the assigned address, and deletes the mapping at
// once with the same nonce. Reading it afresh each time, rather than
// caching it from Add, keeps a changed WAN address from going unnoticed.
func (c *PCP) ExternalAddr(ctx context.Context) (netip.Addr, error) {
	local, err := c.localAddr()
	if err != nil {
		return netip.Addr{}, err
	}
	conn, err := pmpListen(local, c.gw)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("upnp: pcp external address via %s: %w", c.gw, err)
	}
	defer conn.Close()
	req := pcpMapRequest{Protocol: pcpProtoUDP, InternalPort: uint16(conn.LocalAddr().(*net.UDPAddr).Port), Lifetime: pcpThrowawayLifetime}
	if _, err := rand.Read(req.Nonce[:]); err != nil {
		return netip.Addr{}, fmt.Errorf("upnp: pcp: nonce: %w", err)
	}
	what := fmt.Sprintf("external address (short-lived map of udp port %d)", req.InternalPort)
	var reply pcpReply
	if err := c.exchange(ctx, what, local, conn, req.encode(local), pcpOpMap, &req, pmpOpTimeout, &reply); err != nil {
		return netip.Addr{}, err
	}
	req.Lifetime = 0
	if err := c.exchange(ctx, "delete short-lived map", local, conn, req.encode(local), pcpOpMap, &req, pmpOpTimeout, nil); err != nil {
		c.cfg.logf("upnp: pcp: could not delete the short-lived mapping of udp port %d (it expires in %ds): %v", req.InternalPort, pcpThrowawayLifetime, trimPrefix(err))
	}
	return c.external(reply.ExternalIP), nil
}

// external is the address a MAP reply carried, or the unspecified IPv4
// address (for an IPv4 gateway) when it cannot be a public one.
func (c *PCP) external(a netip.Addr) netip.Addr {
	ext, ok := usableExternal(a)
	if !ok {
		if a.IsValid() && !a.IsUnspecified() {
			c.cfg.logf("upnp: pcp: router %s reports external address %s, which is no public address: treated as none", c.gw.Addr(), a)
		}
		if c.gw.Addr().Is4() {
			return netip.IPv4Unspecified()
		}
	}
	return ext
}

// Add asks for m with a MAP request; renewing a mapping this client made
// reuses its nonce. The internal address is always this host's (a
// different m.InternalIP is an error); a zero m.ExternalPort asks for the
// internal port. The router may grant another external port and a
// shorter lease; the returned Mapping says what it granted.
func (c *PCP) Add(ctx context.Context, m Mapping) (Mapping, error) {
	got, _, err := c.addExternal(ctx, m)
	return got, err
}

// addExternal is Add that also returns the external address the MAP reply
// carried.
func (c *PCP) addExternal(ctx context.Context, m Mapping) (Mapping, netip.Addr, error) {
	got, reply, err := c.add(ctx, m)
	if err != nil {
		return got, netip.Addr{}, err
	}
	return got, c.external(reply.ExternalIP), nil
}

func (c *PCP) add(ctx context.Context, m Mapping) (Mapping, pcpReply, error) {
	proto, err := pcpProto(m.Protocol)
	if err != nil {
		return Mapping{}, pcpReply{}, err
	}
	local, err := c.localAddr()
	if err != nil {
		return Mapping{}, pcpReply{}, err
	}
	if m.InternalIP.IsValid() && m.InternalIP.Unmap() != local {
		return Mapping{}, pcpReply{}, fmt.Errorf("upnp: pcp: can map ports only to this host's address %s, not %s", local, m.InternalIP)
	}
	if m.ExternalPort == 0 {
		m.ExternalPort = m.InternalPort
	}
	key := pcpKey{proto, m.InternalPort}
	nonce, ok := c.nonce(local, key)
	if !ok {
		if _, err := rand.Read(nonce[:]); err != nil {
			return Mapping{}, pcpReply{}, fmt.Errorf("upnp: pcp: nonce: %w", err)
		}
	}
	req := pcpMapRequest{Nonce: nonce, Protocol: proto, InternalPort: m.InternalPort, ExternalPort: m.ExternalPort, Lifetime: pmpLifetime(m.Lease)}
	what := fmt.Sprintf("add mapping %d/%s -> %s", m.ExternalPort, m.Protocol, netip.AddrPortFrom(local, m.InternalPort))
	var reply pcpReply
	if err := c.exchange(ctx, what, local, nil, req.encode(local), pcpOpMap, &req, pmpOpTimeout, &reply); err != nil {
		return Mapping{}, pcpReply{}, err
	}
	if reply.Lifetime == 0 || reply.ExternalPort == 0 {
		return Mapping{}, pcpReply{}, fmt.Errorf("upnp: pcp %s on %s: the router granted no mapping (external port %d, lifetime %v)",
			what, c.gw.Addr(), reply.ExternalPort, reply.Lifetime)
	}
	c.mu.Lock()
	c.nonces[key] = nonce
	c.mu.Unlock()
	c.saved.store(nonceKey(c.gw, local, key), nonce)
	granted := m
	granted.InternalIP = local
	granted.ExternalPort = reply.ExternalPort
	granted.Lease = reply.Lifetime
	granted.Enabled = true
	return granted, reply, nil
}

// Delete removes a mapping this client made, sending lifetime 0 with the
// nonce it was created with. For a mapping it did not make, it returns
// ErrPCPUnknownNonce without sending anything.
func (c *PCP) Delete(ctx context.Context, m Mapping) error {
	proto, err := pcpProto(m.Protocol)
	if err != nil {
		return err
	}
	local, err := c.localAddr()
	if err != nil {
		return err
	}
	key := pcpKey{proto, m.InternalPort}
	nonce, ok := c.nonce(local, key)
	what := fmt.Sprintf("delete mapping %d/%s -> %s", m.ExternalPort, m.Protocol, netip.AddrPortFrom(m.InternalIP, m.InternalPort))
	if !ok {
		return fmt.Errorf("upnp: pcp %s: %w", what, ErrPCPUnknownNonce)
	}
	req := pcpMapRequest{Nonce: nonce, Protocol: proto, InternalPort: m.InternalPort}
	if err := c.exchange(ctx, what, local, nil, req.encode(local), pcpOpMap, &req, pmpOpTimeout, nil); err != nil {
		return err
	}
	c.mu.Lock()
	delete(c.nonces, key)
	c.mu.Unlock()
	c.saved.forget(nonceKey(c.gw, local, key))
	return nil
}

// localAddr returns the client address to put in requests: the configured
// one, or the one the kernel picks toward the gateway (a UDP "connect"
// sends nothing).
func (c *PCP) localAddr() (netip.Addr, error) {
	if c.local.IsValid() {
		return c.local, nil
	}
	return pmpRouteSource(c.gw)
}

// exchange sends req (opcode op) on conn, or on a new socket bound to local
// when conn is nil, and parses the reply into *out when out is not nil.
func (c *PCP) exchange(ctx context.Context, what string, local netip.Addr, conn *net.UDPConn, req []byte, op byte,
	want *pcpMapRequest, total time.Duration, out *pcpReply) error {
	accept := func(b []byte) (bool, error) {
		r, err := parsePCPReply(b, op, want)
		if err == nil && out != nil {
			*out = r
		}
		return !errors.Is(err, errPCPMalformed), err
	}
	start := time.Now()
	var err error
	if conn != nil {
		err = pmpExchangeOn(ctx, &c.cfg, conn, c.gw, req, total, accept)
	} else {
		err = pmpExchange(ctx, &c.cfg, local, c.gw, req, total, accept)
	}
	return pmpError("pcp", what, c.gw, start, err, ErrPCPNoReply)
}
