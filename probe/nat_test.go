package probe

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestDecide(t *testing.T) {
	ip := netip.MustParseAddr
	gw, lan := ip("192.168.1.1"), ip("192.168.1.10")
	no := false
	svc := func(method, ext string) ServiceEvidence {
		return ServiceEvidence{Method: method, ExternalAddr: ip(ext)}
	}
	hop := func(ttl int, a string) Hop { return Hop{TTL: ttl, Addr: ip(a)} }
	for _, tc := range []struct {
		name string
		e    Evidence
		want NAT
		// words the evidence and the advice must contain
		evidence, advice []string
	}{
		{
			name:   "no gateway",
			e:      Evidence{LocalIP: lan},
			want:   NATNoGateway,
			advice: []string{"default route"},
		},
		{
			name:     "public, matches STUN",
			e:        Evidence{Gateway: gw, LocalIP: lan, Port: 1234, Services: []ServiceEvidence{svc("upnp-igd2", "11.0.0.2")}, STUN: ip("11.0.0.2")},
			want:     NATPublic,
			evidence: []string{"11.0.0.2 (STUN)", "public address 11.0.0.2"},
			advice:   []string{"reach check 11.0.0.2:1234", "firewall"},
		},
		{
			name: "public, STUN unknown, private ISP hops do not matter",
			e: Evidence{Gateway: gw, LocalIP: lan, Services: []ServiceEvidence{svc("nat-pmp", "11.0.0.2")},
				Hops: []Hop{hop(1, "192.168.1.1"), hop(2, "10.20.0.1"), hop(3, "100.64.9.9")}},
			want:     NATPublic,
			evidence: []string{"unknown (no STUN"},
		},
		{
			name:     "public router, another address outside",
			e:        Evidence{Gateway: gw, LocalIP: lan, Port: 80, Services: []ServiceEvidence{svc("pcp", "11.0.0.2")}, STUN: ip("12.0.0.9")},
			want:     NATUnknown,
			evidence: []string{"the router says 11.0.0.2 but the internet sees 12.0.0.9"},
			advice:   []string{"VPN", "reach check 11.0.0.2:80"},
		},
		{
			name:     "router reports a shared address",
			e:        Evidence{Gateway: gw, LocalIP: lan, Services: []ServiceEvidence{svc("upnp-igd1", "100.64.3.4")}, STUN: ip("11.0.0.2")},
			want:     NATCGNAT,
			evidence: []string{"100.64.3.4 is in 100.64.0.0/10"},
			advice:   []string{"public IPv4 address", "IPv6", "tunnel"},
		},
		{
			name: "router hides its WAN, hop 2 is shared",
			e: Evidence{Gateway: gw, LocalIP: lan, Services: []ServiceEvidence{{Method: "nat-pmp", Connected: &no, Err: errors.New("upnp: nat-pmp result 3")}},
				Hops: []Hop{hop(1, "192.168.1.1"), hop(2, "100.64.0.1")}},
			want:     NATCGNAT,
			evidence: []string{"hop 2, 100.64.0.1", "not connected"},
		},
		{
			name: "private WAN behind a CGNAT",
			e: Evidence{Gateway: gw, LocalIP: lan, Services: []ServiceEvidence{svc("upnp-igd2", "192.168.0.2")},
				Hops: []Hop{hop(1, "192.168.1.1"), hop(2, "192.168.0.1"), hop(3, "100.72.0.1")}},
			want: NATCGNAT,
		},
		{
			name:     "router reports a private address",
			e:        Evidence{Gateway: gw, LocalIP: lan, Port: 1234, Services: []ServiceEvidence{svc("upnp-igd2", "192.168.0.2")}, STUN: ip("11.0.0.2")},
			want:     NATDouble,
			evidence: []string{"192.168.0.2 is private"},
			advice:   []string{"bridge mode", "port 1234/tcp on the modem to your router's WAN address 192.168.0.2", "access-point mode", "192.168.1.10"},
		},
		{
			name: "router hides its WAN, hop 2 is private",
			e: Evidence{Gateway: gw, LocalIP: lan, Services: []ServiceEvidence{{Method: "upnp-igd2", ExternalAddr: ip("0.0.0.0"), Connected: &no}},
				Hops: []Hop{hop(1, "192.168.1.1"), hop(2, "192.168.0.1")}},
			want:     NATDouble,
			evidence: []string{"192.168.0.1, is private"},
			advice:   []string{"status page"},
		},
		{
			name: "no service, but a private hop beyond the router",
			e: Evidence{Gateway: gw, LocalIP: lan,
				Hops: []Hop{hop(1, "192.168.1.1"), {TTL: 2}, hop(3, "10.0.0.1")}},
			want: NATDouble,
		},
		{
			name:     "no service, no hop evidence",
			e:        Evidence{Gateway: gw, LocalIP: lan, Port: 25565, Protocol: "udp", STUN: ip("11.0.0.2"), Hops: []Hop{hop(1, "192.168.1.1"), {TTL: 2}}},
			want:     NATNoMapping,
			evidence: []string{"no port-mapping service"},
			advice:   []string{"enable UPnP", "http://192.168.1.1/", "port 25565/udp by hand on the router at 192.168.1.1 to this host 192.168.1.10"},
		},
		{
			name: "no service, target reached at hop 2 is not a NAT",
			e: Evidence{Gateway: gw, LocalIP: lan,
				Hops: []Hop{hop(1, "192.168.1.1"), {TTL: 2, Addr: ip("10.9.9.9"), Target: true}}},
			want: NATNoMapping,
		},
		{
			name:     "disconnected router, the internet still answers",
			e:        Evidence{Gateway: gw, LocalIP: lan, Services: []ServiceEvidence{{Method: "nat-pmp", Connected: &no, Err: errors.New("result 3")}}, STUN: ip("11.0.0.2")},
			want:     NATUnknown,
			evidence: []string{"no external connection, yet the internet sees 11.0.0.2"},
			advice:   []string{"bridge mode", "public IPv4"},
		},
		{
			name: "reserved external address",
			e:    Evidence{Gateway: gw, LocalIP: lan, Services: []ServiceEvidence{svc("upnp-igd2", "203.0.113.5")}},
			want: NATUnknown,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.e)
			if d.NAT != tc.want {
				t.Fatalf("verdict %q, want %q\nevidence:\n  %s", d.NAT, tc.want, strings.Join(d.Evidence, "\n  "))
			}
			if len(d.Evidence) == 0 {
				t.Error("no evidence given")
			}
			if d.NAT != NATPublic && len(d.Advice) == 0 {
				t.Error("no advice given")
			}
			ev, adv := strings.Join(d.Evidence, "\n"), strings.Join(d.Advice, "\n")
			for _, w := range tc.evidence {
				if !strings.Contains(ev, w) {
					t.Errorf("evidence does not say %q:\n%s", w, ev)
				}
			}
			for _, w := range tc.advice {
				if !strings.Contains(adv, w) {
					t.Errorf("advice does not say %q:\n%s", w, adv)
				}
			}
		})
	}
}
