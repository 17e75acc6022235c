package upnp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"
)

const (
	// DefaultDescription is the UPnP description of reach's mappings when
	// Mapping.Description is empty.
	DefaultDescription = "reach"
	// maxLeaseSeconds is the longest lease IGD v2 allows (one week); v1
	// routers accept it too. Longer requests are capped to it.
	maxLeaseSeconds = 604800
	// maxMappingEntries caps the GetGenericPortMappingEntry walk, so a
	// router that never says "end of list" cannot keep us looping.
	maxMappingEntries = 1024
)

// upnpProtocol spells p the way UPnP wants it.
func upnpProtocol(p Protocol) (string, error) {
	switch p {
	case TCP:
		return "TCP", nil
	case UDP:
		return "UDP", nil
	}
	return "", fmt.Errorf("upnp: protocol %q: use %q or %q", p, TCP, UDP)
}

// normalize fills in m's defaults (external port = internal port, internal
// IP = this host, description "reach") and checks it.
func (g *IGD) normalize(m Mapping) (Mapping, string, error) {
	proto, err := upnpProtocol(m.Protocol)
	if err != nil {
		return m, "", err
	}
	if m.ExternalPort == 0 {
		m.ExternalPort = m.InternalPort
	}
	if m.ExternalPort == 0 {
		return m, "", errors.New("upnp: mapping has no internal port")
	}
	if !m.InternalIP.IsValid() {
		m.InternalIP = g.local
	}
	m.InternalIP = m.InternalIP.Unmap()
	if m.Description == "" {
		m.Description = DefaultDescription
	}
	return m, proto, nil
}

// igdLeaseSeconds converts a lease to UPnP seconds, capped to one week.
func igdLeaseSeconds(d time.Duration) uint32 {
	if d <= 0 {
		return 0
	}
	s := math.Ceil(d.Seconds())
	if s > maxLeaseSeconds {
		return maxLeaseSeconds
	}
	return uint32(s)
}

// what describes m for error messages: "1234/tcp -> 192.168.1.10:1234".
func what(m Mapping) string {
	return fmt.Sprintf("%d/%s -> %s:%d", m.ExternalPort, m.Protocol, m.InternalIP, m.InternalPort)
}

// Add creates m on the router, or refreshes it if this host already holds
// it, and returns the mapping as the router then reports it. A zero
// ExternalPort means the internal port, a zero InternalIP this host. If the
// router refuses a lease (UPnP 725 OnlyPermanentLeasesSupported, or 402
// Invalid Args from routers that cannot parse one) Add retries with lease 0
// and the returned Lease is 0. A router that rewrote the internal port of
// the entry (seen after refreshes) has it set back. A port held by another
// host gives a *ConflictError naming it; other refusals a *SOAPError with
// advice.
func (g *IGD) Add(ctx context.Context, m Mapping) (Mapping, error) {
	got, _, err := g.addChecked(ctx, m)
	return got, err
}

// addChecked is Add that also reports whether the router had rewritten the
// entry's internal port and Add set it back.
func (g *IGD) addChecked(ctx context.Context, m Mapping) (Mapping, bool, error) {
	m, proto, err := g.normalize(m)
	if err != nil {
		return Mapping{}, false, err
	}
	if err := g.checkTakeover(ctx, m, proto); err != nil {
		return Mapping{}, false, g.mapError("add mapping", m, err)
	}
	lease := igdLeaseSeconds(m.Lease)
	err = g.add(ctx, m, proto, lease)
	if code := faultCode(err); lease != 0 && (code == CodeOnlyPermanentLeases || code == CodeInvalidArgs) {
		g.note("refuses leased mappings (UPnP %d %s): reach maps with lease 0 (permanent) and removes them itself", code, soapCodeName(code))
		lease = 0
		err = g.add(ctx, m, proto, lease)
	}
	if err != nil && faultCode(err) == CodeConflict {
		err = g.resolveConflict(ctx, m, proto, lease)
	}
	if err != nil {
		return Mapping{}, false, g.mapError("add mapping", m, err)
	}
	got, repaired, err := g.granted(ctx, m, proto, lease)
	if err != nil {
		return Mapping{}, false, g.mapError("add mapping", m, err)
	}
	return got, repaired, nil
}

