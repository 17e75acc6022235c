package upnp

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/jackpal/gateway"
)

// discoverGateway reads the OS routing table; a variable so tests can stand
// in for a machine without (or with an odd) default route.
var discoverGateway = gateway.DiscoverGateway

// FindGateway returns the router to talk to and this host's address on the
// way to it. cfg.Gateway and cfg.LocalIP override what the OS says. A host
// with no default gateway (or one whose default route has no next hop, which
// the OS reports as 0.0.0.0) gets ErrNoGateway.
func FindGateway(ctx context.Context, cfg Config) (gw, local netip.Addr, err error) {
	gw = cfg.Gateway.Unmap()
	if !gw.IsValid() {
		ip, err := discoverGateway()
		if err != nil {
			return netip.Addr{}, netip.Addr{}, fmt.Errorf("%w (routing table: %v)", ErrNoGateway, err)
		}
		a, ok := netip.AddrFromSlice(ip)
		if !ok || a.Unmap().IsUnspecified() {
			return netip.Addr{}, netip.Addr{}, fmt.Errorf("%w (default route has no next hop: %v)", ErrNoGateway, ip)
		}
		gw = a.Unmap()
	}
	if gw.IsUnspecified() || gw.IsMulticast() {
		return netip.Addr{}, netip.Addr{}, fmt.Errorf("upnp: gateway %s is not a router address (unspecified or multicast)", gw)
	}
	local = cfg.LocalIP.Unmap()
	if !local.IsValid() {
		local, err = localAddrFor(ctx, gw)
		if err != nil {
			return netip.Addr{}, netip.Addr{}, err
		}
	}
	return gw, local, nil
}

// localAddrFor returns the source address the kernel picks to reach gw: the
// right one even with Docker bridges or VPNs up. Connecting a UDP socket only
// consults the routing table; it sends nothing.
func localAddrFor(ctx context.Context, gw netip.Addr) (netip.Addr, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", netip.AddrPortFrom(gw, ssdpDefaultPort).String())
	if err != nil {
		return netip.Addr{}, fmt.Errorf("upnp: no route to gateway %s: %w", gw, err)
	}
	defer conn.Close()
	ap, err := netip.ParseAddrPort(conn.LocalAddr().String())
	if err != nil {
		return netip.Addr{}, fmt.Errorf("upnp: local address on the way to %s: %w", gw, err)
	}
	return ap.Addr().Unmap().WithZone(""), nil
}
