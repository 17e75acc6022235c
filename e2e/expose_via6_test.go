package e2e

import (
	"strings"
	"testing"

	"github.com/reach-net/reach/lab"
)

// Behind carrier-grade NAT, expose --via has the TURN relay outside prove
// the IPv6 pinhole it opened, over TCP and UDP, with the relay reached
// over IPv4 or IPv6, and with --ipv6 only, where no IPv4 mapping is made:
// the ready event says the IPv6 side is verified by the relay.
func TestExposeViaVerifiesTheIPv6Pinhole(t *testing.T) {
	t.Parallel()
	port := "1262"
	target := "[" + lab.PCAddr6 + "]:" + port
	for _, tc := range []struct {
		name, proto, relay, ipv6 string
	}{
		{"tcp, relay over IPv4", "tcp", lab.TURNServer, "auto"},
		{"udp, relay over IPv6, --ipv6 only", "udp", lab.TURNServer6, "only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t, lab.Options{Topology: lab.CGNAT, UPnP: true, NATPMP: true, IPv6: true})
			args := append([]string{"--port", port, "--proto", tc.proto, "--ipv6", tc.ipv6, "--via", tc.relay, "--json"}, stunFlag...)
			exp := startExpose(t, l, lab.PC, args...)
			steps, ready := untilReady(exp)
			if turn := steps["turn"]; turn["ok"] != true || !strings.Contains(turn.str("detail"), "through the IPv6 pinhole "+target) {
				t.Errorf("last turn step = %v, want the relay's echo through the IPv6 pinhole %s", turn, target)
			}
			v6, _ := ready["ipv6"].(map[string]any)
			if v6 == nil || v6["pinhole"] != true || v6["verified"] != true || v6["address"] != lab.PCAddr6 {
				t.Fatalf("ready ipv6 = %v, want the pinhole for %s verified", v6, lab.PCAddr6)
			}
			if d, _ := v6["detail"].(string); !strings.Contains(d, "reachable over IPv6 at "+target) || !strings.Contains(d, "TURN relay") {
				t.Errorf("ready ipv6 detail %q, want reachable over IPv6, verified by the TURN relay", d)
			}
			if tc.ipv6 == "auto" {
				words(t, "ready detail", ready.str("detail"), []string{"not reachable over IPv4 (carrier-grade NAT)", "reachable over IPv6 at " + target}, nil)
			}
			if code := exp.interrupt(); code != 0 {
				t.Errorf("exit %d after SIGINT\n%s", code, exp.output())
			}
		})
	}
}
