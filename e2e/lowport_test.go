package e2e

import (
	"testing"

	"github.com/reach-net/reach/lab"
)

// reach map on a port below 1024, which the router's rules refuse
// (miniupnpd's default rules map only ports 1024 and up): the IGD says
// "not authorized", and PCP, tried after it, does not answer in time (it
// tries every other port first). The verdict rests on the refusal, names
// the low port as a candidate, and does not call it a timeout.
func TestMapLowPortRefusedByTheRouterRules(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{UPnP: true, NATPMP: true})
	r := reach(t, l, lab.PC, "map", "--port", "80")
	if r.code != 1 {
		t.Errorf("reach map --port 80: exit %d, want 1\n%s", r.code, r)
	}
	words(t, "map output", r.stdout+r.stderr,
		[]string{"UPnP 606", "do not allow this host", "only ports 1024 and up, and 80 is below", "try a port of 1024 or more"},
		[]string{"did not answer the mapping request in time", "run reach again"})
}
