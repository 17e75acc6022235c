package e2e

import (
	"testing"

	"github.com/reach-net/reach/lab"
)

// IPv6 is the way out of carrier-grade NAT: expose opens a pinhole in the
// router's IPv6 firewall, a reach check from an IPv6 host outside
// verifies it (and expose says so), and after Ctrl-C the pinhole is gone.
func TestExposeIPv6Pinhole(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		topo lab.Topology
		nat  string
	}{
		{"public", lab.Public, "public"},
		{"cgnat", lab.CGNAT, "cgnat"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t, lab.Options{Topology: tc.topo, UPnP: true, NATPMP: true, IPv6: true})
			target := "[" + lab.PCAddr6 + "]:1234"
			exp := startExpose(t, l, lab.PC, exposeArgs()...)
			ready := exp.waitEvent("ready")
			v6, _ := ready["ipv6"].(map[string]any)
			if ready.str("nat") != tc.nat || v6 == nil || v6["pinhole"] != true || v6["address"] != lab.PCAddr6 || v6["method"] != "upnp-igd2-pinhole" {
				t.Fatalf("ready = %v, want nat %s and an IPv6 pinhole for %s", ready, tc.nat, lab.PCAddr6)
			}
			if chk := reach(t, l, lab.Inet, "check", target); chk.code != 0 {
				t.Errorf("check %s from the internet: want exit 0\n%s", target, chk)
			}
			if v := exp.waitEvent("verified"); v["ipv6"] != true {
				t.Errorf("verified event = %v, want the IPv6 side", v)
			}
			if code := exp.interrupt(); code != 0 {
				t.Errorf("exit %d after SIGINT\n%s", code, exp.output())
			}
			if after := reach(t, l, lab.Inet, "check", target, "--timeout", "2s", "--json"); after.code != 1 {
				t.Errorf("the pinhole is still open after expose stopped\n%s", after)
			}
			diag := reach(t, l, lab.PC, append([]string{"diagnose", "--json"}, stunFlag...)...)
			var rep struct {
				IPv6 struct {
					Address        string  `json:"address"`
					Global         bool    `json:"global"`
					PinholeService *string `json:"pinhole_service"`
				} `json:"ipv6"`
			}
			decodeJSON(t, diag, &rep)
			if rep.IPv6.Address != lab.PCAddr6 || !rep.IPv6.Global || rep.IPv6.PinholeService == nil || *rep.IPv6.PinholeService != "upnp-igd2-pinhole" {
				t.Errorf("diagnose ipv6 = %+v\n%s", rep.IPv6, diag)
			}
		})
	}
}
