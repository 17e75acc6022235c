package probe

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v3"
)

// pionAllocate builds an Allocate request as pion's client v4.1.4 does:
// the first without credentials, the second signed with the long-term
// key of reach:secret in realm lab.
func pionAllocate(t *testing.T, signed bool) *stun.Message {
	t.Helper()
	setters := []stun.Setter{
		stun.TransactionID,
		stun.NewType(stun.MethodAllocate, stun.ClassRequest),
		requestedTransportTCP{},
	}
	if signed {
		setters = append(setters, stun.NewUsername("reach"), stun.NewRealm("lab"), stun.NewNonce("n0nce"),
			stun.NewLongTermIntegrity("reach", "lab", "secret"))
	}
	m, err := stun.Build(append(setters, stun.Fingerprint)...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// requestedTransportTCP is REQUESTED-TRANSPORT for TCP (protocol 6).
type requestedTransportTCP struct{}

func (requestedTransportTCP) AddTo(m *stun.Message) error {
	m.Add(stun.AttrRequestedTransport, []byte{6, 0, 0, 0})
	return nil
}

func TestWithRequestedFamily(t *testing.T) {
	for _, signed := range []bool{false, true} {
		in := pionAllocate(t, signed)
		out, err := withRequestedFamily(decodeSTUN(in.Raw), familyIPv6, "secret")
		if err != nil {
			t.Fatalf("signed %v: %v", signed, err)
		}
		// What the server reads: a well-formed message that asks for
		// IPv6, with its other attributes and its transaction.
		got := decodeSTUN(out.Raw)
		if got == nil {
			t.Fatalf("signed %v: the rewritten request is not a STUN message: %x", signed, out.Raw)
		}
		if v, err := got.Get(stun.AttrRequestedAddressFamily); err != nil || !bytes.Equal(v, []byte{0x02, 0, 0, 0}) {
			t.Errorf("signed %v: REQUESTED-ADDRESS-FAMILY = %x, %v; want 02000000", signed, v, err)
		}
		if got.TransactionID != in.TransactionID || got.Type != in.Type {
			t.Errorf("signed %v: transaction or type changed: %v %x", signed, got.Type, got.TransactionID)
		}
		if v, _ := got.Get(stun.AttrRequestedTransport); !bytes.Equal(v, []byte{6, 0, 0, 0}) {
			t.Errorf("signed %v: REQUESTED-TRANSPORT = %x", signed, v)
		}
		if err := stun.Fingerprint.Check(got); err != nil {
			t.Errorf("signed %v: FINGERPRINT: %v", signed, err)
		}
		if last := got.Attributes[len(got.Attributes)-1].Type; last != stun.AttrFingerprint {
			t.Errorf("signed %v: last attribute %v, want FINGERPRINT", signed, last)
		}
		if !signed {
			if got.Contains(stun.AttrMessageIntegrity) {
				t.Errorf("an unauthenticated request came out signed")
			}
			continue
		}
		// The server checks MESSAGE-INTEGRITY with the key it knows;
		// the family sits in front of it, covered.
		if err := stun.NewLongTermIntegrity("reach", "lab", "secret").Check(got); err != nil {
			t.Errorf("MESSAGE-INTEGRITY of the rewritten request: %v", err)
		}
		var nonce stun.Nonce
		if err := nonce.GetFrom(got); err != nil || nonce.String() != "n0nce" {
			t.Errorf("NONCE = %q, %v", nonce, err)
		}
		var seenFamily bool
		for _, a := range got.Attributes {
			switch a.Type {
			case stun.AttrRequestedAddressFamily:
				seenFamily = true
			case stun.AttrMessageIntegrity:
				if !seenFamily {
					t.Errorf("REQUESTED-ADDRESS-FAMILY after MESSAGE-INTEGRITY: not covered by it")
				}
			}
		}
	}

	// A request that asks already is left alone.
	m := pionAllocate(t, true)
	asked, _ := withRequestedFamily(decodeSTUN(m.Raw), familyIPv6, "secret")
	again, err := withRequestedFamily(decodeSTUN(asked.Raw), familyIPv4, "secret")
	if err != nil || !bytes.Equal(again.Raw, asked.Raw) {
		t.Errorf("a request with REQUESTED-ADDRESS-FAMILY was changed: %v", err)
	}
}

func TestTURNWireAddsFamilyToAllocateOnly(t *testing.T) {
	var sent [][]byte
	w := newTURNWire(recordPacket{&sent}, nil, familyIPv6, "secret")
	alloc := pionAllocate(t, true)
	refresh, _ := stun.Build(stun.TransactionID, stun.NewType(stun.MethodRefresh, stun.ClassRequest), stun.Fingerprint)
	for _, m := range []*stun.Message{alloc, refresh} {
		if n, err := w.WriteTo(m.Raw, nil); err != nil || n != len(m.Raw) {
			t.Fatalf("WriteTo = %d, %v; want %d, nil", n, err, len(m.Raw))
		}
	}
	if got := decodeSTUN(sent[0]); got == nil || !got.Contains(stun.AttrRequestedAddressFamily) || !w.waiting(stun.MethodAllocate) {
		t.Errorf("the Allocate went out without the family, or is not pending: %x", sent[0])
	}
	if !bytes.Equal(sent[1], refresh.Raw) {
		t.Errorf("the Refresh was changed")
	}
	// For an IPv4 target over IPv4 nothing changes.
	sent = nil
	w = newTURNWire(recordPacket{&sent}, nil, familyDefault, "secret")
	w.WriteTo(alloc.Raw, nil)
	if !bytes.Equal(sent[0], alloc.Raw) {
		t.Errorf("the Allocate was changed with no family to ask")
	}
}

// recordPacket is a net.PacketConn that keeps what is written to it.
type recordPacket struct{ sent *[][]byte }

func (r recordPacket) WriteTo(b []byte, _ net.Addr) (int, error) {
	*r.sent = append(*r.sent, append([]byte(nil), b...))
	return len(b), nil
}
func (recordPacket) ReadFrom([]byte) (int, net.Addr, error) { return 0, nil, io.EOF }
func (recordPacket) Close() error                           { return nil }
func (recordPacket) LocalAddr() net.Addr                    { return &net.UDPAddr{} }
func (recordPacket) SetDeadline(t time.Time) error          { return nil }
func (recordPacket) SetReadDeadline(t time.Time) error      { return nil }
func (recordPacket) SetWriteDeadline(t time.Time) error     { return nil }

func TestRequestedFamily(t *testing.T) {
	v4, v6 := netip.MustParseAddr("11.0.0.2"), netip.MustParseAddr("2001:db8:1::10")
	for _, tc := range []struct {
		target, server netip.Addr
		want           relayFamily
	}{
		{v4, netip.MustParseAddr("11.0.0.1"), familyDefault},
		{v4, netip.Addr{}, familyDefault},
		{v6, netip.MustParseAddr("11.0.0.1"), familyIPv6},
		{v6, netip.MustParseAddr("2001:db8:fe::1"), familyIPv6},
		{v4, netip.MustParseAddr("2001:db8:fe::1"), familyIPv4},
		{v4, netip.MustParseAddr("::ffff:11.0.0.1"), familyDefault},
		{netip.MustParseAddr("::ffff:11.0.0.2"), netip.MustParseAddr("11.0.0.1"), familyDefault},
	} {
		if got := requestedFamily(tc.target, tc.server); got != tc.want {
			t.Errorf("requestedFamily(%s, %s) = %d, want %d", tc.target, tc.server, got, tc.want)
		}
	}
}

func TestNetworkFor(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		addrs []netip.Addr
		want  string
	}{
		{[]netip.Addr{a("11.0.0.1")}, "udp4"},
		{[]netip.Addr{a("2001:db8:fe::1")}, "udp6"},
		{[]netip.Addr{a("2001:db8:fe::1"), a("11.0.0.1")}, "udp4"}, // a name with both: IPv4, as before
		{nil, "udp"},
	} {
		if got := networkFor("udp", tc.addrs); got != tc.want {
			t.Errorf("networkFor(udp, %v) = %q, want %q", tc.addrs, got, tc.want)
		}
	}
}

func TestJudgeViaFamily(t *testing.T) {
	srv := TURNServer{User: "reach", Password: "x", Host: "11.0.0.1", Port: 3478}
	target := netip.MustParseAddrPort("[2001:db8:1::10]:1234")
	code := func(c stun.ErrorCode) stun.ErrorCodeAttribute { return stun.ErrorCodeAttribute{Code: c} }
	for _, tc := range []struct {
		name    string
		ev      viaEvidence
		relay   string
		failure ViaFailure
		detail  string
	}{
		{"440 allocate", viaEvidence{phase: phaseAllocate, code: code(440), refused: true, asked: familyIPv6},
			"", ViaFamilyUnsupported, "has no IPv6 relay address for [2001:db8:1::10]:1234 (440 Address Family not Supported)"},
		{"420 allocate asked", viaEvidence{phase: phaseAllocate, code: code(420), refused: true, asked: familyIPv6},
			"", ViaFamilyUnsupported, "does not know REQUESTED-ADDRESS-FAMILY"},
		{"420 allocate not asked", viaEvidence{phase: phaseAllocate, code: code(420), refused: true},
			"", ViaTURNError, "refused the allocation (420"},
		{"443 permission", viaEvidence{phase: phasePermission, code: code(443), refused: true, asked: familyIPv6},
			"", ViaFamilyUnsupported, "(443 Peer Address Family Mismatch)"},
		{"443 connect", viaEvidence{phase: phaseConnect, code: code(443), refused: true, asked: familyIPv6},
			"", ViaFamilyUnsupported, "443"},
		{"ipv4 relayed address", viaEvidence{phase: phaseRelayFamily, asked: familyIPv6},
			"11.0.0.1:50000", ViaFamilyUnsupported, "asked for an IPv6 relay address and gave 11.0.0.1:50000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.ev.srv, tc.ev.network, tc.ev.err = srv, "tcp4", errors.New("some error")
			res := ViaResult{Target: target}
			if tc.relay != "" {
				res.RelayAddr = netip.MustParseAddrPort(tc.relay)
			}
			res = judgeVia(res, tc.ev)
			if res.Failure != tc.failure || res.Verdict != "" || !res.Failure.RelaySide() {
				t.Fatalf("judgeVia = %+v; want relay-side failure %q and no verdict", res, tc.failure)
			}
			if !strings.Contains(res.Detail, tc.detail) {
				t.Errorf("detail %q lacks %q", res.Detail, tc.detail)
			}
			if tc.failure == ViaFamilyUnsupported && !strings.Contains(res.Cause, "relays IPv4 only") {
				t.Errorf("cause %q does not say the relay relays IPv4 only", res.Cause)
			}
		})
	}
}

