package e2e

import (
	"regexp"
	"testing"

	"github.com/reach-net/reach/lab"
)

// Two exposes of one port on one host (the second with --no-serve and
// another external port for IPv4): the router has one IPv6 pinhole for
// the port, and it is the first's. The second says so and opens none
// (miniupnpd would hand it the first's UniqueID), so its exit leaves the
// first's pinhole open; the first's exit closes it.
func TestExposeSecondLeavesTheFirstsPinhole(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{UPnP: true, NATPMP: true, IPv6: true})
	target := "[" + lab.PCAddr6 + "]:1234"
	first := startExpose(t, l, lab.PC, exposeArgs()...)
	if v6, _ := first.waitEvent("ready")["ipv6"].(map[string]any); v6 == nil || v6["pinhole"] != true {
		t.Fatalf("first expose: ready ipv6 = %v, want a pinhole\n%s", v6, first.output())
	}
	second := startExpose(t, l, lab.PC, exposeArgs("--no-serve", "--external-port", "1240")...)
	if v6, _ := second.waitEvent("ready")["ipv6"].(map[string]any); v6 == nil || v6["pinhole"] != false {
		t.Errorf("second expose: ready ipv6 = %v, want no pinhole of its own", v6)
	}
	// The ipv6 step comes before ready: its line is in by now.
	if said := regexp.MustCompile(`no pinhole for \[` + regexp.QuoteMeta(lab.PCAddr6) + `\]:1234/tcp: already opened by reach pid \d+ \(reach expose\)`); !said.MatchString(second.output()) {
		t.Errorf("second expose does not name the reach that holds the pinhole\n%s", second.output())
	}
	if code := second.interrupt(); code != 0 {
		t.Errorf("second expose: exit %d after SIGINT\n%s", code, second.output())
	}
	if chk := reach(t, l, lab.Inet, "check", target); chk.code != 0 {
		t.Errorf("after the second expose stopped, check %s from the internet: want exit 0 through the first's pinhole\n%s", target, chk)
	}
	if code := first.interrupt(); code != 0 {
		t.Errorf("first expose: exit %d after SIGINT\n%s", code, first.output())
	}
	if after := reach(t, l, lab.Inet, "check", target, "--timeout", "2s", "--json"); after.code != 1 {
		t.Errorf("the pinhole is still open after the first expose stopped\n%s", after)
	}
}
