package probe

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/pion/stun/v3"
)

// checkUDP allocates a UDP relay and sends the probe datagram from it to
// the target, resent as CheckUDP does, reading the echo back through it.
// The first send also asks for the permission (a 403 shows there).
func (s *viaSession) checkUDP(ctx context.Context, res ViaResult, timeout time.Duration, cfg ViaConfig) ViaResult {
	start := time.Now()
	relay, err := s.client.Allocate()
	if err != nil {
		ev := s.evidence(ctx, res, phaseAllocate, err, start, timeout, cfg)
		return judgeVia(res, s.refusal(ev, stun.MethodAllocate, err))
	}
	s.onRelease(func() { relay.Close() })
	s.onInterrupt(ctx, func() { relay.SetReadDeadline(time.Now()) })
	if ap, err := netip.ParseAddrPort(relay.LocalAddr().String()); err == nil {
		res.RelayAddr = ap
	}
	if s.wrongFamily(res) {
		return judgeVia(res, s.evidence(ctx, res, phaseRelayFamily, errWrongFamily(res), start, timeout, cfg))
	}

	peer := net.UDPAddrFromAddrPort(res.Target)
	send := func(b []byte) error {
		_, err := relay.WriteTo(b, peer)
		return err
	}
	// Only the target's datagrams count: a relay with a permission for
	// its address passes nothing else, but say so here too.
	recv := func(b []byte) (int, error) {
		for {
			n, from, err := relay.ReadFrom(b)
			if err != nil {
				return n, err
			}
			if ap, err := netip.ParseAddrPort(from.String()); err == nil &&
				netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()) == res.Target {
				return n, nil
			}
		}
	}
	start = time.Now()
	ans := udpExchange(ctx, send, recv, relay.SetReadDeadline)
	switch {
	case ans.writeErr && ans.sent == 0:
		ev := s.evidence(ctx, res, phasePermission, ans.err, start, timeout, cfg)
		return judgeVia(res, s.refusal(ev, stun.MethodCreatePermission, ans.err))
	case !ans.echoed:
		ev := s.evidence(ctx, res, phaseEcho, ans.err, start, timeout, cfg)
		ev.udp = ans
		return judgeVia(res, ev)
	}
	res.Verdict, res.Peer, res.RTT = Verified, PeerReach, ans.rtt
	res.Detail = fmt.Sprintf("a reach server at %s echoed the UDP probe through the TURN relay %s (relay address %s) in %s",
		res.Target, s.srv.Addr(), res.RelayAddr, Round(ans.rtt))
	return res
}
