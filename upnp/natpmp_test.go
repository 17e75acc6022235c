package upnp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeReply is one datagram the fake gateway sends back; spoofed ones come
// from 127.0.0.2 on the same port, as a host that is not the gateway.
type fakeReply struct {
	b       []byte
	spoofed bool
}

// fakeGateway is an in-process NAT-PMP/PCP server on 127.0.0.1.
type fakeGateway struct {
	conn  *net.UDPConn
	spoof *net.UDPConn
	port  int

	mu     sync.Mutex
	reqs   [][]byte
	handle func(req []byte) []fakeReply
	got    chan struct{} // one send per request received
}

func newFakeGateway(t *testing.T, handle func(req []byte) []fakeReply) *fakeGateway {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeGateway{conn: conn, port: conn.LocalAddr().(*net.UDPAddr).Port, handle: handle, got: make(chan struct{}, 100)}
	done := make(chan struct{})
	t.Cleanup(func() {
		conn.Close()
		<-done
		if f.spoof != nil { // the reader has stopped
			f.spoof.Close()
		}
	})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			req := append([]byte(nil), buf[:n]...)
			f.mu.Lock()
			f.reqs = append(f.reqs, req)
			h, spoof := f.handle, f.spoof
			f.mu.Unlock()
			select {
			case f.got <- struct{}{}:
			default:
			}
			for _, r := range h(req) {
				c := conn
				if r.spoofed {
					c = spoof
				}
				c.WriteToUDPAddrPort(r.b, from)
			}
		}
	}()
	return f
}

// withSpoofer binds 127.0.0.2 on the fake's port, so that spoofed replies
// differ from the gateway's only in their source address.
func (f *fakeGateway) withSpoofer(t *testing.T) {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: f.port})
	if err != nil {
		t.Skipf("cannot bind 127.0.0.2 to play a host other than the gateway: %v", err)
	}
	f.mu.Lock()
	f.spoof = c
	f.mu.Unlock()
}

func (f *fakeGateway) requests() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.reqs...)
}

// testLog collects Logf lines.
type testLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *testLog) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *testLog) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

var loopback = netip.MustParseAddr("127.0.0.1")

func newTestNATPMP(f *fakeGateway) (*NATPMP, *testLog) {
	log := &testLog{}
	return NewNATPMP(Config{NATPMPPort: f.port, Logf: log.logf, CacheDir: "off"}, loopback), log
}

// natpmpReply builds a reply independently of the code under test.
func natpmpReply(op byte, result uint16, body ...byte) []byte {
	b := []byte{0, 128 + op, 0, 0, 0, 0, 0x12, 0x34}
	binary.BigEndian.PutUint16(b[2:], result)
	return append(b, body...)
}

func natpmpMapBody(internal, external uint16, lifetime uint32) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint16(b[0:], internal)
	binary.BigEndian.PutUint16(b[2:], external)
	binary.BigEndian.PutUint32(b[4:], lifetime)
	return b
}

func one(b []byte) []fakeReply { return []fakeReply{{b: b}} }