func (g *IGD) add(ctx context.Context, m Mapping, proto string, lease uint32) error {
	g.forgetLookup()
	err := g.conn.AddPortMappingCtx(ctx, "", m.ExternalPort, proto, m.InternalPort, m.InternalIP.String(), true, m.Description, lease)
	return g.stepErr("AddPortMapping", err)
}

// checkTakeover refuses to overwrite a mapping this host already holds on
// the port for another program (another internal port or description):
// routers let the same client overwrite its entries, and reach would then
// delete that program's mapping on exit. Refreshing reach's own mapping,
// same internal port and description, is fine.
func (g *IGD) checkTakeover(ctx context.Context, m Mapping, proto string) error {
	var e Mapping
	var err error
	if l := g.lookedUp(m.ExternalPort, proto); l != nil {
		e, err = l.e, l.err
	} else {
		e, err = g.entry(ctx, m.ExternalPort, m.Protocol, proto)
	}
	if err != nil {
		return nil // no entry (714), or a router that cannot say: AddPortMapping decides
	}
	if e.InternalIP == m.InternalIP && (e.InternalPort != m.InternalPort || e.Description != m.Description) {
		return &ConflictError{Holder: e}
	}
	return nil
}

// resolveConflict handles UPnP 718: if this host holds the port for the
// same internal port, the old entry is replaced (a refresh, for routers
// that refuse to overwrite); otherwise it names the holder.
func (g *IGD) resolveConflict(ctx context.Context, m Mapping, proto string, lease uint32) error {
	holder, err := g.entry(ctx, m.ExternalPort, m.Protocol, proto)
	if err != nil {
		g.cfg.logf("upnp: port %d/%s is taken on %s and the router would not say by whom: %v", m.ExternalPort, m.Protocol, g.gw, err)
		return &ConflictError{Holder: Mapping{Protocol: m.Protocol, ExternalPort: m.ExternalPort}}
	}
	if holder.InternalIP != m.InternalIP || holder.InternalPort != m.InternalPort {
		return &ConflictError{Holder: holder}
	}
	if err := g.conn.DeletePortMappingCtx(ctx, "", m.ExternalPort, proto); err != nil && faultCode(err) != CodeNoSuchEntry {
		return g.stepErr("DeletePortMapping", err)
	}
	return g.add(ctx, m, proto, lease)
}

// granted reads back the entry just added, for the lease the router really
// gave; a router that cannot say is taken at its word. An entry for this
// host whose internal port the router changed (some rewrite it to the
// external port when a mapping is refreshed) is deleted and added again
// once; repaired reports that it was, and an entry still wrong after that
// is an error.
func (g *IGD) granted(ctx context.Context, m Mapping, proto string, lease uint32) (got Mapping, repaired bool, err error) {
	m.Lease = time.Duration(lease) * time.Second
	m.Enabled = true
	e, err := g.entry(ctx, m.ExternalPort, m.Protocol, proto)
	if err != nil {
		g.cfg.logf("upnp: could not read back %s from %s: %v", what(m), g.gw, err)
		return m, false, nil
	}
	if e.InternalIP == m.InternalIP && e.InternalPort != m.InternalPort {
		g.note("rewrote the internal port of %d/%s to %d (asked %d): reach deletes and re-adds such a mapping",
			m.ExternalPort, m.Protocol, e.InternalPort, m.InternalPort)
		if err := g.conn.DeletePortMappingCtx(ctx, "", m.ExternalPort, proto); err != nil && faultCode(err) != CodeNoSuchEntry {
			return Mapping{}, false, g.stepErr("DeletePortMapping", err)
		}
		if err := g.add(ctx, m, proto, lease); err != nil {
			return Mapping{}, false, err
		}
		if e, err = g.entry(ctx, m.ExternalPort, m.Protocol, proto); err != nil {
			g.cfg.logf("upnp: could not read back %s from %s: %v", what(m), g.gw, err)
			return m, true, nil
		}
		if e.InternalIP == m.InternalIP && e.InternalPort != m.InternalPort {
			return Mapping{}, false, fmt.Errorf("the router forwards the port to internal port %d, not %d, even after re-adding it", e.InternalPort, m.InternalPort)
		}
		repaired = true
	}
	if e.InternalIP == m.InternalIP && e.InternalPort == m.InternalPort {
		m.Enabled = e.Enabled
		if e.Lease > 0 { // many routers report 0 for a leased entry: keep what was granted
			m.Lease = e.Lease
		}
	}
	return m, repaired, nil
}