// closedPort6 returns an address on [::1] where nothing listens.
func closedPort6(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

func TestCheckViaIPv6TCP(t *testing.T) {
	echo4, echo6, closed6 := tcpEcho(t, false), tcpEchoOn(t, "[::1]:0", false), closedPort6(t)
	for _, tc := range []struct {
		name    string
		setup   func(*fakeTCPTURN)
		target  netip.AddrPort
		failure ViaFailure
		verdict Verdict
		code    int
		asked   byte // the family the server was asked for
		relay   string
	}{
		{"ipv6 target, server over ipv4", nil, echo6, "", Verified, 0, 0x02, "::1"},
		{"ipv6 target, server over ipv6", func(f *fakeTCPTURN) { f.listen = "[::1]:0" }, echo6, "", Verified, 0, 0x02, "::1"},
		{"ipv4 target, server over ipv6", func(f *fakeTCPTURN) { f.listen = "[::1]:0" }, echo4, "", Verified, 0, 0x01, "127.0.0.1"},
		{"ipv4 target, server over ipv4", nil, echo4, "", Verified, 0, 0, "127.0.0.1"},
		{"relay without ipv6", func(f *fakeTCPTURN) { f.noIPv6 = true }, echo6, ViaFamilyUnsupported, "", 440, 0x02, ""},
		{"nothing listens", nil, closed6, ViaPeerRefused, Refused, 447, 0x02, "::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeTCPTURN(t, tc.setup)
			res := CheckVia(context.Background(), f.server("reach", "secret"), tc.target, "tcp", ViaConfig{})
			if res.Failure != tc.failure || res.Verdict != tc.verdict || res.Code != tc.code {
				t.Fatalf("CheckVia = %+v\nwant failure %q, verdict %q, code %d", res, tc.failure, tc.verdict, tc.code)
			}
			if got := f.requested(); len(got) != 1 || got[0] != tc.asked {
				t.Errorf("the signed Allocate asked for families %x, want [%02x]", got, tc.asked)
			}
			if tc.relay != "" && res.RelayAddr.Addr().String() != tc.relay {
				t.Errorf("relayed address %s, want one on %s", res.RelayAddr, tc.relay)
			}
			if tc.failure == ViaFamilyUnsupported && !strings.Contains(res.Detail, "no IPv6 relay address") {
				t.Errorf("detail %q does not say the relay has no IPv6 relay address", res.Detail)
			}
			f.waitClosed(t)
		})
	}
}

