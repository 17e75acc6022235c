package lab

import (
	"strings"
	"testing"

	"github.com/reach-net/reach/probe"
)

func TestPrefixRange(t *testing.T) {
	for in, want := range map[string]string{
		"2001:db8:1::/64":  "2001:db8:1::-2001:db8:1:0:ffff:ffff:ffff:ffff",
		"2001:db8:fe::/64": "2001:db8:fe::-2001:db8:fe:0:ffff:ffff:ffff:ffff",
		"2001:db8::/32":    "2001:db8::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
	} {
		if got := prefixRange(in); got != want {
			t.Errorf("prefixRange(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestTURNChecksIPv6 has the lab's coturn check the PC's global IPv6
// address from outside, as reach check --via does: the PC is a host on
// a public network (no NAT, no firewall on the way) with native IPv6.
// The relay is reached over IPv4 or IPv6 and relays from InetAddr6 to
// an IPv6 target, from InetAddr to an IPv4 one.
func TestTURNChecksIPv6(t *testing.T) {
	t.Parallel()
	l := New(t, Options{Topology: PublicHost, IPv6: true})
	serveModeIn(t, l, PC, "echo", ":1234")
	serveModeIn(t, l, PC, "udpecho", ":1234")
	pc6 := "[" + PCAddr6 + "]"
	for _, tc := range []struct {
		name, proto, srv, target string
		verdict                  probe.Verdict
		failure                  probe.ViaFailure
		code                     int
		relay                    string // the relayed address's host, when verified
	}{
		{"tcp", "tcp", TURNServer, pc6 + ":1234", probe.Verified, "", 0, "[" + InetAddr6 + "]"},
		{"udp", "udp", TURNServer, pc6 + ":1234", probe.Verified, "", 0, "[" + InetAddr6 + "]"},
		{"tcp, relay over ipv6", "tcp", TURNServer6, pc6 + ":1234", probe.Verified, "", 0, "[" + InetAddr6 + "]"},
		{"udp, relay over ipv6", "udp", TURNServer6, pc6 + ":1234", probe.Verified, "", 0, "[" + InetAddr6 + "]"},
		{"ipv4 target, relay over ipv6", "tcp", TURNServer6, l.PCAddr() + ":1234", probe.Verified, "", 0, InetAddr},
		// Nothing listens: the PC resets the relay's connection (447 at
		// once) and drops the UDP probe with port unreachable, which the
		// relay does not pass on.
		{"tcp nothing listens", "tcp", TURNServer, pc6 + ":1235", probe.Refused, probe.ViaPeerRefused, 447, ""},
		{"udp nothing listens", "udp", TURNServer, pc6 + ":1235", probe.NoAnswer, probe.ViaNoEcho, 0, ""},
		// Outside the lab's prefixes coturn refuses the peer.
		{"peer outside the lab", "udp", TURNServer, "[2001:db8:99::1]:1234", "", probe.ViaPeerForbidden, 403, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := viaFrom(t, l, PC, tc.proto, tc.srv, tc.target)
			if o.Verdict != tc.verdict || o.Failure != tc.failure || o.Code != tc.code {
				t.Fatalf("check via %s of %s %s = %+v; want verdict %q, failure %q, code %d",
					tc.srv, tc.proto, tc.target, o, tc.verdict, tc.failure, tc.code)
			}
			if tc.relay != "" && !strings.HasPrefix(o.Relay, tc.relay+":") {
				t.Errorf("relayed address %q, want one on %s (coturn's --relay-ip)", o.Relay, tc.relay)
			}
		})
	}
}

// TestTURNWithoutIPv6Relay: a relay with no IPv6 address (the lab without
// IPv6) refuses an IPv6 allocation with 440; that is the relay's failure,
// with no verdict on the target, for TCP and UDP alike.
func TestTURNWithoutIPv6Relay(t *testing.T) {
	t.Parallel()
	l := New(t, Options{NoService: true})
	for _, proto := range []string{"tcp", "udp"} {
		o := viaFrom(t, l, PC, proto, TURNServer, "["+PCAddr6+"]:1234")
		if o.Failure != probe.ViaFamilyUnsupported || o.Code != 440 || o.Verdict != "" || !strings.Contains(o.Detail, "no IPv6 relay address") {
			t.Errorf("%s check via a relay without IPv6 = %+v; want relay-family-unsupported 440, no verdict", proto, o)
		}
	}
}
