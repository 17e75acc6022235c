package probe

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"
)

// fakeICMPNet is a path of routers as macOS datagram ICMP sockets see it:
// every socket gets a copy of every ICMP message for the host, with its
// IPv4 header.
type fakeICMPNet struct {
	local netip.Addr
	// routers[i] answers a probe whose TTL runs out at hop i+1 (zero: a
	// silent router); past them is the target.
	routers []netip.Addr
	target  netip.Addr
	// silentTarget makes the target not answer echo requests.
	silentTarget bool

	mu    sync.Mutex
	conns []*fakeICMPConn
}

func (n *fakeICMPNet) open(ttl int) (net.PacketConn, error) {
	c := &fakeICMPConn{net: n, ttl: ttl, in: make(chan []byte, 64), kick: make(chan struct{})}
	n.mu.Lock()
	n.conns = append(n.conns, c)
	n.mu.Unlock()
	return c, nil
}

// deliver gives packet to every socket, as a macOS kernel does.
func (n *fakeICMPNet) deliver(packet []byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.conns {
		select {
		case c.in <- packet:
		default:
		}
	}
}

// answer sends what the network says to an echo request with this TTL.
func (n *fakeICMPNet) answer(ttl int, dst netip.Addr, req []byte) {
	// Another program's traceroute and ping are heard too.
	other := newEchoRequest(7, binary.BigEndian.Uint16(req[6:]), nil)
	n.deliver(ipv4Packet(netip.MustParseAddr("10.9.9.9"), n.local, icmpError(icmpTimeExceeded, n.local, netip.MustParseAddr("8.8.8.8"), other)))
	n.deliver(ipv4Packet(netip.MustParseAddr("10.9.9.9"), n.local, append([]byte{icmpEchoReply, 0, 0, 0}, other[4:]...)))
	if dst != n.target {
		return
	}
	if ttl <= len(n.routers) {
		if r := n.routers[ttl-1]; r.IsValid() {
			n.deliver(ipv4Packet(r, n.local, icmpError(icmpTimeExceeded, n.local, dst, req)))
		}
		return
	}
	if !n.silentTarget {
		reply := append([]byte{icmpEchoReply, 0, 0, 0}, req[4:]...)
		n.deliver(ipv4Packet(n.target, n.local, reply))
	}
}

// ipv4Packet prefixes an ICMP message with a 20-byte IPv4 header.
func ipv4Packet(src, dst netip.Addr, icmp []byte) []byte {
	h := make([]byte, 20, 20+len(icmp))
	h[0], h[8], h[9] = 0x45, 64, 1
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(icmp)))
	s, d := src.As4(), dst.As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	return append(h, icmp...)
}

// icmpError is an ICMP error quoting the request's header and first 8
// bytes, as RFC 792 asks.
func icmpError(typ byte, src, dst netip.Addr, req []byte) []byte {
	return append([]byte{typ, 0, 0, 0, 0, 0, 0, 0}, ipv4Packet(src, dst, req[:8])[:28]...)
}

type fakeICMPConn struct {
	net *fakeICMPNet
	ttl int
	in  chan []byte

	mu       sync.Mutex
	deadline time.Time
	kick     chan struct{} // closed when the deadline changes
	closed   bool
}

func (c *fakeICMPConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	dst := addrOf(addr)
	if len(b) < 8 || b[0] != icmpEchoRequest || inetChecksum(b) != 0 {
		return 0, errors.New("fake: not a valid echo request")
	}
	go c.net.answer(c.ttl, dst, append([]byte(nil), b...))
	return len(b), nil
}

func (c *fakeICMPConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		c.mu.Lock()
		d, kick, closed := c.deadline, c.kick, c.closed
		c.mu.Unlock()
		if closed {
			return 0, nil, net.ErrClosed
		}
		var expired <-chan time.Time
		if !d.IsZero() {
			t := time.NewTimer(time.Until(d))
			defer t.Stop()
			expired = t.C
		}
		select {
		case p := <-c.in:
			src := netip.AddrFrom4([4]byte(p[12:16]))
			return copy(b, p), &net.UDPAddr{IP: src.AsSlice()}, nil
		case <-expired:
			return 0, nil, os.ErrDeadlineExceeded
		case <-kick:
		}
	}
}

