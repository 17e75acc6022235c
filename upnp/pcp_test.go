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
	"testing"
	"time"
)

func newTestPCP(f *fakeGateway) (*PCP, *testLog) {
	log := &testLog{}
	return NewPCP(Config{NATPMPPort: f.port, Logf: log.logf, CacheDir: "off"}, loopback, loopback), log
}

// pcpTestReply builds a reply to req (ANNOUNCE or MAP) independently of the
// code under test: header, then for MAP the request's nonce, protocol and
// internal port with the given external port and address.
func pcpTestReply(req []byte, code byte, lifetime uint32, extPort uint16, extIP netip.Addr) []byte {
	b := make([]byte, 24, 60)
	b[0] = 2
	b[1] = 0x80 | req[1]
	b[3] = code
	binary.BigEndian.PutUint32(b[4:], lifetime)
	binary.BigEndian.PutUint32(b[8:], 1000) // epoch
	if req[1] == 1 && len(req) >= 60 {
		p := make([]byte, 36)
		copy(p, req[24:42]) // nonce, protocol, reserved, internal port
		binary.BigEndian.PutUint16(p[18:], extPort)
		ip := extIP.As16()
		copy(p[20:], ip[:])
		b = append(b, p...)
	}
	return b
}

var wan = netip.MustParseAddr("11.0.0.2")

// pcpRouter grants every MAP on external port 40000 with the lease asked,
// capped at 2 hours; lifetime 0 deletes.
func pcpRouter(req []byte) []fakeReply {
	lifetime := binary.BigEndian.Uint32(req[4:])
	lifetime = min(lifetime, 7200)
	ext := uint16(40000)
	if lifetime == 0 {
		ext = 0
	}
	return one(pcpTestReply(req, 0, lifetime, ext, wan))
}

func TestPCPProbe(t *testing.T) {
	f := newFakeGateway(t, pcpRouter)
	c, _ := newTestPCP(f)
	if err := c.Probe(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 24)
	want[0] = 2
	want[18], want[19] = 0xff, 0xff
	copy(want[20:], []byte{127, 0, 0, 1})
	if reqs := f.requests(); len(reqs) != 1 || !bytes.Equal(reqs[0], want) {
		t.Errorf("requests %x, want one ANNOUNCE %x", reqs, want)
	}
	if c.Method() != MethodPCP {
		t.Errorf("Method %q", c.Method())
	}
}

func TestPCPProbeNATPMPOnly(t *testing.T) {
	f := newFakeGateway(t, func(req []byte) []fakeReply {
		return one([]byte{0, 128 + req[1], 0, 1, 0, 0, 0, 9}) // NAT-PMP "unsupported version"
	})
	c, _ := newTestPCP(f)
	err := c.Probe(t.Context())
	var pe *PCPError
	if !errors.As(err, &pe) || pe.Code != PCPUnsuppVersion {
		t.Fatalf("Probe error %v, want *PCPError UNSUPP_VERSION", err)
	}
	if !strings.Contains(pe.Advice(), "NAT-PMP") || Kind(err) != KindUnsupported {
		t.Errorf("advice %q does not point at NAT-PMP, or kind %s is not unsupported", pe.Advice(), Kind(err))
	}
}

