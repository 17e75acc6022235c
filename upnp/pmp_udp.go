package upnp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// The UDP request/reply exchange NAT-PMP and PCP share: same port, same
// retransmission rule, same checks on who answers.

// Waits of NAT-PMP and PCP. Both servers sit on the gateway, a single L3 hop
// away: an answer takes a few milliseconds (natpmpc: 21 ms measured against
// miniupnpd), so waiting longer only delays the verdict.
const (
	// pmpFirstResend is when the request is sent again if no reply came;
	// RFC 6886 3.1 starts its retransmissions at 250 ms.
	pmpFirstResend = 250 * time.Millisecond
	// pmpProbeTimeout bounds Probe: the first send plus one resend.
	pmpProbeTimeout = 2 * pmpFirstResend
	// pmpOpTimeout bounds every other request when ctx has no earlier
	// deadline: sends at 0, 250 ms, 750 ms, 1.75 s (doubling as RFC 6886
	// asks) and gives up at 2 s rather than the RFC's 64 s, since a
	// gateway that has not answered three resends is not going to.
	pmpOpTimeout = 2 * time.Second
	// pmpMaxReply caps a read: the largest PCP message is 1100 bytes
	// (RFC 6887 7); anything longer is read truncated and rejected.
	pmpMaxReply = 1100
)

// pmpListen opens an ephemeral UDP socket connected to gw, bound to local
// (zero means any address of gw's family). Connected, it hears only gw,
// and an ICMP port unreachable from a router without NAT-PMP or PCP ends
// the wait at once ("connection refused") instead of after the timeout.
func pmpListen(local netip.Addr, gw netip.AddrPort) (*net.UDPConn, error) {
	network := "udp4"
	if gw.Addr().Is6() {
		network = "udp6"
	}
	var laddr *net.UDPAddr
	if local.IsValid() {
		laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(local.Unmap(), 0))
	}
	conn, err := net.DialUDP(network, laddr, net.UDPAddrFromAddrPort(gw))
	if err != nil {
		return nil, fmt.Errorf("open udp socket: %w", err)
	}
	return conn, nil
}

// pmpExchange sends req to gw from a new socket bound to local (zero
// means any address); see pmpExchangeOn.
func pmpExchange(ctx context.Context, cfg *Config, local netip.Addr, gw netip.AddrPort, req []byte, total time.Duration,
	accept func([]byte) (done bool, err error)) error {
	conn, err := pmpListen(local, gw)
	if err != nil {
		return err
	}
	defer conn.Close()
	return pmpExchangeOn(ctx, cfg, conn, gw, req, total, accept)
}

// pmpExchangeOn sends req to gw on conn, resending at doubling
// intervals from pmpFirstResend, until accept takes a reply, total
// elapses or ctx ends; conn is closed if ctx ends first. Replies from any
// address but gw are logged and ignored. accept returns done=false to
// ignore a reply (logged with its error); done=true ends the exchange with
// its error.
func pmpExchangeOn(ctx context.Context, cfg *Config, conn *net.UDPConn, gw netip.AddrPort, req []byte, total time.Duration,
	accept func([]byte) (done bool, err error)) error {
	ctx, cancel := context.WithTimeout(ctx, total)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) }) // unblock the read on cancel
	defer stop()

	buf := make([]byte, pmpMaxReply+1)
	wait := pmpFirstResend
	for {
		if _, err := conn.Write(req); err != nil {
			if ctx.Err() != nil {
				return pmpSilentOr(ctx)
			}
			return fmt.Errorf("send: %w", err)
		}
		deadline, _ := ctx.Deadline()
		if next := time.Now().Add(wait); next.Before(deadline) {
			deadline = next
		}
		if err := conn.SetReadDeadline(deadline); err != nil {
			return fmt.Errorf("set deadline: %w", err)
		}
		if ctx.Err() != nil { // cancelled before the deadline above was set
			return pmpSilentOr(ctx)
		}
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				if ctx.Err() != nil {
					return pmpSilentOr(ctx)
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break // resend
				}
				if errors.Is(err, syscall.ECONNREFUSED) {
					return errPMPRefused
				}
				return fmt.Errorf("read: %w", err)
			}
			if from.Addr().Unmap() != gw.Addr() || from.Port() != gw.Port() {
				cfg.logf("upnp: ignored %d-byte reply from %s: requests went to %s", n, from, gw)
				continue
			}
			if n > pmpMaxReply {
				cfg.logf("upnp: ignored oversized reply from %s: more than %d bytes", from, pmpMaxReply)
				continue
			}
			done, err := accept(buf[:n])
			if done {
				return err
			}
			cfg.logf("upnp: ignored reply from %s: %v", from, err)
		}
		wait *= 2
	}
}

// pmpSilentOr returns ctx's error if the caller cancelled, errPMPSilent if
// our own timeout expired.
func pmpSilentOr(ctx context.Context) error {
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return errPMPSilent
}

// pmpRouteSource returns the source address the kernel picks to reach gw
// (connecting a UDP socket sends nothing).
func pmpRouteSource(gw netip.AddrPort) (netip.Addr, error) {
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(gw))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("upnp: no route to gateway %s: %w", gw.Addr(), err)
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// errPMPSilent is returned by pmpExchange when no accepted reply
// came before its deadline.
var errPMPSilent = errors.New("no reply")

// errPMPRefused is returned by pmpExchange when the gateway answered with
// an ICMP port unreachable: nothing listens on the NAT-PMP/PCP port.
var errPMPRefused = errors.New("the gateway refused: nothing listens on its NAT-PMP/PCP port")

// pmpError words the outcome of an exchange started at start: nil stays
// nil; silence and an ICMP refusal become noReply (ErrNATPMPNoReply or
// ErrPCPNoReply) with what was waited for; anything else is wrapped.
func pmpError(proto, what string, gw netip.AddrPort, start time.Time, err, noReply error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errPMPSilent):
		return fmt.Errorf("upnp: %s %s to %s: no reply within %v: %w", proto, what, gw, time.Since(start).Round(time.Millisecond), noReply)
	case errors.Is(err, errPMPRefused):
		return fmt.Errorf("upnp: %s %s to %s: port unreachable: %w", proto, what, gw, noReply)
	}
	return fmt.Errorf("upnp: %s %s to %s: %w", proto, what, gw, err)
}