// entry asks the router who holds external port ext (GetSpecificPortMappingEntry).
func (g *IGD) entry(ctx context.Context, ext uint16, p Protocol, proto string) (Mapping, error) {
	port, client, enabled, desc, lease, err := g.conn.GetSpecificPortMappingEntryCtx(ctx, "", ext, proto)
	if err != nil {
		return Mapping{}, g.stepErr("GetSpecificPortMappingEntry", err)
	}
	ip, _ := netip.ParseAddr(strings.TrimSpace(client)) // not an IP: zero, never "this host"
	return Mapping{Protocol: p, ExternalPort: ext, InternalIP: ip.Unmap(), InternalPort: port,
		Description: desc, Lease: time.Duration(lease) * time.Second, Enabled: enabled}, nil
}

// Delete removes this host's mapping on m's external port and protocol. It
// first asks the router who holds the port: ErrNoSuchMapping if nobody, a
// *NotOursError (matching ErrNotOurs) if another host.
func (g *IGD) Delete(ctx context.Context, m Mapping) error {
	m, proto, err := g.normalize(m)
	if err != nil {
		return err
	}
	holder, err := g.entry(ctx, m.ExternalPort, m.Protocol, proto)
	if err != nil {
		return g.mapError("delete mapping", m, err)
	}
	if holder.InternalIP != m.InternalIP || (m.InternalPort != 0 && holder.InternalPort != m.InternalPort) {
		return fmt.Errorf("upnp: delete mapping %d/%s on %s: %w", m.ExternalPort, m.Protocol, g.gw, &NotOursError{Holder: holder, SameHost: holder.InternalIP == m.InternalIP})
	}
	g.forgetLookup()
	if err := g.conn.DeletePortMappingCtx(ctx, "", m.ExternalPort, proto); err != nil {
		return g.mapError("delete mapping", m, g.stepErr("DeletePortMapping", err))
	}
	return nil
}

// mapError wraps err from operation op on mapping m, turning "no such
// entry" (UPnP 714) into ErrNoSuchMapping. An HTTP error comes first (its
// action says what reach asked), the mapping after it, so that a one-line
// summary of the error keeps the HTTP status.
func (g *IGD) mapError(op string, m Mapping, err error) error {
	if faultCode(err) == CodeNoSuchEntry {
		return &taggedError{msg: fmt.Sprintf("upnp: %s %d/%s on %s: the router holds no mapping on that port (UPnP 714)",
			op, m.ExternalPort, m.Protocol, g.gw), sentinel: ErrNoSuchMapping}
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return &wrapped{msg: fmt.Sprintf("upnp: %s (mapping %s on %s)", trimPrefix(err), what(m), g.gw), err: err}
	}
	return fmt.Errorf("upnp: %s %s on %s: %w", op, what(m), g.gw, err)
}

