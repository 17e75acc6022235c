package frame

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func TestParseDatagram(t *testing.T) {
	hdr := func(n uint32) []byte { return binary.LittleEndian.AppendUint32(nil, n) }
	for _, tc := range []struct {
		name    string
		b       []byte
		max     int
		payload string
		is      []error // errors.Is must hold for each
	}{
		{"empty frame", hdr(0), 0, "", nil},
		{"hola", Append(nil, []byte("hola")), 0, "hola", nil},
		{"at the limit", Append(nil, []byte("abcd")), 4, "abcd", nil},
		{"empty datagram", nil, 0, "", []error{ErrNotOneFrame, ErrTruncated}},
		{"short header", []byte{1, 0, 0}, 0, "", []error{ErrNotOneFrame, ErrTruncated}},
		{"payload cut short", append(hdr(5), "hol"...), 0, "", []error{ErrNotOneFrame, ErrTruncated}},
		{"bytes after the frame", append(Append(nil, []byte("hola")), 'x'), 0, "", []error{ErrNotOneFrame}},
		{"two frames", Append(Append(nil, []byte("a")), []byte("b")), 0, "", []error{ErrNotOneFrame}},
		{"over the limit", Append(nil, []byte("abcde")), 4, "", []error{ErrTooLarge}},
		{"top bit set", append(hdr(0x80000001), 'x'), 0, "", []error{ErrTooLarge, ErrNegativeLength}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDatagram(tc.b, tc.max)
			if tc.is == nil {
				if err != nil || string(got) != tc.payload {
					t.Fatalf("ParseDatagram = %q, %v; want %q", got, err, tc.payload)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseDatagram = %q, nil; want an error", got)
			}
			for _, target := range tc.is {
				if !errors.Is(err, target) {
					t.Errorf("error %q is not %v", err, target)
				}
			}
			if errors.Is(err, ErrTruncated) && errors.Is(err, ErrNotOneFrame) && len(tc.b) >= HeaderSize &&
				int64(len(tc.b)) > HeaderSize+int64(binary.LittleEndian.Uint32(tc.b)) {
				t.Errorf("a datagram longer than its frame is reported truncated: %v", err)
			}
		})
	}
}

func FuzzParseDatagram(f *testing.F) {
	f.Add(Append(nil, []byte("hola")), 16)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, 0)
	f.Add([]byte{1, 0}, 0)
	f.Fuzz(func(t *testing.T, b []byte, max int) {
		payload, err := ParseDatagram(b, max)
		if err != nil {
			return
		}
		// Accepted: exactly one frame, which the echo repeats byte for byte.
		if !bytes.Equal(Append(nil, payload), b) {
			t.Fatalf("ParseDatagram(%x) = %x, which is not the whole datagram", b, payload)
		}
	})
}

// udpEvents collects a UDP server's events.
type udpEvents struct {
	mu  sync.Mutex
	evs []Event
	ch  chan struct{}
}

func newUDPEvents() *udpEvents { return &udpEvents{ch: make(chan struct{}, 1)} }

func (u *udpEvents) on(e Event) {
	e.Payload = bytes.Clone(e.Payload)
	u.mu.Lock()
	u.evs = append(u.evs, e)
	u.mu.Unlock()
	select {
	case u.ch <- struct{}{}:
	default:
	}
}

// wait returns the events once cond holds for them, failing t after a
// generous bound (a hung server, not a slow one).
func (u *udpEvents) wait(t *testing.T, what string, cond func([]Event) bool) []Event {
	t.Helper()
	stop := time.After(10 * time.Second)
	for {
		u.mu.Lock()
		evs := append([]Event(nil), u.evs...)
		u.mu.Unlock()
		if cond(evs) {
			return evs
		}
		select {
		case <-u.ch:
		case <-stop:
			t.Fatalf("no %s; events: %+v", what, evs)
		}
	}
}

func count(kind EventKind) func([]Event) int {
	return func(evs []Event) int {
		n := 0
		for _, e := range evs {
			if e.Kind == kind {
				n++
			}
		}
		return n
	}
}

// startUDP serves on a loopback socket and returns its address.
func startUDP(t *testing.T, cfg UDPConfig) (*UDPServer, *net.UDPAddr, chan error) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewUDPServer(cfg)
	done := make(chan error, 1)
	go func() { done <- s.Serve(pc) }()
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s, pc.LocalAddr().(*net.UDPAddr), done
}

