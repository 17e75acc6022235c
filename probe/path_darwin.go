//go:build darwin

package probe

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/net/icmp"
)

// sendHopProbes sends ICMP echo requests with TTL 1 to maxTTL on macOS's
// unprivileged datagram ICMP sockets, which, unlike Linux's, also receive
// the time-exceeded errors routers send back; no root needed. IPv4 only.
func sendHopProbes(ctx context.Context, target netip.AddrPort, maxTTL int) ([]Hop, error) {
	if !target.Addr().Is4() {
		return nil, fmt.Errorf("probe: hops toward %s: IPv4 only on macOS: %w", target.Addr(), ErrHopsUnsupported)
	}
	dst := &net.UDPAddr{IP: target.Addr().AsSlice()}
	return echoHops(ctx, target.Addr(), dst, maxTTL, func(ttl int) (net.PacketConn, error) {
		c, err := icmp.ListenPacket("udp4", "0.0.0.0")
		if err != nil {
			return nil, fmt.Errorf("open ICMP datagram socket: %w", err)
		}
		if err := c.IPv4PacketConn().SetTTL(ttl); err != nil {
			c.Close()
			return nil, fmt.Errorf("set ttl: %w", err)
		}
		return c, nil
	})
}
