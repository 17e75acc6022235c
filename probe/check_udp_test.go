package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/reach-net/reach/frame"
)

// udpPeer answers the datagrams on a loopback socket with reply(i, b),
// the i-th datagram (from 0); a nil reply sends nothing.
func udpPeer(t *testing.T, reply func(i int, b []byte) []byte) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 64<<10)
		for i := 0; ; i++ {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if r := reply(i, buf[:n]); r != nil {
				pc.WriteTo(r, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

func TestCheckUDPVerifiedByTheUDPServer(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := frame.NewUDPServer(frame.UDPConfig{})
	go s.Serve(pc)
	defer s.Shutdown(context.Background())

	res := CheckUDP(context.Background(), pc.LocalAddr().String(), CheckConfig{Count: 3})
	if res.Verdict != Verified || len(res.RTTs) != 3 || res.Peer != PeerReach || res.Scope != ScopeLoopback {
		t.Fatalf("CheckUDP against the UDP echo server = %+v, want verified with 3 round trips on loopback", res)
	}
	if cl := s.Clients(); len(cl) != 1 || cl[0].Frames != 3 {
		t.Errorf("server saw %+v, want one peer with 3 probes", cl)
	}
}

func TestCheckUDPResendsALostProbe(t *testing.T) {
	addr := udpPeer(t, func(i int, b []byte) []byte {
		if i == 0 {
			return nil // the first datagram is lost
		}
		return b
	})
	res := CheckUDP(context.Background(), addr, CheckConfig{})
	if res.Verdict != Verified {
		t.Fatalf("CheckUDP with the first datagram lost = %+v, want verified by a resend", res)
	}
}

func TestCheckUDPIgnoresAStaleEcho(t *testing.T) {
	// An echo of something else (an earlier probe, say) is not this probe's.
	stale := frame.Append(nil, NewProbe())
	addr := udpPeer(t, func(i int, b []byte) []byte { return stale })
	res := CheckUDP(context.Background(), addr, CheckConfig{})
	if res.Verdict != Open || res.Peer == PeerReach {
		t.Fatalf("CheckUDP answered with another probe = %+v, want open (not verified)", res)
	}
}

func TestCheckUDPOtherReply(t *testing.T) {
	addr := udpPeer(t, func(int, []byte) []byte { return []byte("\xff\xff\xff\xffgame server v1") })
	res := CheckUDP(context.Background(), addr, CheckConfig{})
	if res.Verdict != Open || !strings.Contains(res.Detail, "not with our echo") {
		t.Fatalf("CheckUDP answered by another program = %+v, want open", res)
	}
}

func TestCheckUDPNoAnswer(t *testing.T) {
	addr := udpPeer(t, func(int, []byte) []byte { return nil })
	res := CheckUDP(context.Background(), addr, CheckConfig{})
	if res.Verdict != NoAnswer || res.Scope != "" {
		t.Fatalf("CheckUDP to a silent port = %+v, want no-answer", res)
	}
	for _, want := range []string{"no answer to 4 UDP probes", "proves nothing"} {
		if !strings.Contains(res.Detail, want) {
			t.Errorf("detail %q lacks %q", res.Detail, want)
		}
	}
	for _, want := range []string{"forward", "firewall", "does not echo"} {
		if !strings.Contains(res.Cause, want) {
			t.Errorf("cause %q does not name %q among the candidates", res.Cause, want)
		}
	}
}

func TestCheckUDPRefused(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close() // nothing listens: loopback answers with ICMP port unreachable
	res := CheckUDP(context.Background(), addr, CheckConfig{})
	if res.Verdict != Refused || !strings.Contains(res.Detail, "ICMP port unreachable") {
		t.Fatalf("CheckUDP to a closed port = %+v, want refused", res)
	}
}

func TestCheckUDPCanceled(t *testing.T) {
	addr := udpPeer(t, func(int, []byte) []byte { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := CheckUDP(ctx, addr, CheckConfig{})
	if res.Verdict == Verified || res.Verdict == Refused {
		t.Fatalf("canceled CheckUDP = %+v", res)
	}
}

func TestUDPNoEcho(t *testing.T) {
	for _, tc := range []struct {
		name string
		ans  udpAnswer
		want Verdict
	}{
		{"refused", udpAnswer{refused: true, err: syscall.ECONNREFUSED, sent: 1}, Refused},
		{"host unreachable", udpAnswer{err: fmt.Errorf("read: %w", syscall.EHOSTUNREACH), sent: 1}, Unreachable},
		{"silence", udpAnswer{err: context.DeadlineExceeded, sent: 4}, NoAnswer},
		{"canceled", udpAnswer{err: context.Canceled, sent: 2}, NoAnswer},
		{"other reply", udpAnswer{other: []byte("x"), err: context.DeadlineExceeded}, Open},
		{"other reply, then refused", udpAnswer{other: []byte("x"), refused: true, err: errors.New("x")}, Open},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := udpNoEcho(CheckResult{}, tc.ans, "27015", 0)
			if res.Verdict != tc.want {
				t.Fatalf("verdict %s, want %s: %+v", res.Verdict, tc.want, res)
			}
			if res.Detail == "" {
				t.Errorf("no detail: %+v", res)
			}
			if tc.name != "canceled" && (res.Cause == "" || res.Next == "") {
				t.Errorf("a failure without cause or next step: %+v", res)
			}
			if res.Next != "" && !strings.Contains(res.Next, "--proto udp") && tc.want != Unreachable {
				t.Errorf("next step %q does not stay with UDP", res.Next)
			}
		})
	}
}