// exchange sends b from c and returns the reply, or nil after wait.
func exchange(t *testing.T, c *net.UDPConn, b []byte, wait time.Duration) []byte {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, udpReadBuffer)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

func dialUDP(t *testing.T, to *net.UDPAddr) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, to)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestUDPServerEchoesOneFramePerDatagram(t *testing.T) {
	ev := newUDPEvents()
	s, addr, _ := startUDP(t, UDPConfig{MaxFrame: 64, OnEvent: ev.on})
	c := dialUDP(t, addr)

	hola := Append(nil, []byte("hola"))
	if got := exchange(t, c, hola, 5*time.Second); !bytes.Equal(got, hola) {
		t.Fatalf("echo of %x = %x", hola, got)
	}
	// Not one frame, or too large: nothing comes back. The good frame sent
	// after each must be the next reply.
	bad := [][]byte{
		{1, 2},
		append(Append(nil, []byte("hola")), 'x'),
		Append(nil, bytes.Repeat([]byte("a"), 65)),
		Append(nil, []byte("hola"))[:6],
	}
	for i, b := range bad {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		next := Append(nil, []byte{byte('0' + i)})
		if got := exchange(t, c, next, 5*time.Second); !bytes.Equal(got, next) {
			t.Errorf("after bad datagram %x the reply was %x, want only the echo %x", b, got, next)
		}
	}
	// Each echo is sent before its message event, so wait for both counts.
	evs := ev.wait(t, "error and message events", func(evs []Event) bool {
		return count(EventError)(evs) == len(bad) && count(EventMessage)(evs) == 1+len(bad)
	})
	if n := count(EventConnect)(evs); n != 1 {
		t.Errorf("%d connect events for one peer, want 1: %+v", n, evs)
	}
	if n := count(EventMessage)(evs); n != 1+len(bad) {
		t.Errorf("%d message events, want %d", n, 1+len(bad))
	}
	for _, e := range evs {
		if e.Client != 1 || e.Remote != c.LocalAddr().String() {
			t.Errorf("event %+v: want client 1 at %s", e, c.LocalAddr())
		}
		if e.Kind == EventMessage && e.Payload == nil {
			t.Errorf("message event without payload: %+v", e)
		}
	}
	if errs := filter(evs, EventError); !errors.Is(errs[0].Err, ErrNotOneFrame) || !errors.Is(errs[2].Err, ErrTooLarge) {
		t.Errorf("error events %v, %v: want not-one-frame and too-large", errs[0].Err, errs[2].Err)
	}
	if cl := s.Clients(); len(cl) != 1 || cl[0].Frames != uint64(1+len(bad)) {
		t.Errorf("Clients() = %+v, want one peer with %d frames", cl, 1+len(bad))
	}
}

