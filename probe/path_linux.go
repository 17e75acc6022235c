//go:build linux

package probe

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/pion/stun/v3"
	"golang.org/x/sys/unix"
)

// hopPollSlice is how long one poll waits before looking at ctx again, so
// that a cancel ends Hops promptly.
const hopPollSlice = 50 * time.Millisecond

// ICMP types and codes the kernel reports in sock_extended_err.
const (
	icmp4TimeExceeded = 11
	icmp4Unreachable  = 3
	icmp4PortUnreach  = 3
	icmp6TimeExceeded = 3
	icmp6Unreachable  = 1
	icmp6PortUnreach  = 4
)

// hopProbe is one TTL-limited socket.
type hopProbe struct {
	fd   int
	sent time.Time
	hop  Hop
	done bool
}

// sendHopProbes opens one connected UDP socket per TTL (the socket tells
// which TTL an ICMP error answers, whatever the router quotes), sends a
// probe on each, and reads each socket's error queue until every probe is
// answered or ctx ends.
func sendHopProbes(ctx context.Context, target netip.AddrPort, maxTTL int) ([]Hop, error) {
	probes := make([]*hopProbe, 0, maxTTL)
	defer func() {
		for _, p := range probes {
			unix.Close(p.fd)
		}
	}()
	for ttl := 1; ttl <= maxTTL; ttl++ {
		fd, err := hopSocket(target, ttl)
		if err != nil {
			return nil, fmt.Errorf("probe: hops toward %s: ttl %d: %w", target, ttl, err)
		}
		probes = append(probes, &hopProbe{fd: fd, hop: Hop{TTL: ttl}})
	}
	for _, p := range probes {
		req, err := stun.Build(stun.TransactionID, stun.BindingRequest)
		if err != nil {
			return nil, fmt.Errorf("probe: hops: build probe: %w", err)
		}
		p.sent = time.Now()
		if _, err := unix.Write(p.fd, req.Raw); err != nil {
			// A local error (no route) ends this TTL; the others may
			// still tell something.
			p.done = true
		}
	}
	buf := make([]byte, 1500)
	oob := make([]byte, 512)
	for {
		var fds []unix.PollFd
		var waiting []*hopProbe
		for _, p := range probes {
			if !p.done {
				fds = append(fds, unix.PollFd{Fd: int32(p.fd), Events: unix.POLLIN})
				waiting = append(waiting, p)
			}
		}
		if len(fds) == 0 || ctx.Err() != nil {
			break
		}
		wait := hopPollSlice
		if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
			wait = max(time.Until(d), time.Millisecond)
		}
		n, err := unix.Poll(fds, int(wait/time.Millisecond))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("probe: hops: poll: %w", err)
		}
		if n == 0 {
			continue
		}
		for i, f := range fds {
			if f.Revents != 0 {
				readHop(waiting[i], target, buf, oob)
			}
		}
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("probe: hops toward %s: %w", target, err)
	}
	hops := make([]Hop, len(probes))
	for i, p := range probes {
		hops[i] = p.hop
	}
	return hops, nil
}

// hopSocket opens a non-blocking UDP socket connected to target, with the
// given TTL and ICMP errors queued for reading (IP_RECVERR).
func hopSocket(target netip.AddrPort, ttl int) (int, error) {
	family, level, recverr, ttlOpt := unix.AF_INET, unix.IPPROTO_IP, unix.IP_RECVERR, unix.IP_TTL
	var sa unix.Sockaddr = &unix.SockaddrInet4{Port: int(target.Port()), Addr: target.Addr().As4()}
	if target.Addr().Is6() {
		family, level, recverr, ttlOpt = unix.AF_INET6, unix.IPPROTO_IPV6, unix.IPV6_RECVERR, unix.IPV6_UNICAST_HOPS
		sa = &unix.SockaddrInet6{Port: int(target.Port()), Addr: target.Addr().As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, level, recverr, 1); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("enable IP_RECVERR: %w", err)
	}
	if err := unix.SetsockoptInt(fd, level, ttlOpt, ttl); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("set ttl: %w", err)
	}
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("connect: %w", err)
	}
	return fd, nil
}

// readHop reads what arrived for p: an ICMP error from the error queue, or
// a reply from the target itself.
func readHop(p *hopProbe, target netip.AddrPort, buf, oob []byte) {
	_, oobn, _, _, err := unix.Recvmsg(p.fd, buf, oob, unix.MSG_ERRQUEUE)
	if err == nil {
		if e, ok := parseRecvErr(oob[:oobn]); ok {
			p.hop.RTT = time.Since(p.sent)
			p.hop.Addr = e.offender
			p.hop.Target = e.reached
			p.done = e.final
		}
		return
	}
	if _, _, err := unix.Recvfrom(p.fd, buf, unix.MSG_DONTWAIT); err == nil {
		p.hop = Hop{TTL: p.hop.TTL, Addr: target.Addr(), RTT: time.Since(p.sent), Target: true}
		p.done = true
	}
}

// recvErr is an ICMP error the kernel queued for a probe.
type recvErr struct {
	offender netip.Addr
	reached  bool // port unreachable: the target's host answered
	final    bool // no better answer will come for this probe
}

// parseRecvErr reads the sock_extended_err and SO_EE_OFFENDER address from
// the control messages of an MSG_ERRQUEUE read.
func parseRecvErr(oob []byte) (recvErr, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return recvErr{}, false
	}
	for _, m := range msgs {
		v4 := m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_RECVERR
		v6 := m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_RECVERR
		const eeLen = 16 // struct sock_extended_err
		if (!v4 && !v6) || len(m.Data) < eeLen+4 {
			continue
		}
		origin, typ, code := m.Data[4], m.Data[5], m.Data[6]
		var e recvErr
		off := m.Data[eeLen:] // SO_EE_OFFENDER: a sockaddr
		switch family := binary.NativeEndian.Uint16(off); {
		case family == unix.AF_INET && len(off) >= 8:
			e.offender = netip.AddrFrom4([4]byte(off[4:8]))
		case family == unix.AF_INET6 && len(off) >= 24:
			e.offender = netip.AddrFrom16([16]byte(off[8:24])).Unmap()
		}
		switch {
		case origin == unix.SO_EE_ORIGIN_ICMP && typ == icmp4TimeExceeded,
			origin == unix.SO_EE_ORIGIN_ICMP6 && typ == icmp6TimeExceeded:
			e.final = true
		case origin == unix.SO_EE_ORIGIN_ICMP && typ == icmp4Unreachable,
			origin == unix.SO_EE_ORIGIN_ICMP6 && typ == icmp6Unreachable:
			e.final = true
			e.reached = (origin == unix.SO_EE_ORIGIN_ICMP && code == icmp4PortUnreach) ||
				(origin == unix.SO_EE_ORIGIN_ICMP6 && code == icmp6PortUnreach)
		default:
			continue // a local error (e.g. message too long): not an answer
		}
		return e, true
	}
	return recvErr{}, false
}
