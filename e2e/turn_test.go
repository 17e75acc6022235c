package e2e

import (
	"strings"
	"testing"

	"github.com/reach-net/reach/lab"
)

// From one command at home: a TURN relay outside proves the mapping where
// the router does not loop back, for TCP and UDP.
func TestExposeVerifiedThroughTURN(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{UPnP: true})
	t.Run("tcp", func(t *testing.T) {
		exp := startExpose(t, l, lab.PC, exposeArgs("--via", lab.TURNServer)...)
		ready := exp.waitEvent("ready")
		if ready["verified"] != true || ready.str("verified_by") != "turn" || ready.str("target") != "11.0.0.2:1234" {
			t.Errorf("ready = %v, want verified by turn through 11.0.0.2:1234", ready)
		}
		if code := exp.interrupt(); code != 0 {
			t.Errorf("exit %d", code)
		}
	})
	t.Run("udp", func(t *testing.T) {
		exp := startExpose(t, l, lab.PC, append([]string{"--port", "1240", "--json", "--proto", "udp", "--via", lab.TURNServer}, stunFlag...)...)
		ready := exp.waitEvent("ready")
		if ready["verified"] != true || ready.str("verified_by") != "turn" || ready.str("protocol") != "udp" {
			t.Errorf("ready = %v, want UDP verified by turn", ready)
		}
	})
	t.Run("wrong credentials", func(t *testing.T) {
		exp := startExpose(t, l, lab.PC, append([]string{"--port", "1241", "--json", "--via", "turn:reach:wrong@" + lab.InetAddr + ":3478"}, stunFlag...)...)
		ready := exp.waitEvent("ready")
		if ready["verified"] == true {
			t.Errorf("verified with refused credentials: %v", ready)
		}
		if out := exp.output(); !strings.Contains(out, "401") && !strings.Contains(strings.ToLower(out), "credentials") {
			t.Errorf("the refused credentials are not said:\n%s", out)
		}
	})
}

// Without a forward, the relay's probe is refused: not reachable, and the
// causes follow from that.
func TestExposeTURNRefusedWithoutForward(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{NoService: true})
	ready := startExpose(t, l, lab.PC, exposeArgs("--via", lab.TURNServer)...).waitEvent("ready")
	if ready["verified"] == true || ready.str("status") != "unreachable" || !strings.Contains(ready.str("detail"), "TURN relay") {
		t.Errorf("ready = %v, want unreachable from the TURN relay's probe", ready)
	}
	words(t, "causes", ready.list("causes"), []string{"not forwarded"}, nil)
}
