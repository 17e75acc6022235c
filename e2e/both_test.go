package e2e

import (
	"regexp"
	"strings"
	"testing"

	"github.com/reach-net/reach/lab"
)

// --proto both maps and serves TCP and UDP on one port, as many games
// need, proves each, and removes both on exit.
func TestExposeBothProtocols(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{UPnP: true, Loopback: true})
	exp := startExpose(t, l, lab.PC, exposeArgs("--proto", "both")...)
	seen := map[string]bool{}
	for range 2 {
		ready := exp.waitEvent("ready")
		if ready["verified"] != true || ready.str("verified_by") != "loopback" {
			t.Errorf("ready = %v, want verified by loopback", ready)
		}
		seen[strings.ToLower(ready.str("protocol"))] = true
	}
	if !seen["tcp"] || !seen["udp"] {
		t.Errorf("ready events for %v, want tcp and udp", seen)
	}
	list := upnpList(t, l, lab.PC)
	udp := regexp.MustCompile(`UDP\s+1234->` + regexp.QuoteMeta(lab.PCAddr+":1234") + `\b`)
	if !listsMapping(list, 1234, lab.PCAddr+":1234") || !udp.MatchString(list) {
		t.Errorf("the router does not list both mappings:\n%s", list)
	}
	if code := exp.interrupt(); code != 0 {
		t.Errorf("exit %d after SIGINT\n%s", code, exp.output())
	}
	if list := upnpList(t, l, lab.PC); listsMapping(list, 1234, lab.PCAddr+":1234") || udp.MatchString(list) {
		t.Errorf("a mapping is left:\n%s", list)
	}
}
