package e2e

import (
	"regexp"
	"strings"
	"testing"

	"github.com/reach-net/reach/lab"
)

// reach map --ipv6 only opens the IPv6 pinhole and no IPv4 mapping: it
// prints the pinhole's [address]:port (and, with --json, the mapping's
// fields for it) and exits 0.
func TestMapIPv6Only(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{UPnP: true, NATPMP: true, IPv6: true})
	target := "[" + lab.PCAddr6 + "]:1243"
	r := reach(t, l, lab.PC, "map", "--port", "1243", "--ipv6", "only")
	if r.code != 0 || strings.TrimSpace(r.stdout) != target || !strings.Contains(r.stderr, "closes by itself") {
		t.Errorf("reach map --ipv6 only: want exit 0, %s on stdout and when the pinhole closes\n%s", target, r)
	}
	j := reach(t, l, lab.PC, "map", "--port", "1244", "--ipv6", "only", "--json")
	var m struct {
		Method       string `json:"method"`
		ExternalIP   string `json:"external_ip"`
		ExternalPort int    `json:"external_port"`
		LeaseS       int    `json:"lease_s"`
	}
	decodeJSON(t, j, &m)
	if j.code != 0 || m.Method != "upnp-igd2-pinhole" || m.ExternalIP != lab.PCAddr6 || m.ExternalPort != 1244 || m.LeaseS != 3600 {
		t.Errorf("reach map --ipv6 only --json: got %+v, want the pinhole at %s port 1244 by upnp-igd2-pinhole, lease 3600 s\n%s", m, lab.PCAddr6, j)
	}
}

// reach expose --ipv6 only asks nothing of IPv4: no probe through the
// IPv4 address, and a verdict that is IPv6's, with no IPv4 advice.
func TestExposeIPv6OnlyVerdict(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{UPnP: true, NATPMP: true, IPv6: true})
	exp := startExpose(t, l, lab.PC, append([]string{"--port", "1245", "--ipv6", "only"}, stunFlag...)...)
	out := exp.waitOutput(regexp.MustCompile(`hosting the framed echo server`))
	head := "IPv6: pinhole open at [" + lab.PCAddr6 + "]:1245"
	if !strings.Contains(out, "stdout:\n"+head) || strings.Contains(out, l.RouterWAN()) || strings.Contains(out, " verify ") {
		t.Errorf("reach expose --ipv6 only: want the headline %q and nothing of IPv4 (no %s, no verify step)\n%s", head, l.RouterWAN(), out)
	}
	if code := exp.interrupt(); code != 0 {
		t.Errorf("exit %d after SIGINT\n%s", code, exp.output())
	}
}

// reach map --ipv6 auto on a port the router's rules refuse to map
// (miniupnpd forwards only ports 1024 and up) opens the IPv6 pinhole all
// the same: map prints the pinhole, says no IPv4 mapping was made, and
// exits 3 (partial); with --json it gives the pinhole's fields, then the
// error.
func TestMapIPv6AutoPartial(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{UPnP: true, IPv6: true})
	target := "[" + lab.PCAddr6 + "]:80"
	r := reach(t, l, lab.PC, "map", "--port", "80", "--ipv6", "auto")
	if r.code != 3 || strings.TrimSpace(r.stdout) != target || !strings.Contains(r.stderr, "but: no IPv4 mapping was made") {
		t.Errorf("reach map --port 80 --ipv6 auto: want exit 3, %s on stdout and no IPv4 mapping said\n%s", target, r)
	}
	if routerForwards(t, l, 80) {
		t.Error("the router forwards port 80, which its rules refuse")
	}
	j := reach(t, l, lab.PC, "map", "--port", "80", "--ipv6", "auto", "--json")
	lines := strings.Split(strings.TrimSpace(j.stdout), "\n")
	if j.code != 3 || len(lines) != 2 || !strings.Contains(lines[0], `"external_ip":"`+lab.PCAddr6+`"`) ||
		!strings.Contains(lines[0], `"external_port":80`) || !strings.Contains(lines[1], `"exit":3`) {
		t.Errorf("reach map --port 80 --ipv6 auto --json: want exit 3, the pinhole's fields, then the error\n%s", j)
	}
}
