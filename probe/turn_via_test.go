package probe

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/turn/v4"
	"github.com/reach-net/reach/frame"
)

// tcpEcho is a TCP server on loopback that writes back what it reads, or
// with silent only reads.
func tcpEcho(t *testing.T, silent bool) netip.AddrPort {
	t.Helper()
	return tcpEchoOn(t, "127.0.0.1:0", silent)
}

// tcpEchoOn is tcpEcho listening on addr.
func tcpEchoOn(t *testing.T, addr string, silent bool) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if silent {
					io.Copy(io.Discard, c)
					return
				}
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// closedPort returns a loopback address where nothing listens on network.
func closedPort(t *testing.T, network string) netip.AddrPort {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		return pc.LocalAddr().(*net.UDPAddr).AddrPort()
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// shortCheck bounds the checks that end in a wait. It bounds the whole
// check, the relay's allocation included, so it is long enough for that
// under -race on a loaded machine, short enough for a test.
const shortCheck = 2 * time.Second

func TestCheckViaTCP(t *testing.T) {
	echo, silent := tcpEcho(t, false), tcpEcho(t, true)
	for _, tc := range []struct {
		name    string
		setup   func(*fakeTCPTURN)
		pass    string
		target  netip.AddrPort
		timeout time.Duration
		failure ViaFailure
		verdict Verdict
		code    int
		detail  string
	}{
		{"verified", nil, "secret", echo, 0, "", Verified, 0, "echoed the probe through the TURN relay"},
		{"wrong password", nil, "s3cr3t-typo", echo, 0, ViaAuthRefused, "", 401, "refused the credentials of user \"reach\""},
		{"udp-only relay", func(f *fakeTCPTURN) { f.tcpUnsupported = true }, "secret", echo, 0, ViaTCPUnsupported, "", 442, "does not relay TCP"},
		{"peer forbidden", func(f *fakeTCPTURN) { f.forbid = true }, "secret", echo, 0, ViaPeerForbidden, "", 403, "refused 127.0.0.1 as a peer"},
		{"peer refused", nil, "secret", closedPort(t, "tcp"), 0, ViaPeerRefused, Refused, 447, "TCP connection to"},
		{"connect never answered", func(f *fakeTCPTURN) { f.hangConnect = true }, "secret", echo, shortCheck, ViaPeerTimeout, Timeout, 0, "got no answer within"},
		{"silent program", nil, "secret", silent, shortCheck, ViaNoEcho, Open, 0, "no answer to the probe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeTCPTURN(t, tc.setup)
			res := CheckVia(context.Background(), f.server("reach", tc.pass), tc.target, "tcp", ViaConfig{Timeout: tc.timeout})
			if res.Failure != tc.failure || res.Verdict != tc.verdict || res.Code != tc.code {
				t.Fatalf("CheckVia = %+v\nwant failure %q, verdict %q, code %d", res, tc.failure, tc.verdict, tc.code)
			}
			if !strings.Contains(res.Detail, tc.detail) {
				t.Errorf("detail %q lacks %q", res.Detail, tc.detail)
			}
			if tc.verdict == Verified {
				if res.RTT <= 0 || !res.RelayAddr.IsValid() || res.Err != nil || res.Peer != PeerReach {
					t.Errorf("verified result without its evidence: %+v", res)
				}
			} else if res.Cause == "" || res.Err == nil {
				t.Errorf("failure without cause or error: %+v", res)
			}
			if res.Failure.RelaySide() != (res.Verdict == "") {
				t.Errorf("failure %q with verdict %q: a relay-side failure says nothing about the target, and only it", res.Failure, res.Verdict)
			}
			if strings.Contains(res.Detail+res.Cause+res.Relay, tc.pass) || (res.Err != nil && strings.Contains(res.Err.Error(), tc.pass)) {
				t.Errorf("the password shows in the result: %+v", res)
			}
			f.waitClosed(t) // the allocation is released
		})
	}
}

func TestCheckViaTURNUnreachable(t *testing.T) {
	target := tcpEcho(t, false)
	// A port where nothing listens, and a listener that never answers.
	closed := closedPort(t, "tcp")
	mute, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	go func() {
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			go io.Copy(io.Discard, c)
		}
	}()
	mutePort := mute.Addr().(*net.TCPAddr).AddrPort()
	closedUDP := closedPort(t, "udp")
	for _, tc := range []struct {
		name   string
		srv    netip.AddrPort
		proto  string
		detail string
	}{
		{"tcp refused", closed, "tcp", "no connection to the TURN server"},
		{"tcp silent", mutePort, "tcp", "no answer from the TURN server"},
		{"udp port unreachable", closedUDP, "udp", "ICMP port unreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := TURNServer{User: "reach", Password: "secret", Host: tc.srv.Addr().String(), Port: tc.srv.Port()}
			res := CheckVia(context.Background(), srv, target, tc.proto, ViaConfig{Timeout: shortCheck})
			if res.Failure != ViaTURNUnreachable || res.Verdict != "" || !strings.Contains(res.Detail, tc.detail) {
				t.Fatalf("CheckVia = %+v, want turn-unreachable: %q", res, tc.detail)
			}
		})
	}
}

func TestCheckViaCanceled(t *testing.T) {
	f := newFakeTCPTURN(t, func(f *fakeTCPTURN) { f.hangConnect = true })
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(50 * time.Millisecond)
		cancel()
	}()
	res := CheckVia(ctx, f.server("reach", "secret"), tcpEcho(t, false), "tcp", ViaConfig{Timeout: time.Minute})
	if res.Failure != ViaCanceled || res.Verdict != "" {
		t.Fatalf("canceled CheckVia = %+v, want canceled and no verdict", res)
	}
	f.waitClosed(t)
}