func TestPCPAddRenewDelete(t *testing.T) {
	f := newFakeGateway(t, pcpRouter)
	c, _ := newTestPCP(f)
	m := Mapping{Protocol: TCP, ExternalPort: 1234, InternalPort: 1234, Lease: 3 * time.Hour}
	got, err := c.Add(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	if got.ExternalPort != 40000 || got.Lease != 2*time.Hour || got.InternalIP != loopback {
		t.Errorf("granted %+v, want external port 40000, lease 2h, internal IP 127.0.0.1", got)
	}
	if _, err := c.Add(t.Context(), m); err != nil { // renewal
		t.Fatal(err)
	}
	if err := c.Delete(t.Context(), got); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("got %d requests, want add, renew, delete", len(reqs))
	}
	add := reqs[0]
	if len(add) != 60 || add[0] != 2 || add[1] != 1 {
		t.Fatalf("add request %x: want 60 bytes, version 2, opcode MAP", add)
	}
	if lt := binary.BigEndian.Uint32(add[4:]); lt != 3*3600 {
		t.Errorf("add lifetime %d, want %d", lt, 3*3600)
	}
	if !bytes.Equal(add[8:24], []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1}) {
		t.Errorf("client address %x, want ::ffff:127.0.0.1", add[8:24])
	}
	if add[36] != 6 || binary.BigEndian.Uint16(add[40:]) != 1234 || binary.BigEndian.Uint16(add[42:]) != 1234 {
		t.Errorf("MAP payload %x: want protocol 6, internal and suggested port 1234", add[24:])
	}
	nonce := add[24:36]
	if bytes.Equal(nonce, make([]byte, 12)) {
		t.Error("nonce is all zero")
	}
	if !bytes.Equal(reqs[1][24:36], nonce) {
		t.Errorf("renewal nonce %x, want the add's %x", reqs[1][24:36], nonce)
	}
	del := reqs[2]
	if !bytes.Equal(del[24:36], nonce) || binary.BigEndian.Uint32(del[4:]) != 0 {
		t.Errorf("delete %x: want lifetime 0 and nonce %x", del, nonce)
	}
	if _, err := c.Add(t.Context(), Mapping{Protocol: TCP, InternalIP: netip.MustParseAddr("192.168.1.20"), InternalPort: 1}); err == nil {
		t.Error("Add for another host: no error")
	}
	if err := c.Delete(t.Context(), got); !errors.Is(err, ErrPCPUnknownNonce) {
		t.Errorf("second delete: %v, want ErrPCPUnknownNonce", err)
	}
	if n := len(f.requests()); n != 3 {
		t.Errorf("a delete without a nonce sent a request (%d requests)", n)
	}
}

func TestPCPExternalAddr(t *testing.T) {
	f := newFakeGateway(t, pcpRouter)
	c, _ := newTestPCP(f)
	got, err := c.ExternalAddr(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got != wan {
		t.Errorf("external address %v, want %v", got, wan)
	}
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests, want a short map and its delete", len(reqs))
	}
	if !bytes.Equal(reqs[0][24:44], reqs[1][24:44]) || binary.BigEndian.Uint32(reqs[1][4:]) != 0 {
		t.Errorf("the short-lived map was not deleted with its nonce: %x then %x", reqs[0], reqs[1])
	}
}

func TestPCPResultCodes(t *testing.T) {
	for _, tc := range []struct {
		code   PCPCode
		advice string
		kind   FailureKind
	}{
		{PCPUnsuppVersion, "NAT-PMP", KindUnsupported},
		{PCPNotAuthorized, "disabled or restricted", KindNotAuthorized},
		{PCPNetworkFailure, "no external address", KindNoExternalAddress},
		{PCPNoResources, "full", KindNoResources},
		{PCPCannotProvideExternal, "another external port", KindConflict},
		{PCPAddressMismatch, "another NAT", KindRefused},
		{PCPExcessiveRemotePeers, "remote peers", KindRefused},
	} {
		for _, short := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d/short=%v", tc.code, short), func(t *testing.T) {
				f := newFakeGateway(t, func(req []byte) []fakeReply {
					b := pcpTestReply(req, byte(tc.code), 30, 0, netip.IPv6Unspecified())
					if short {
						b = b[:24]
					}
					return one(b)
				})
				c, _ := newTestPCP(f)
				_, err := c.Add(t.Context(), Mapping{Protocol: UDP, ExternalPort: 5000, InternalPort: 5000, Lease: time.Hour})
				var pe *PCPError
				if !errors.As(err, &pe) || pe.Code != tc.code {
					t.Fatalf("Add error %v, want *PCPError code %d", err, tc.code)
				}
				if !strings.Contains(pe.Advice(), tc.advice) || strings.Contains(err.Error(), pe.Advice()) {
					t.Errorf("advice %q does not say %q, or error %q repeats it", pe.Advice(), tc.advice, err)
				}
				if !strings.Contains(err.Error(), fmt.Sprintf("PCP result %d (%s)", tc.code, tc.code)) || Kind(err) != tc.kind {
					t.Errorf("error %q (kind %s) does not name result %d of kind %s", err, Kind(err), tc.code, tc.kind)
				}
			})
		}
	}
}