// relayOn6 is a pion relay address generator that relays UDP from [::1]
// (pion's own generators listen on "udp4" only).
type relayOn6 struct{}

func (relayOn6) Validate() error { return nil }

func (relayOn6) AllocatePacketConn(string, int) (net.PacketConn, net.Addr, error) {
	pc, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		return nil, nil, err
	}
	return pc, pc.LocalAddr(), nil
}

func (relayOn6) AllocateConn(string, int) (net.Conn, net.Addr, error) {
	return nil, nil, errors.New("no TCP relays")
}

func TestCheckViaIPv6UDP(t *testing.T) {
	srv := pionTURNOn(t, "[::1]:0", relayOn6{}, nil, nil)
	res := CheckVia(context.Background(), srv, udpEchoOn(t, "[::1]:0"), "udp", ViaConfig{})
	if res.Verdict != Verified || res.Failure != "" || !res.RelayAddr.Addr().Is6() {
		t.Fatalf("CheckVia udp over IPv6 to the UDP echo on [::1] = %+v, want verified from an IPv6 relayed address", res)
	}

	silent := udpPeer6(t)
	res = CheckVia(context.Background(), srv, silent, "udp", ViaConfig{Timeout: shortCheck})
	if res.Verdict != NoAnswer || res.Failure != ViaNoEcho {
		t.Errorf("CheckVia udp to a silent IPv6 port = %+v, want no-answer", res)
	}

	// pion's own relay ignores REQUESTED-ADDRESS-FAMILY and relays from
	// 127.0.0.1: it cannot reach an IPv6 target, and says nothing of it.
	v4only := pionTURN(t, nil, nil)
	res = CheckVia(context.Background(), v4only, udpEchoOn(t, "[::1]:0"), "udp", ViaConfig{})
	if res.Failure != ViaFamilyUnsupported || res.Verdict != "" || !strings.Contains(res.Detail, "gave 127.0.0.1:") {
		t.Errorf("CheckVia udp to IPv6 through an IPv4-only relay = %+v, want relay-family-unsupported, no verdict", res)
	}
}

// udpPeer6 is a UDP socket on [::1] that reads and never answers.
func udpPeer6(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// A TURN server named by a name with IPv4 and IPv6 addresses (localhost)
// is reached over IPv4, as before reach knew IPv6 relays.
func TestCheckViaServerName(t *testing.T) {
	f := newFakeTCPTURN(t, nil) // on 127.0.0.1 only
	srv := f.server("reach", "secret")
	srv.Host = "localhost"
	if res := CheckVia(context.Background(), srv, tcpEchoOn(t, "[::1]:0", false), "tcp", ViaConfig{}); res.Verdict != Verified {
		t.Errorf("CheckVia through localhost:%d = %+v, want verified", srv.Port, res)
	}
	f.waitClosed(t)
}