func filter(evs []Event, kind EventKind) []Event {
	var out []Event
	for _, e := range evs {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func TestUDPServerTableIsBounded(t *testing.T) {
	ev := newUDPEvents()
	s, addr, _ := startUDP(t, UDPConfig{MaxPeers: 2, OnEvent: ev.on})
	var peers []*net.UDPConn
	for i := range 3 {
		c := dialUDP(t, addr)
		peers = append(peers, c)
		msg := Append(nil, []byte{byte(i)})
		if got := exchange(t, c, msg, 5*time.Second); !bytes.Equal(got, msg) {
			t.Fatalf("peer %d: echo %x, want %x", i, got, msg)
		}
	}
	evs := ev.wait(t, "a forgotten peer", func(evs []Event) bool { return count(EventDisconnect)(evs) == 1 })
	d := filter(evs, EventDisconnect)[0]
	if d.Client != 1 || !errors.Is(d.Err, ErrPeerForgotten) || d.Remote != peers[0].LocalAddr().String() {
		t.Errorf("disconnect %+v: want the first peer forgotten", d)
	}
	if cl := s.Clients(); len(cl) != 2 || cl[0].ID != 2 || cl[1].ID != 3 {
		t.Errorf("Clients() = %+v, want peers 2 and 3", cl)
	}
	// A forgotten peer is still echoed, and comes back as a new client.
	msg := Append(nil, []byte("again"))
	if got := exchange(t, peers[0], msg, 5*time.Second); !bytes.Equal(got, msg) {
		t.Errorf("forgotten peer not echoed: %x", got)
	}
	ev.wait(t, "the peer back as client 4", func(evs []Event) bool {
		c := filter(evs, EventConnect)
		return len(c) == 4 && c[3].Client == 4
	})
}

func TestUDPServerForgetsIdlePeers(t *testing.T) {
	ev := newUDPEvents()
	_, addr, _ := startUDP(t, UDPConfig{IdleTimeout: 20 * time.Millisecond, OnEvent: ev.on})
	c := dialUDP(t, addr)
	msg := Append(nil, []byte("x"))
	if got := exchange(t, c, msg, 5*time.Second); !bytes.Equal(got, msg) {
		t.Fatalf("echo %x", got)
	}
	evs := ev.wait(t, "an idle disconnect", func(evs []Event) bool { return count(EventDisconnect)(evs) == 1 })
	if d := filter(evs, EventDisconnect)[0]; !errors.Is(d.Err, ErrIdleTimeout) || d.Clients != 0 {
		t.Errorf("disconnect %+v: want an idle timeout leaving no peer", d)
	}
}

func TestUDPServerShutdown(t *testing.T) {
	ev := newUDPEvents()
	s, addr, done := startUDP(t, UDPConfig{OnEvent: ev.on})
	c := dialUDP(t, addr)
	msg := Append(nil, []byte("x"))
	if got := exchange(t, c, msg, 5*time.Second); !bytes.Equal(got, msg) {
		t.Fatalf("echo %x", got)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown = %v, want ErrServerClosed", err)
	}
	d := filter(ev.wait(t, "disconnect", func(evs []Event) bool { return count(EventDisconnect)(evs) == 1 }), EventDisconnect)[0]
	if d.Client != 1 || !errors.Is(d.Err, ErrServerClosed) {
		t.Errorf("disconnect on shutdown %+v", d)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(pc); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown = %v", err)
	}
}

// BenchmarkUDPEcho measures one datagram's round trip through the UDP
// server on loopback, with the peer table holding only the sender or full
// (the case where per-datagram work that grows with the table shows).
func BenchmarkUDPEcho(b *testing.B) {
	for _, peers := range []int{1, DefaultUDPPeers} {
		b.Run(fmt.Sprintf("peers=%d", peers), func(b *testing.B) {
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			s := NewUDPServer(UDPConfig{})
			go s.Serve(pc)
			defer s.Shutdown(context.Background())
			addr := pc.LocalAddr().(*net.UDPAddr)
			msg := Append(nil, []byte("hola"))
			buf := make([]byte, 64)
			echo := func(c *net.UDPConn) {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if n, err := c.Read(buf); err != nil || n != len(msg) {
					b.Fatalf("echo: %d bytes, %v", n, err)
				}
			}
			// The other peers are remembered first, each with one frame.
			for range peers - 1 {
				c, err := net.DialUDP("udp", nil, addr)
				if err != nil {
					b.Fatal(err)
				}
				echo(c)
				c.Close()
			}
			c, err := net.DialUDP("udp", nil, addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				echo(c)
			}
		})
	}
}

// The table keeps its peers in the order they were last heard from: the
// peer forgotten when it is full, and the next to fall idle, is the one
// heard from longest ago, not the first to come.
func TestUDPPeersHeardFromLongestAgo(t *testing.T) {
	ev := newUDPEvents()
	s := NewUDPServer(UDPConfig{MaxPeers: 3, IdleTimeout: time.Minute, OnEvent: ev.on})
	peer := func(port uint16) netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), port) }
	t0 := time.Now()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	for i, port := range []uint16{1, 2, 3, 1} { // peer 1 speaks again last
		s.touch(peer(port), at(time.Duration(i)*time.Second))
		checkPeerOrder(t, s)
	}
	if got, want := s.nextExpiry(), at(time.Second+time.Minute); !got.Equal(want) {
		t.Errorf("next expiry %v after t0, want %v: peer 2 is the one heard from longest ago", got.Sub(t0), want.Sub(t0))
	}
	_, isNew, gone, n := s.touch(peer(4), at(4*time.Second))
	if !isNew || len(gone) != 1 || gone[0].remote != "192.0.2.1:2" || n != 3 {
		t.Errorf("a fourth peer in a table of 3: new %v, forgot %+v, %d peers; want peer 2 forgotten", isNew, gone, n)
	}
	// A time taken before the newest peer's (another socket's loop) does
	// not put a peer ahead of it.
	s.touch(peer(3), at(3*time.Second))
	checkPeerOrder(t, s)
	s.expire(at(4*time.Second + time.Minute))
	checkPeerOrder(t, s)
	if cl := s.Clients(); len(cl) != 0 {
		t.Errorf("after every peer's idle timeout: %+v remembered", cl)
	}
	evs := filter(ev.wait(t, "idle disconnects", func(evs []Event) bool { return count(EventDisconnect)(evs) == 3 }), EventDisconnect)
	for i, want := range []uint64{1, 3, 4} {
		if evs[i].Client != want || !errors.Is(evs[i].Err, ErrIdleTimeout) {
			t.Errorf("disconnect %d: %+v, want client %d idle", i, evs[i], want)
		}
	}
	if !s.nextExpiry().IsZero() {
		t.Errorf("next expiry %v with no peer", s.nextExpiry())
	}
}