func TestNATPMPExternalAddr(t *testing.T) {
	f := newFakeGateway(t, func(req []byte) []fakeReply {
		return one(natpmpReply(0, 0, 11, 0, 0, 2))
	})
	c, _ := newTestNATPMP(f)
	got, err := c.ExternalAddr(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := netip.MustParseAddr("11.0.0.2"); got != want {
		t.Errorf("external address %v, want %v", got, want)
	}
	if reqs := f.requests(); len(reqs) != 1 || !bytes.Equal(reqs[0], []byte{0, 0}) {
		t.Errorf("requests %x, want one [00 00]", reqs)
	}
	if err := c.Probe(t.Context()); err != nil {
		t.Errorf("Probe: %v", err)
	}
	if c.Method() != MethodNATPMP {
		t.Errorf("Method %q", c.Method())
	}
}

func TestNATPMPAddDelete(t *testing.T) {
	f := newFakeGateway(t, func(req []byte) []fakeReply {
		internal := binary.BigEndian.Uint16(req[4:])
		lifetime := binary.BigEndian.Uint32(req[8:])
		ext := uint16(40000)
		if lifetime == 0 {
			ext = 0
		} else if lifetime > 1800 {
			lifetime = 1800 // the router shortens the lease
		}
		return one(natpmpReply(req[1], 0, natpmpMapBody(internal, ext, lifetime)...))
	})
	c, _ := newTestNATPMP(f)
	m := Mapping{Protocol: TCP, ExternalPort: 1234, InternalPort: 1234, Lease: time.Hour}
	got, err := c.Add(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	if got.ExternalPort != 40000 || got.Lease != 30*time.Minute || got.InternalPort != 1234 || got.Protocol != TCP {
		t.Errorf("granted %+v, want external port 40000 and a 30m lease", got)
	}
	if err := c.Delete(t.Context(), got); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests, want 2", len(reqs))
	}
	wantAdd := []byte{0, 2, 0, 0, 0x04, 0xd2, 0x04, 0xd2, 0, 0, 0x0e, 0x10}
	if !bytes.Equal(reqs[0], wantAdd) {
		t.Errorf("add request %x, want %x", reqs[0], wantAdd)
	}
	wantDel := []byte{0, 2, 0, 0, 0x04, 0xd2, 0, 0, 0, 0, 0, 0}
	if !bytes.Equal(reqs[1], wantDel) {
		t.Errorf("delete request %x, want %x", reqs[1], wantDel)
	}

	if got.InternalIP != loopback {
		t.Errorf("granted internal address %v, want the requesting host's %v", got.InternalIP, loopback)
	}
	// No external port asked: ask for the internal one.
	if _, err := c.Add(t.Context(), Mapping{Protocol: UDP, InternalPort: 5000, Lease: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if r := f.requests()[2]; r[1] != 1 || binary.BigEndian.Uint16(r[6:]) != 5000 {
		t.Errorf("request %x: want UDP with suggested external port 5000", r)
	}
	// NAT-PMP maps to the sender: a foreign internal address cannot be sent from.
	if _, err := c.Add(t.Context(), Mapping{Protocol: TCP, InternalIP: netip.MustParseAddr("192.0.2.7"), InternalPort: 1}); err == nil {
		t.Error("Add for another host's address: no error")
	}
	if _, err := c.Add(t.Context(), Mapping{Protocol: "sctp", InternalPort: 1}); err == nil {
		t.Error("Add with protocol sctp: no error")
	}
}

func TestNATPMPResultCodes(t *testing.T) {
	for code, tc := range map[uint16]struct {
		advice string
		kind   FailureKind
	}{
		1: {"version", KindUnsupported},
		2: {"disabled or restricted", KindNotAuthorized},
		3: {"no external address", KindNoExternalAddress},
		4: {"full", KindNoResources},
		5: {"does not support", KindUnsupported},
	} {
		for _, short := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d/short=%v", code, short), func(t *testing.T) {
				f := newFakeGateway(t, func(req []byte) []fakeReply {
					if short {
						return one(natpmpReply(req[1], code)) // 8 bytes, as miniupnpd sends
					}
					if req[1] == 0 {
						return one(natpmpReply(0, code, 0, 0, 0, 0))
					}
					return one(natpmpReply(req[1], code, natpmpMapBody(binary.BigEndian.Uint16(req[4:]), 0, 0)...))
				})
				c, _ := newTestNATPMP(f)
				_, err := c.ExternalAddr(t.Context())
				var pe *NATPMPError
				if !errors.As(err, &pe) || pe.Result != NATPMPResult(code) {
					t.Fatalf("ExternalAddr error %v, want *NATPMPError with result %d", err, code)
				}
				if !strings.Contains(pe.Advice(), tc.advice) || strings.Contains(err.Error(), pe.Advice()) {
					t.Errorf("advice %q does not say %q, or error %q repeats it", pe.Advice(), tc.advice, err)
				}
				if !strings.Contains(err.Error(), fmt.Sprintf("result %d (", code)) || Kind(err) != tc.kind {
					t.Errorf("error %q (kind %s) does not name result %d of kind %s", err, Kind(err), code, tc.kind)
				}
				_, err = c.Add(t.Context(), Mapping{Protocol: UDP, ExternalPort: 5000, InternalPort: 5000, Lease: time.Hour})
				if !errors.As(err, &pe) || pe.Result != NATPMPResult(code) {
					t.Fatalf("Add error %v, want *NATPMPError with result %d", err, code)
				}
			})
		}
	}
}

// TestNATPMPIgnoresBadReplies sends each bad reply before the good one: the
// client must skip it, say why, and take the good one.
func TestNATPMPIgnoresBadReplies(t *testing.T) {
	good := natpmpReply(0, 0, 11, 0, 0, 2)
	for _, tc := range []struct {
		name, why string
		bad       fakeReply
	}{
		{"truncated", "truncated", fakeReply{b: good[:10]}},
		{"oversized", "oversized", fakeReply{b: append(append([]byte(nil), good...), 0, 0, 0, 0)}},
		{"version", "version 1", fakeReply{b: append([]byte{1}, good[1:]...)}},
		{"opcode", "opcode 129", fakeReply{b: append([]byte{0, 129}, good[2:]...)}},
		{"too big to read", "more than 1100 bytes", fakeReply{b: make([]byte, 1500)}},
		{"wrong source", "127.0.0.2", fakeReply{b: natpmpReply(0, 0, 6, 6, 6, 6), spoofed: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeGateway(t, func(req []byte) []fakeReply {
				return []fakeReply{tc.bad, {b: good}}
			})
			if tc.bad.spoofed {
				f.withSpoofer(t)
			}
			c, log := newTestNATPMP(f)
			got, err := c.ExternalAddr(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if got != netip.MustParseAddr("11.0.0.2") {
				t.Errorf("external address %v, want the gateway's 11.0.0.2", got)
			}
			// A spoofed reply never reaches the connected socket: the
			// kernel drops it, so there is nothing to log.
			if !tc.bad.spoofed && !log.contains(tc.why) {
				t.Errorf("log does not say %q:\n%s", tc.why, log)
			}
		})
	}
}

func TestNATPMPSilentGateway(t *testing.T) {
	f := newFakeGateway(t, func(req []byte) []fakeReply {
		return []fakeReply{{b: []byte{0, 128, 0}}} // truncated: never acceptable
	})
	c, log := newTestNATPMP(f)
	err := c.Probe(t.Context())
	if !errors.Is(err, ErrNATPMPNoReply) {
		t.Fatalf("Probe error %v, want ErrNATPMPNoReply", err)
	}
	if n := len(f.requests()); n < 2 {
		t.Errorf("the gateway got %d requests, want the first and a resend", n)
	}
	if !log.contains("truncated") {
		t.Errorf("log does not explain the ignored replies:\n%s", log)
	}
}

func TestNATPMPCancel(t *testing.T) {
	f := newFakeGateway(t, func(req []byte) []fakeReply { return nil })
	c, _ := newTestNATPMP(f)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-f.got
		cancel()
	}()
	_, err := c.ExternalAddr(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}
