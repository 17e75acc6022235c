package upnp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// pcpPinholer opens pinholes with PCP MAP requests carrying an IPv6
// internal address (RFC 6887): on an IPv6 firewall without NAT the router
// grants the internal port as the external one, on the host's own
// address. It is a pinholer; the PCP client keeps the nonce a renewal and
// the delete need (also across processes, in the cache directory).
type pcpPinholer struct {
	pcp *PCP
}

func (c *pcpPinholer) method() PinholeMethod { return PinholePCP }

// open sends MAP for p.Port from p.Addr, suggesting the same port.
func (c *pcpPinholer) open(ctx context.Context, p Pinhole) (Pinhole, error) {
	got, ext, err := c.pcp.addExternal(ctx, Mapping{Protocol: p.Protocol, InternalIP: p.Addr, InternalPort: p.Port,
		ExternalPort: p.Port, Lease: p.Lease})
	if err != nil {
		return Pinhole{}, err
	}
	if got.ExternalPort != p.Port || (ext.IsValid() && !ext.IsUnspecified() && ext != p.Addr) {
		// A NAT66 or NPTv6 router: the pinhole is not where the host is.
		// Take it back rather than report an address nobody can reach.
		if derr := c.pcp.Delete(ctx, got); derr != nil {
			c.pcp.cfg.logf("upnp: pcp: could not delete the mapping to [%s]:%d: %v", p.Addr, got.ExternalPort, trimPrefix(derr))
		}
		return Pinhole{}, fmt.Errorf("upnp: pcp pinhole %s on %s: the router mapped it to [%s]:%d, not to the host's own address and port (IPv6 NAT): refused",
			p, c.pcp.gw.Addr(), ext, got.ExternalPort)
	}
	p.Lease = got.Lease
	return p, nil
}

// update is open again: PCP renews a mapping by repeating the MAP with
// its nonce. A router that lost the pinhole simply makes it again.
func (c *pcpPinholer) update(ctx context.Context, p Pinhole) (Pinhole, error) {
	return c.open(ctx, p)
}

// close sends MAP with lifetime 0 and the pinhole's nonce. A router that
// refuses the delete though the nonce is the one that made the pinhole
// (miniupnpd 2.3.1 with nftables answers NOT_AUTHORIZED: it cannot read
// the nonce back from its rule) gets the shortest lease asked instead:
// then a *PinholeLingersError says when the pinhole closes.
func (c *pcpPinholer) close(ctx context.Context, p Pinhole) error {
	err := c.pcp.Delete(ctx, Mapping{Protocol: p.Protocol, InternalIP: p.Addr, InternalPort: p.Port, ExternalPort: p.Port})
	var pe *PCPError
	if !errors.As(err, &pe) || pe.Code != PCPNotAuthorized {
		return err
	}
	short := p
	short.Lease = time.Second
	got, serr := c.open(ctx, short)
	if serr != nil {
		return fmt.Errorf("%w; shortening its lease instead: %w", err, bare(serr))
	}
	return &PinholeLingersError{Pinhole: p, Left: got.Lease, Err: err}
}

// probe reports whether the router answers PCP at its IPv6 address (an
// ANNOUNCE: it opens nothing).
func (c *pcpPinholer) probe(ctx context.Context) error { return c.pcp.Probe(ctx) }

// PinholeService reports which service would open an IPv6 pinhole on the
// router: PinholeIGD2 when r's IGD lists WANIPv6FirewallControl and its
// GetFirewallStatus (asked at gw6, from local) says inbound pinholes are
// allowed, else PinholePCP when the router answers PCP at gw6. It opens
// nothing. With neither, the error says why each is out (a
// *PinholeRefusal for a firewall that is off or allows no pinholes).
// local zero means the address the kernel picks toward gw6; r may be nil.
func PinholeService(ctx context.Context, r *Router, gw6, local netip.Addr) (PinholeMethod, error) {
	if !gw6.Is6() || gw6.Is4In6() {
		return "", fmt.Errorf("upnp: pinhole service: the router's IPv6 address is %q, not an IPv6 address", gw6)
	}
	var why []PinholeTry
	if r != nil {
		fw, err := firewallOf(r, gw6, local)
		if err == nil {
			rctx, cancel := context.WithTimeout(ctx, pinholeTimeout)
			err = firewallAllows(rctx, fw)
			cancel()
			if err == nil {
				return PinholeIGD2, nil
			}
		}
		why = append(why, PinholeTry{Method: PinholeIGD2, Err: err})
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
	}
	var cfg Config
	if r != nil {
		cfg = r.Config
	}
	if err := (&pcpPinholer{pcp: NewPCP(cfg, gw6, local)}).probe(ctx); err != nil {
		why = append(why, PinholeTry{Method: PinholePCP, Err: err})
		return "", &PinholeError{Gateway: gw6, Tries: why}
	}
	return PinholePCP, nil
}

// firewallAllows asks GetFirewallStatus; a firewall that is off or
// allows no inbound pinholes is a *PinholeRefusal with the code the
// actions would answer (702, 703).
func firewallAllows(ctx context.Context, fw *firewall) error {
	enabled, allowed, err := fw.status(ctx)
	if err != nil {
		return err
	}
	code, desc := 0, ""
	switch {
	case !enabled:
		code, desc = CodeFirewallDisabled, "FirewallDisabled"
	case !allowed:
		code, desc = CodeInboundPinholeNotAllowed, "InboundPinholeNotAllowed"
	default:
		return nil
	}
	return &PinholeRefusal{SOAP: &SOAPError{Code: code, Description: desc, Action: "GetFirewallStatus"}, From: fw.from, Control: fw.control.String()}
}
