package frame

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"
)

// DefaultUDPPeers is how many UDP peers the server remembers at once for
// its client log: more than the players of any home game server, and a
// table of a few kilobytes whatever the traffic.
const DefaultUDPPeers = 256

// udpReadBuffer holds the largest UDP datagram (65,507 payload bytes over
// IPv4), so that no datagram is cut short and mistaken for a frame.
const udpReadBuffer = 64 << 10

// udpErrorPause is the pause after a failed read that is not the end of
// the socket (an ICMP error reported on it, a full buffer): long enough
// not to spin, short enough that no datagram waits long.
const udpErrorPause = 5 * time.Millisecond

// ErrPeerForgotten: the UDP server's peer table was full, and this peer,
// heard from longest ago, was forgotten to make room. Its datagrams are
// still echoed; it comes back as a new client when it sends again.
var ErrPeerForgotten = errors.New("frame: udp peer table full; the peer heard from longest ago was forgotten")

// UDPConfig configures a UDPServer.
type UDPConfig struct {
	MaxFrame int // largest payload accepted; zero means DefaultMaxFrame
	// MaxPeers bounds the peers remembered for the client log; zero means
	// DefaultUDPPeers. Every datagram is echoed, remembered or not.
	MaxPeers int
	// IdleTimeout is how long a peer may stay silent before it is
	// forgotten (EventDisconnect with an *IdleError); zero means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// OnEvent receives every event; nil means none. A peer's first valid
	// datagram gives EventConnect, each echoed frame EventMessage, each
	// datagram that is not exactly one frame EventError (nothing is
	// echoed), and a forgotten peer EventDisconnect (ErrPeerForgotten, an
	// *IdleError, or ErrServerClosed on Shutdown). It is called from the
	// Serve goroutines, which wait for it: it must be safe for concurrent
	// use and return quickly.
	OnEvent func(Event)
}

// UDPServer is the framed echo server over UDP: every datagram holding
// exactly one frame is sent back to its sender unchanged. The echo is the
// datagram received, never more, so the server amplifies nothing. Memory
// is one read buffer per socket and a bounded table of peers.
type UDPServer struct {
	cfg UDPConfig

	mu     sync.Mutex
	closed bool
	conns  map[net.PacketConn]struct{}
	peers  udpPeers
	nextID uint64
	wg     sync.WaitGroup // Serve loops
}

// NewUDPServer returns a UDPServer with cfg's zero values replaced by
// defaults.
func NewUDPServer(cfg UDPConfig) *UDPServer {
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	if cfg.MaxPeers <= 0 {
		cfg.MaxPeers = DefaultUDPPeers
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	return &UDPServer{
		cfg:   cfg,
		conns: make(map[net.PacketConn]struct{}),
		peers: newUDPPeers(),
	}
}

// Serve echoes the datagrams arriving on pc until Shutdown, then returns
// ErrServerClosed. Errors a read reports for an earlier datagram (ICMP
// unreachable from a peer that left) are skipped; any other read error is
// returned. Serve closes pc when it returns.
func (s *UDPServer) Serve(pc net.PacketConn) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		pc.Close()
		return ErrServerClosed
	}
	s.conns[pc] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, pc)
		s.mu.Unlock()
		pc.Close()
		s.wg.Done()
	}()

	sock := udpSocketOf(pc)
	buf := make([]byte, udpReadBuffer)
	// deadline is the read deadline set on pc; zero: none. It is set only
	// when there is none: the next expiry only moves later while peers
	// are remembered, so a deadline set earlier wakes the loop early (at
	// most once per idle timeout, to set the next one), never late, and
	// a datagram costs no search for the peer heard from longest ago.
	var deadline time.Time
	for {
		// Wake up when the oldest peer falls idle, to say it left.
		if deadline.IsZero() {
			if deadline = s.nextExpiry(); !deadline.IsZero() {
				pc.SetReadDeadline(deadline)
			}
		}
		n, from, err := sock.ReadFromUDPAddrPort(buf)
		if err != nil {
			switch {
			case s.isClosed():
				return ErrServerClosed
			case errors.Is(err, os.ErrDeadlineExceeded):
				s.expire(time.Now())
				deadline = s.nextExpiry()
				pc.SetReadDeadline(deadline) // zero: no peer left to wait for
				continue
			case skippable(err):
				time.Sleep(udpErrorPause)
				continue
			}
			return fmt.Errorf("frame: udp read on %s: %w", pc.LocalAddr(), err)
		}
		s.handle(sock, buf[:n], from)
	}
}