// checkPeerOrder fails t unless s's list of peers holds every remembered
// peer once, linked both ways, in the order they were last heard from.
func checkPeerOrder(t *testing.T, s *UDPServer) {
	t.Helper()
	n := 0
	var older *udpPeer
	for p := s.peers.oldest; p != nil; older, p = p, p.newer {
		if p.older != older || s.peers.byAddr[p.addr] != p {
			t.Fatalf("peer %d is linked wrongly or not in the map", p.id)
		}
		if older != nil && p.last.Before(older.last) {
			t.Fatalf("peer %d, heard from at %v, comes after peer %d, heard from at %v", p.id, p.last, older.id, older.last)
		}
		n++
	}
	if older != s.peers.newest || n != len(s.peers.byAddr) {
		t.Fatalf("%d peers in the list, %d in the map", n, len(s.peers.byAddr))
	}
}

// A peer that speaks again before its idle timeout is not forgotten when
// the timeout of its first datagram comes: it is forgotten an idle timeout
// after its last one.
func TestUDPServerIdleCountsFromTheLastDatagram(t *testing.T) {
	const idle = 400 * time.Millisecond
	ev := newUDPEvents()
	_, addr, _ := startUDP(t, UDPConfig{IdleTimeout: idle, OnEvent: ev.on})
	c := dialUDP(t, addr)
	var sent []time.Time // when each datagram left, before the server saw it
	for i := range 2 {
		if i > 0 {
			time.Sleep(idle / 4)
		}
		msg := Append(nil, []byte{byte('0' + i)})
		sent = append(sent, time.Now())
		if got := exchange(t, c, msg, 5*time.Second); !bytes.Equal(got, msg) {
			t.Fatalf("echo %x", got)
		}
	}
	evs := ev.wait(t, "an idle disconnect", func(evs []Event) bool {
		return count(EventDisconnect)(evs) > 0 && count(EventMessage)(evs) == 2
	})
	// The server cannot be early, whatever the machine's pace: each
	// disconnect comes at least an idle timeout after the last datagram
	// its client sent. (A stalled test may have sent the second datagram
	// after the first peer fell idle: then it is a second client.)
	last := map[uint64]time.Time{}
	for i, m := range filter(evs, EventMessage) {
		last[m.Client] = sent[i]
	}
	for _, d := range filter(evs, EventDisconnect) {
		if early := last[d.Client].Add(idle).Sub(d.Time); early > 0 {
			t.Errorf("client %d forgotten %v before an idle timeout after its last datagram", d.Client, early)
		}
	}
}

// On a dual-stack socket an IPv4 sender is one peer at its IPv4 address,
// as it sees itself, and its echo reaches it.
func TestUDPServerDualStackShowsIPv4Senders(t *testing.T) {
	pc, err := net.ListenPacket("udp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	ev := newUDPEvents()
	s := NewUDPServer(UDPConfig{OnEvent: ev.on})
	go s.Serve(pc)
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	c := dialUDP(t, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: pc.LocalAddr().(*net.UDPAddr).Port})
	msg := Append(nil, []byte("hola"))
	for range 2 {
		if got := exchange(t, c, msg, 5*time.Second); !bytes.Equal(got, msg) {
			t.Fatalf("echo %x", got)
		}
	}
	evs := ev.wait(t, "two messages", func(evs []Event) bool { return count(EventMessage)(evs) == 2 })
	for _, e := range evs {
		if e.Remote != c.LocalAddr().String() || e.Client != 1 {
			t.Errorf("event %+v: want client 1 at %s", e, c.LocalAddr())
		}
	}
}
