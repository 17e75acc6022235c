package lab

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/reach-net/reach/probe"
)

// viaFrom runs CheckVia in host through the TURN server srv (a --via
// address) toward target, and returns its outcome.
func viaFrom(t *testing.T, l *Lab, host, proto, srv, target string) viaOutcome {
	t.Helper()
	return outcome(t, l, host, "via", proto+" "+srv+" "+target)
}

func outcome(t *testing.T, l *Lab, host, mode, arg string) viaOutcome {
	t.Helper()
	out, err := runHelper(t, l, host, mode, arg)
	if err != nil {
		t.Fatalf("%s %s in %s: %v", mode, arg, host, err)
	}
	var o viaOutcome
	if err := json.Unmarshal([]byte(out), &o); err != nil {
		t.Fatalf("%s %s in %s printed %q: %v", mode, arg, host, out, err)
	}
	return o
}

// TestTURNChecksFromOutside is the one-command outside check: the PC,
// behind a router that does not loop back, has the lab's TURN relay
// connect to the router's WAN address, TCP and UDP, through manual
// forwards to reach's echo servers.
func TestTURNChecksFromOutside(t *testing.T) {
	t.Parallel()
	l := New(t, Options{NoService: true, Forwards: []Forward{
		{Proto: "tcp", ExternalPort: 1234},
		{Proto: "udp", ExternalPort: 1234},
		{Proto: "udp", ExternalPort: 1236},
	}})
	serveModeIn(t, l, PC, "echo", ":1234")
	serveModeIn(t, l, PC, "udpecho", ":1234")
	serveModeIn(t, l, PC, "udpsilent", ":1236")
	wan := l.RouterWAN()

	// Without loopback the PC cannot check its own public address.
	if g, err := dialFrom(t, l, PC, wan+":1234"); err == nil {
		t.Fatalf("router without loopback hairpinned: %q", g)
	}
	for _, tc := range []struct {
		name, proto, target string
		verdict             probe.Verdict
		failure             probe.ViaFailure
		code                int
	}{
		{"tcp forwarded", "tcp", wan + ":1234", probe.Verified, "", 0},
		{"udp forwarded", "udp", wan + ":1234", probe.Verified, "", 0},
		// The router answers a connection to a port it does not forward
		// with a reset: coturn reports 447 at once.
		{"tcp not forwarded", "tcp", wan + ":1235", probe.Refused, probe.ViaPeerRefused, 447},
		{"udp not forwarded", "udp", wan + ":1235", probe.NoAnswer, probe.ViaNoEcho, 0},
		{"udp program that does not echo", "udp", wan + ":1236", probe.NoAnswer, probe.ViaNoEcho, 0},
		// No host has 11.0.0.99: the relay's connection gets no answer
		// within the check's bound.
		{"tcp to nobody", "tcp", "11.0.0.99:1234", probe.Timeout, probe.ViaPeerTimeout, 0},
		// coturn refuses loopback peers, and the lab allows only its
		// internet as peers.
		{"loopback peer", "tcp", "127.0.0.1:1234", "", probe.ViaPeerForbidden, 403},
		{"private peer", "udp", PCAddr + ":1234", "", probe.ViaPeerForbidden, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := viaFrom(t, l, PC, tc.proto, TURNServer, tc.target)
			if o.Verdict != tc.verdict || o.Failure != tc.failure || o.Code != tc.code {
				t.Fatalf("check via %s of %s %s = %+v; want verdict %q, failure %q, code %d",
					TURNServer, tc.proto, tc.target, o, tc.verdict, tc.failure, tc.code)
			}
			if tc.verdict == probe.Verified && !strings.HasPrefix(o.Relay, InetAddr+":") {
				t.Errorf("relay address %q, want one on %s (coturn's --relay-ip)", o.Relay, InetAddr)
			}
		})
	}
}

