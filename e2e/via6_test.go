package e2e

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/reach-net/reach/lab"
)

// pinhole opens the router's IPv6 firewall for the PC's port with
// miniupnpc, as a user would by hand.
func pinhole(t *testing.T, l *lab.Lab, port, proto string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	desc := "http://[" + lab.RouterLAN6 + "]:5000/rootDesc.xml"
	out, errOut, code, err := l.Run(ctx, lab.PC, "upnpc", "-6", "-u", desc, "-A", "", "0", lab.PCAddr6, port, proto, "600")
	if err != nil || code != 0 || !strings.Contains(out, "Pinhole ID") {
		t.Fatalf("upnpc AddPinhole %s/%s: exit %d, %v\n%s%s", port, proto, code, err, out, errOut)
	}
}

// Behind carrier-grade NAT the way in is IPv6: from the PC itself, one
// command has the TURN relay outside prove the PC's global IPv6 address
// through the router's pinhole, over TCP and UDP, with the relay reached
// over IPv4 or IPv6. A port the firewall keeps closed is a verdict on
// the target from the relay (timeout, no answer), not a relay failure.
func TestCheckViaIPv6(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{Topology: lab.CGNAT, UPnP: true, NATPMP: true, IPv6: true})
	srv := startReach(t, l, lab.PC, "serve", "--port", "1400", "--proto", "both")
	srv.waitOutput(regexp.MustCompile(`serving`))
	pinhole(t, l, "1400", "TCP")
	pinhole(t, l, "1400", "UDP")
	open, closed := "["+lab.PCAddr6+"]:1400", "["+lab.PCAddr6+"]:1401"
	for _, tc := range []struct {
		proto, relay, target, verdict string
		code                          int
	}{
		{"tcp", lab.TURNServer, open, "verified", 0},
		{"udp", lab.TURNServer, open, "verified", 0},
		{"tcp", lab.TURNServer6, open, "verified", 0},
		{"udp", lab.TURNServer6, open, "verified", 0},
		{"tcp", lab.TURNServer, closed, "timeout", 1}, // the router's firewall drops the relay's SYN
		{"udp", lab.TURNServer, closed, "no-answer", 1},
	} {
		r := reach(t, l, lab.PC, "check", "--json", "--timeout", "3s", "--proto", tc.proto, "--via", tc.relay, tc.target)
		var v struct{ Target, Verdict, Detail string }
		decodeJSON(t, r, &v)
		if r.code != tc.code || v.Verdict != tc.verdict || v.Target != tc.target || !strings.Contains(v.Detail, "TURN relay") {
			t.Errorf("check --proto %s --via %s %s: verdict %q exit %d, want %s from the relay, exit %d\n%s",
				tc.proto, tc.relay, tc.target, v.Verdict, r.code, tc.verdict, tc.code, r)
		}
	}
	r := reach(t, l, lab.PC, "check", "--via", lab.TURNServer, open)
	if r.code != 0 || !strings.Contains(r.stdout, "verified: "+open+" answers as a reach server") {
		t.Errorf("check --via %s: want the verified line\n%s", open, r)
	}
}