// udpSocket is the part of a UDP socket the server uses, with addresses
// as values: *net.UDPConn (every socket reach opens) reads and writes
// them without an allocation per datagram.
type udpSocket interface {
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error)
}

// udpSocketOf returns pc as a udpSocket, adapting a net.PacketConn that
// is not a *net.UDPConn.
func udpSocketOf(pc net.PacketConn) udpSocket {
	if u, ok := pc.(*net.UDPConn); ok {
		return u
	}
	return packetSocket{pc}
}

// packetSocket is a net.PacketConn seen as a udpSocket: addresses are
// converted on each datagram (one whose address is not ip:port is read
// as the zero AddrPort).
type packetSocket struct{ net.PacketConn }

func (p packetSocket) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	n, from, err := p.ReadFrom(b)
	if err != nil {
		return n, netip.AddrPort{}, err
	}
	if u, ok := from.(*net.UDPAddr); ok {
		return n, u.AddrPort(), nil
	}
	ap, _ := netip.ParseAddrPort(from.String())
	return n, ap, nil
}

func (p packetSocket) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	return p.WriteTo(b, net.UDPAddrFromAddrPort(to))
}

// skippable reports whether a UDP read error concerns one datagram or peer
// rather than the socket.
func skippable(err error) bool {
	for _, errno := range []syscall.Errno{syscall.ECONNREFUSED, syscall.EHOSTUNREACH, syscall.ENETUNREACH,
		syscall.ECONNRESET, syscall.ENOBUFS, syscall.ENOMEM, syscall.EINTR, syscall.EAGAIN, syscall.EMSGSIZE} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// handle echoes one datagram if it is one frame, and reports it. Peers
// are keyed by from with an IPv4-mapped address unmapped (as a dual-stack
// socket reports IPv4 senders); the echo goes to from as it came.
func (s *UDPServer) handle(sock udpSocket, b []byte, from netip.AddrPort) {
	ap := netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	payload, err := ParseDatagram(b, s.cfg.MaxFrame)
	if err != nil {
		id, remote, n := s.known(ap)
		s.emit(Event{Kind: EventError, Client: id, Remote: remote, Err: err, Clients: n})
		return
	}
	// Recorded before the echo leaves, so that a peer holding its echo
	// finds itself in Clients with the frame counted.
	p, isNew, gone, n := s.touch(ap, time.Now())
	for _, g := range gone {
		s.emit(Event{Kind: EventDisconnect, Client: g.id, Remote: g.remote, Err: ErrPeerForgotten, Clients: n})
	}
	if isNew {
		s.emit(Event{Kind: EventConnect, Client: p.id, Remote: p.remote, Clients: n})
	}
	if _, err := sock.WriteToUDPAddrPort(b, from); err != nil {
		s.uncount(ap)
		s.emit(Event{Kind: EventError, Client: p.id, Remote: p.remote, Err: fmt.Errorf("frame: udp echo to %s: %w", p.remote, err), Clients: n})
		return
	}
	s.emit(Event{Kind: EventMessage, Client: p.id, Remote: p.remote, Payload: payload, Clients: n})
}

// uncount takes back the frame touch counted for ap, whose echo failed.
func (s *UDPServer) uncount(ap netip.AddrPort) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.peers.byAddr[ap]; ok && p.frames > 0 {
		p.frames--
	}
}

func (s *UDPServer) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// emit hands e to OnEvent, stamped with the time.
func (s *UDPServer) emit(e Event) {
	if s.cfg.OnEvent != nil {
		e.Time = time.Now()
		s.cfg.OnEvent(e)
	}
}

// Shutdown closes every socket, waits until the Serve loops have ended or
// ctx is done, and reports each remembered peer disconnected with
// ErrServerClosed. The server cannot be used again.
func (s *UDPServer) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for pc := range s.conns {
		pc.Close()
	}
	s.mu.Unlock()

	finished := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-ctx.Done():
		return fmt.Errorf("frame: udp shutdown: %w", ctx.Err())
	}
	s.mu.Lock()
	gone := make([]udpPeer, 0, len(s.peers.byAddr))
	for _, p := range s.peers.byAddr {
		gone = append(gone, *p)
	}
	s.peers = newUDPPeers()
	s.mu.Unlock()
	slices.SortFunc(gone, func(a, b udpPeer) int { return cmp.Compare(a.id, b.id) })
	for _, g := range gone {
		s.emit(Event{Kind: EventDisconnect, Client: g.id, Remote: g.remote, Err: ErrServerClosed})
	}
	return nil
}