func (c *fakeICMPConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	c.deadline = t
	close(c.kick)
	c.kick = make(chan struct{})
	return nil
}

func (c *fakeICMPConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.kick)
	}
	return nil
}

func (c *fakeICMPConn) LocalAddr() net.Addr              { return &net.UDPAddr{IP: c.net.local.AsSlice()} }
func (c *fakeICMPConn) SetDeadline(t time.Time) error    { return c.SetReadDeadline(t) }
func (c *fakeICMPConn) SetWriteDeadline(time.Time) error { return nil }

func TestEchoHops(t *testing.T) {
	ip := netip.MustParseAddr
	target := ip("11.0.0.1")
	for _, tc := range []struct {
		name string
		net  *fakeICMPNet
		want []Hop
	}{
		{
			name: "double NAT, the target answers at hop 3",
			net:  &fakeICMPNet{routers: []netip.Addr{ip("192.168.1.1"), ip("192.168.0.1")}},
			want: []Hop{{TTL: 1, Addr: ip("192.168.1.1")}, {TTL: 2, Addr: ip("192.168.0.1")}, {TTL: 3, Addr: target, Target: true}},
		},
		{
			name: "a silent second router",
			net:  &fakeICMPNet{routers: []netip.Addr{ip("192.168.1.1"), {}, ip("100.64.0.1")}},
			want: []Hop{{TTL: 1, Addr: ip("192.168.1.1")}, {TTL: 2}, {TTL: 3, Addr: ip("100.64.0.1")}},
		},
		{
			name: "a target that does not answer echo",
			net:  &fakeICMPNet{routers: []netip.Addr{ip("192.168.1.1")}, silentTarget: true},
			want: []Hop{{TTL: 1, Addr: ip("192.168.1.1")}, {TTL: 2}, {TTL: 3}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.net.local, tc.net.target = ip("192.168.1.10"), target
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			hops, err := echoHops(ctx, target, &net.UDPAddr{IP: target.AsSlice()}, 3, tc.net.open)
			if err != nil {
				t.Fatal(err)
			}
			hops = trimHops(hops)
			if len(hops) != len(tc.want) {
				t.Fatalf("hops %+v, want %+v", hops, tc.want)
			}
			for i, w := range tc.want {
				if h := hops[i]; h.TTL != w.TTL || h.Addr != w.Addr || h.Target != w.Target {
					t.Errorf("hop %d = %+v, want %+v", i+1, h, w)
				}
			}
		})
	}
}

// TestEchoHopsCancel: a cancel ends the reads at once and says why.
func TestEchoHopsCancel(t *testing.T) {
	target := netip.MustParseAddr("11.0.0.1")
	n := &fakeICMPNet{local: netip.MustParseAddr("192.168.1.10"), target: target, silentTarget: true}
	ctx, cancel := context.WithCancelCause(t.Context())
	ctx, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	stopped := errors.New("interrupted")
	time.AfterFunc(20*time.Millisecond, func() { cancel(stopped) })
	// The minute's deadline would end it with DeadlineExceeded: the
	// cancel's cause proves the cancel ended it, with no clock involved.
	_, err := echoHops(ctx, target, &net.UDPAddr{IP: target.AsSlice()}, 3, n.open)
	if !errors.Is(err, stopped) {
		t.Errorf("error %v, want the cancel's cause", err)
	}
}

func TestEchoHopsOpenFails(t *testing.T) {
	target := netip.MustParseAddr("11.0.0.1")
	denied := errors.New("operation not permitted")
	_, err := echoHops(t.Context(), target, &net.UDPAddr{IP: target.AsSlice()}, 2, func(int) (net.PacketConn, error) { return nil, denied })
	if !errors.Is(err, denied) {
		t.Errorf("error %v, want the socket's", err)
	}
}
