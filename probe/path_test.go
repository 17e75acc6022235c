package probe

import (
	"net"
	"net/netip"
	"runtime"
	"testing"
)

// closedUDPPort returns a loopback port that nothing listens on.
func closedUDPPort(t *testing.T) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ap := c.LocalAddr().(*net.UDPAddr).AddrPort()
	c.Close()
	return ap
}

func skipUnlessLinux(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("hops need IP_RECVERR (Linux)")
	}
}

// TestHopsClosedPort: on loopback the first probe reaches the target's
// host, which says the port is closed; that ends the path at hop 1.
func TestHopsClosedPort(t *testing.T) {
	skipUnlessLinux(t)
	target := closedUDPPort(t)
	hops, err := Hops(t.Context(), target, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(hops) != 1 || hops[0].TTL != 1 || hops[0].Addr != target.Addr() || !hops[0].Target {
		t.Fatalf("hops %+v, want one hop: the target 127.0.0.1 itself", hops)
	}
}

// TestHopsTargetAnswers: a STUN server (any UDP server that answers) as
// target ends the path too.
func TestHopsTargetAnswers(t *testing.T) {
	skipUnlessLinux(t)
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			select {
			case got <- append([]byte(nil), buf[:n]...):
			default:
			}
			srv.WriteToUDPAddrPort([]byte("pong"), from)
		}
	}()
	hops, err := Hops(t.Context(), srv.LocalAddr().(*net.UDPAddr).AddrPort(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(hops) != 1 || !hops[0].Target || hops[0].Addr != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("hops %+v, want the answering target at hop 1", hops)
	}
	if b := <-got; len(b) < 20 || b[4] != 0x21 || b[5] != 0x12 {
		t.Errorf("probe payload %x is not a STUN message", b)
	}
}

func TestHopsBadArguments(t *testing.T) {
	for _, tc := range []struct {
		target netip.AddrPort
		ttl    int
	}{
		{netip.AddrPort{}, 3},
		{netip.MustParseAddrPort("127.0.0.1:0"), 3},
		{netip.MustParseAddrPort("127.0.0.1:9"), -1},
		{netip.MustParseAddrPort("127.0.0.1:9"), 1000},
	} {
		if _, err := Hops(t.Context(), tc.target, tc.ttl); err == nil {
			t.Errorf("Hops(%v, %d): no error", tc.target, tc.ttl)
		}
	}
}

func TestTrimHops(t *testing.T) {
	a := netip.MustParseAddr("192.168.1.1")
	b := netip.MustParseAddr("11.0.0.1")
	got := trimHops([]Hop{{TTL: 1, Addr: a}, {TTL: 2, Addr: b, Target: true}, {TTL: 3, Addr: b, Target: true}})
	if len(got) != 2 || got[1].TTL != 2 {
		t.Errorf("trimHops kept %+v, want hops 1 and 2", got)
	}
}
