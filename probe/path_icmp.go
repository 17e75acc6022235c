package probe

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"
)

// echoPayload is the data of a hop probe by echo request: it names the
// sender to whoever captures it.
var echoPayload = []byte("reach hop probe")

// echoHops sends one ICMPv4 echo request toward target per TTL, each on
// its own socket from open (a socket keeps one TTL, and macOS applies the
// TTL when the packet leaves, not when it is written), and reads each
// socket until its probe is answered or ctx ends. dst is target as the
// sockets' WriteTo wants it. Answers are told apart by sequence number and
// quoted destination, not by identifier: Linux rewrites the identifier of
// a datagram ICMP socket, and a NAT router may too.
func echoHops(ctx context.Context, target netip.Addr, dst net.Addr, maxTTL int, open func(ttl int) (net.PacketConn, error)) ([]Hop, error) {
	conns := make([]net.PacketConn, 0, maxTTL)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for ttl := 1; ttl <= maxTTL; ttl++ {
		c, err := open(ttl)
		if err != nil {
			return nil, fmt.Errorf("probe: hops toward %s: ttl %d: %w", target, ttl, err)
		}
		conns = append(conns, c)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(HopTimeout)
	}
	stop := context.AfterFunc(ctx, func() {
		for _, c := range conns {
			c.SetReadDeadline(time.Now())
		}
	})
	defer stop()

	id, base := uint16(rand.Uint32()), uint16(rand.Uint32())
	hops := make([]Hop, maxTTL)
	var wg sync.WaitGroup
	for i, c := range conns {
		ttl := i + 1
		seq := base + uint16(ttl)
		hops[i] = Hop{TTL: ttl}
		c.SetReadDeadline(deadline)
		sent := time.Now()
		if _, err := c.WriteTo(newEchoRequest(id, seq, echoPayload), dst); err != nil {
			// A local error (no route) ends this TTL; the others may
			// still tell something.
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			hops[i] = readEchoHop(c, target, ttl, seq, sent)
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("probe: hops toward %s: %w", target, err)
	}
	return hops, nil
}

// readEchoHop reads c until the answer to the echo request with sequence
// seq arrives or the read deadline passes. A macOS datagram ICMP socket
// gets every ICMP message for this host, so others are skipped.
func readEchoHop(c net.PacketConn, target netip.Addr, ttl int, seq uint16, sent time.Time) Hop {
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return Hop{TTL: ttl}
		}
		a, ok := parseEchoAnswer(buf[:n])
		if !ok || a.Seq != seq {
			continue
		}
		src := addrOf(from)
		if !src.IsValid() {
			src = a.Src
		}
		if a.Type == icmpEchoReply {
			a.Dst = src
		}
		if a.Dst != target || !src.IsValid() {
			continue
		}
		// Only the target answers an echo; an unreachable from the
		// target's own host means the probe got there too.
		return Hop{TTL: ttl, Addr: src, RTT: time.Since(sent), Target: a.Type == icmpEchoReply || src == target}
	}
}

// addrOf returns the IP address of a socket address, or zero.
func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap()
	case *net.IPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}