func TestCheckViaRefusesBadArguments(t *testing.T) {
	srv := TURNServer{User: "u", Password: "p", Host: "127.0.0.1", Port: 1}
	for _, tc := range []struct {
		target string
		proto  string
	}{
		{"[fe80::1%eth0]:1234", "tcp"}, // link-local: no relay reaches it
		{"[::]:1234", "tcp"},
		{"0.0.0.0:1234", "udp"},
		{"11.0.0.2:1234", "sctp"},
		{"11.0.0.2:0", "udp"},
	} {
		res := CheckVia(context.Background(), srv, netip.MustParseAddrPort(tc.target), tc.proto, ViaConfig{})
		if res.Failure != ViaTURNError || res.Err == nil {
			t.Errorf("CheckVia(%s, %s) = %+v, want a turn-error without any I/O", tc.target, tc.proto, res)
		}
	}
}

// pionTURN runs pion's TURN server on loopback (UDP relay only), user
// reach with password secret in realm lab; allow decides the peers.
func pionTURN(t *testing.T, allow func(net.IP) bool, deleted *atomic.Int32) TURNServer {
	t.Helper()
	relay := &turn.RelayAddressGeneratorStatic{RelayAddress: net.IPv4(127, 0, 0, 1), Address: "127.0.0.1"}
	return pionTURNOn(t, "127.0.0.1:0", relay, allow, deleted)
}

// pionTURNOn is pionTURN listening on addr, relaying from relay's
// addresses.
func pionTURNOn(t *testing.T, addr string, relay turn.RelayAddressGenerator, allow func(net.IP) bool, deleted *atomic.Int32) TURNServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s, err := turn.NewServer(turn.ServerConfig{
		Realm: "lab",
		AuthHandler: func(user, realm string, _ net.Addr) ([]byte, bool) {
			return turn.GenerateAuthKey("reach", "lab", "secret"), user == "reach"
		},
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn:            pc,
			RelayAddressGenerator: relay,
			PermissionHandler:     func(_ net.Addr, ip net.IP) bool { return allow == nil || allow(ip) },
		}},
		EventHandler: turn.EventHandler{OnAllocationDeleted: func(net.Addr, net.Addr, string, string, string) {
			if deleted != nil {
				deleted.Add(1)
			}
		}},
		LoggerFactory: quietLogs,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ap := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	return TURNServer{User: "reach", Password: "secret", Host: ap.Addr().String(), Port: ap.Port()}
}

// udpEcho serves the frame package's UDP echo on loopback.
func udpEcho(t *testing.T) netip.AddrPort {
	t.Helper()
	return udpEchoOn(t, "127.0.0.1:0")
}

// udpEchoOn serves the frame package's UDP echo on addr.
func udpEchoOn(t *testing.T, addr string) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := frame.NewUDPServer(frame.UDPConfig{})
	go s.Serve(pc)
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

func TestCheckViaUDP(t *testing.T) {
	var deleted atomic.Int32
	srv := pionTURN(t, nil, &deleted)
	res := CheckVia(context.Background(), srv, udpEcho(t), "udp", ViaConfig{})
	if res.Verdict != Verified || res.Failure != "" || res.RTT <= 0 || !res.RelayAddr.IsValid() {
		t.Fatalf("CheckVia udp to the UDP echo = %+v, want verified", res)
	}
	// The allocation is released at once (Refresh with lifetime 0).
	for stop := time.After(10 * time.Second); deleted.Load() == 0; {
		select {
		case <-stop:
			t.Fatal("the UDP allocation was not released")
		case <-time.After(10 * time.Millisecond):
		}
	}

	silent := udpPeer(t, func(int, []byte) []byte { return nil })
	res = CheckVia(context.Background(), srv, netip.MustParseAddrPort(silent), "udp", ViaConfig{Timeout: 3 * time.Second})
	if res.Verdict != NoAnswer || res.Failure != ViaNoEcho || !strings.Contains(res.Detail, "silence proves nothing") {
		t.Errorf("CheckVia udp to a silent port = %+v, want no-answer", res)
	}

	other := udpPeer(t, func(int, []byte) []byte { return []byte("pong") })
	res = CheckVia(context.Background(), srv, netip.MustParseAddrPort(other), "udp", ViaConfig{})
	if res.Verdict != Open || res.Failure != ViaNoEcho {
		t.Errorf("CheckVia udp to another program = %+v, want open", res)
	}
}

func TestCheckViaUDPRefusals(t *testing.T) {
	forbidden := pionTURN(t, func(net.IP) bool { return false }, nil)
	res := CheckVia(context.Background(), forbidden, udpEcho(t), "udp", ViaConfig{})
	if res.Failure != ViaPeerForbidden || res.Verdict != "" || !strings.Contains(res.Detail, "refused 127.0.0.1 as a peer") {
		t.Errorf("CheckVia through a relay that forbids the peer = %+v, want peer-forbidden", res)
	}

	srv := pionTURN(t, nil, nil)
	srv.User = "nobody" // pion answers an unknown user with 400, not 401
	res = CheckVia(context.Background(), srv, udpEcho(t), "udp", ViaConfig{})
	if res.Failure != ViaTURNError || res.Code != 400 || !strings.Contains(res.Detail, "refused the allocation") {
		t.Errorf("CheckVia with an unknown user = %+v, want turn-error 400", res)
	}
}