func TestTURNRefusesWrongCredentials(t *testing.T) {
	t.Parallel()
	l := New(t, Options{NoService: true, Forwards: []Forward{{Proto: "tcp", ExternalPort: 1234}}})
	serveModeIn(t, l, PC, "echo", ":1234")
	wrong := "turn:" + TURNUser + ":not-the-password@" + STUNServer
	for _, proto := range []string{"tcp", "udp"} {
		o := viaFrom(t, l, PC, proto, wrong, l.RouterWAN()+":1234")
		if o.Failure != probe.ViaAuthRefused || o.Code != 401 || o.Verdict != "" {
			t.Errorf("%s check via %s = %+v; want turn-auth 401 and no verdict", proto, wrong, o)
		}
		if strings.Contains(o.Detail+o.Err, "not-the-password") {
			t.Errorf("the password shows in the outcome: %+v", o)
		}
	}
	// The right credentials still work, and STUN still needs none.
	if o := viaFrom(t, l, PC, "tcp", TURNServer, l.RouterWAN()+":1234"); o.Verdict != probe.Verified {
		t.Errorf("check via %s = %+v, want verified", TURNServer, o)
	}
	if got := stunFrom(t, l, PC); got != l.PublicIP() {
		t.Errorf("STUN through the TURN server saw %q, want %s", got, l.PublicIP())
	}
}

func TestTURNRelayWithoutTCP(t *testing.T) {
	t.Parallel()
	l := New(t, Options{NoService: true, TURNUDPOnly: true, Forwards: []Forward{
		{Proto: "tcp", ExternalPort: 1234}, {Proto: "udp", ExternalPort: 1234},
	}})
	serveModeIn(t, l, PC, "echo", ":1234")
	serveModeIn(t, l, PC, "udpecho", ":1234")
	target := l.RouterWAN() + ":1234"
	if o := viaFrom(t, l, PC, "tcp", TURNServer, target); o.Failure != probe.ViaTCPUnsupported || o.Code != 442 || o.Verdict != "" {
		t.Errorf("tcp check via a UDP-only relay = %+v; want tcp-relay-unsupported 442", o)
	}
	if o := viaFrom(t, l, PC, "udp", TURNServer, target); o.Verdict != probe.Verified {
		t.Errorf("udp check via a UDP-only relay = %+v; want verified", o)
	}
}

func TestTURNThroughUPnPMapping(t *testing.T) {
	t.Parallel()
	l := New(t, Options{UPnP: true})
	serveModeIn(t, l, PC, "echo", ":4321")
	runOK(t, l, PC, "upnpc", "-u", RootDescURL, "-e", "reach lab", "-a", PCAddr, "4321", "4321", "TCP")
	if o := viaFrom(t, l, PC, "tcp", TURNServer, l.RouterWAN()+":4321"); o.Verdict != probe.Verified {
		t.Errorf("tcp check via %s of a UPnP mapping = %+v; want verified", TURNServer, o)
	}
}

// TestUDPCheck runs reach's UDP check from the internet against a UDP
// forward to the UDP echo, a forward to a program that does not echo, and
// a port the router does not forward.
func TestUDPCheck(t *testing.T) {
	t.Parallel()
	l := New(t, Options{NoService: true, Forwards: []Forward{
		{Proto: "udp", ExternalPort: 1234},
		{Proto: "udp", ExternalPort: 1236},
	}})
	serveModeIn(t, l, PC, "udpecho", ":1234")
	serveModeIn(t, l, PC, "udpsilent", ":1236")
	wan := l.RouterWAN()
	for _, tc := range []struct {
		port string
		want probe.Verdict
	}{
		{"1234", probe.Verified},
		{"1236", probe.NoAnswer},
		{"1235", probe.Refused}, // the router answers for itself: port unreachable
	} {
		if o := outcome(t, l, Inet, "checkudp", wan+":"+tc.port); o.Verdict != tc.want {
			t.Errorf("UDP check of %s:%s from the internet = %+v; want %s", wan, tc.port, o, tc.want)
		}
	}
}