// TestPCPIgnoresBadReplies sends each bad reply before the good one.
func TestPCPIgnoresBadReplies(t *testing.T) {
	for _, tc := range []struct {
		name, why string
		bad       func(good []byte) fakeReply
	}{
		{"truncated", "truncated", func(g []byte) fakeReply { return fakeReply{b: g[:40]} }},
		{"oversized", "oversized", func(g []byte) fakeReply { return fakeReply{b: append(g, make([]byte, 1044)...)} }},
		{"unaligned", "multiple of 4", func(g []byte) fakeReply { return fakeReply{b: append(g, 0)} }},
		{"wrong nonce", "nonce", func(g []byte) fakeReply {
			b := bytes.Clone(g)
			b[24] ^= 0xff
			return fakeReply{b: b}
		}},
		{"request echoed", "R bit", func(g []byte) fakeReply {
			b := bytes.Clone(g)
			b[1] &^= 0x80
			return fakeReply{b: b}
		}},
		{"wrong opcode", "opcode 2", func(g []byte) fakeReply {
			b := bytes.Clone(g)
			b[1] = 0x82
			return fakeReply{b: b}
		}},
		{"wrong internal port", "internal port", func(g []byte) fakeReply {
			b := bytes.Clone(g)
			b[41]++
			return fakeReply{b: b}
		}},
		{"wrong source", "127.0.0.2", func(g []byte) fakeReply { return fakeReply{b: g, spoofed: true} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeGateway(t, func(req []byte) []fakeReply {
				good := pcpTestReply(req, 0, 3600, 40000, wan)
				return []fakeReply{tc.bad(bytes.Clone(good)), {b: good}}
			})
			if tc.name == "wrong source" {
				f.withSpoofer(t)
			}
			c, log := newTestPCP(f)
			got, err := c.Add(t.Context(), Mapping{Protocol: TCP, ExternalPort: 1234, InternalPort: 1234, Lease: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if got.ExternalPort != 40000 {
				t.Errorf("external port %d, want the good reply's 40000", got.ExternalPort)
			}
			// A spoofed reply never reaches the connected socket: the
			// kernel drops it, so there is nothing to log.
			if tc.name != "wrong source" && !log.contains(tc.why) {
				t.Errorf("log does not say %q:\n%s", tc.why, log)
			}
		})
	}
}

// A router without NAT-PMP/PCP answers with ICMP port unreachable: the
// probe ends at once, not after its timeout.
func TestPMPRefusedPortEndsAtOnce(t *testing.T) {
	port := closedUDPPort(t)
	cfg := Config{NATPMPPort: port, CacheDir: "off"}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := NewPCP(cfg, loopback, loopback).Probe(ctx)
	if !errors.Is(err, ErrPCPNoReply) || !strings.Contains(err.Error(), "port unreachable") {
		t.Errorf("PCP probe of a closed port: %v, want port unreachable", err)
	}
	err = NewNATPMP(cfg, loopback).Probe(ctx)
	if !errors.Is(err, ErrNATPMPNoReply) || !strings.Contains(err.Error(), "port unreachable") {
		t.Errorf("NAT-PMP probe of a closed port: %v, want port unreachable", err)
	}
}

// closedUDPPort returns a loopback UDP port nothing listens on.
func closedUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	return port
}

func TestPCPSilentGateway(t *testing.T) {
	f := newFakeGateway(t, func(req []byte) []fakeReply { return nil })
	c, _ := newTestPCP(f)
	if err := c.Probe(t.Context()); !errors.Is(err, ErrPCPNoReply) {
		t.Fatalf("Probe error %v, want ErrPCPNoReply", err)
	}
}