// Mappings lists every mapping the router holds (GetGenericPortMappingEntry
// from index 0 until the router says the list ended), of any host. A router
// that refuses partway gives the entries read so far.
func (g *IGD) Mappings(ctx context.Context) ([]Mapping, error) {
	var out []Mapping
	for i := 0; i < maxMappingEntries; i++ {
		_, ext, proto, intPort, client, enabled, desc, lease, err := g.conn.GetGenericPortMappingEntryCtx(ctx, uint16(i))
		if err != nil {
			code := faultCode(err)
			switch {
			case code == CodeArrayIndexInvalid || code == CodeNoSuchEntry:
				return out, nil
			case code != 0 && i > 0:
				g.cfg.logf("upnp: router %s stopped listing mappings at entry %d: %v", g.gw, i, g.stepErr("GetGenericPortMappingEntry", err))
				return out, nil
			}
			return out, fmt.Errorf("upnp: list mappings on %s: %w", g.gw, g.stepErr("GetGenericPortMappingEntry", err))
		}
		ip, _ := netip.ParseAddr(strings.TrimSpace(client))
		out = append(out, Mapping{Protocol: Protocol(strings.ToLower(proto)), ExternalPort: ext, InternalIP: ip.Unmap(),
			InternalPort: intPort, Description: desc, Lease: time.Duration(lease) * time.Second, Enabled: enabled})
	}
	g.cfg.logf("upnp: router %s lists more than %d mappings; showing the first %d", g.gw, maxMappingEntries, maxMappingEntries)
	return out, nil
}

// ExternalAddr returns the router's WAN address (GetExternalIPAddress). An
// empty answer, which routers give when the WAN is down, is the unspecified
// address, not an error; so is an address that cannot be anyone's public
// one (0.0.0.0, loopback, link-local), which some routers report while
// they call their WAN connected.
func (g *IGD) ExternalAddr(ctx context.Context) (netip.Addr, error) {
	ext, _, err := g.externalAddr(ctx)
	return ext, err
}

// externalAddr is ExternalAddr that also returns the address as the router
// reported it, when that is not the one returned (it cannot be public).
func (g *IGD) externalAddr(ctx context.Context) (netip.Addr, string, error) {
	s, err := g.conn.GetExternalIPAddressCtx(ctx)
	if err != nil {
		return netip.Addr{}, "", g.actionError("GetExternalIPAddress", err)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.IPv4Unspecified(), "", nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, "", fmt.Errorf("upnp: router %s reports external address %q, which is not an IP address: %w", g.gw, s, err)
	}
	ext, ok := usableExternal(a)
	if !ok && !a.IsUnspecified() {
		g.note("reports external address %s, which is no public address: reach treats it as none", a)
		return ext, s, nil
	}
	return ext, "", nil
}

// Holds reports whether the router forwards m's external port and
// protocol to m's internal address and port (one
// GetSpecificPortMappingEntry; "no such entry" is false, not an error).
func (g *IGD) Holds(ctx context.Context, m Mapping) (bool, error) {
	m, proto, err := g.normalize(m)
	if err != nil {
		return false, err
	}
	e, err := g.entry(ctx, m.ExternalPort, m.Protocol, proto)
	g.remember(m.ExternalPort, proto, e, err)
	if faultCode(err) == CodeNoSuchEntry {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return e.InternalIP == m.InternalIP && e.InternalPort == m.InternalPort, nil
}

// lookupFresh is how long Holds' answer stands in for the look-up the
// next Add makes before it adds (checkTakeover): a session asks Holds
// right before mapping, and the router answers the same question twice
// otherwise (a round trip, 2-10 ms on a home router). The check is a
// snapshot either way; a few milliseconds more of it change nothing.
const lookupFresh = time.Second

// lookup is one GetSpecificPortMappingEntry answer: the entry, or the
// error (no such entry, or a router that cannot say).
type lookup struct {
	ext   uint16
	proto string
	e     Mapping
	err   error
	at    time.Time
}

// remember keeps Holds' answer for the Add that follows.
func (g *IGD) remember(ext uint16, proto string, e Mapping, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.looked = &lookup{ext: ext, proto: proto, e: e, err: err, at: time.Now()}
}

// lookedUp hands over a fresh remembered answer for ext and proto, once.
// It is nil when there is none.
func (g *IGD) lookedUp(ext uint16, proto string) *lookup {
	g.mu.Lock()
	defer g.mu.Unlock()
	l := g.looked
	g.looked = nil
	if l == nil || l.ext != ext || l.proto != proto || time.Since(l.at) > orDefault(g.cfg.lookupFresh, lookupFresh) {
		return nil
	}
	return l
}

// forgetLookup drops a remembered answer: the table is about to change.
func (g *IGD) forgetLookup() {
	g.mu.Lock()
	g.looked = nil
	g.mu.Unlock()
}
