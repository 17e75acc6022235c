package e2e

import (
	"context"
	"testing"

	"github.com/reach-net/reach/lab"
)

// Another program on this very host holds the port (its own mapping, to
// another local port, under another description): reach does not take it
// over, and says it is this host's, not "another device".
func TestVerdictPortHeldByAnotherProgramHere(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{UPnP: true})
	rctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	if out, errOut, code, err := l.Run(rctx, lab.PC, "upnpc", "-u", lab.RootDescURL, "-e", "game", "-a", lab.PCAddr, "5000", "1234", "TCP"); err != nil || code != 0 {
		t.Fatalf("pc maps 1234 to its port 5000: %v exit %d\n%s%s", err, code, out, errOut)
	}
	exp := startExpose(t, l, lab.PC, exposeArgs()...)
	ready := exp.waitEvent("ready")
	if ready.str("method") != "none" || ready.str("status") != "unreachable" {
		t.Errorf("ready = %v, want no mapping, unreachable", ready)
	}
	words(t, "causes", ready.list("causes"), []string{"this host's port 5000 by another program", `"game"`}, []string{"another device"})
	words(t, "advice", ready.list("advice"), []string{"--external-port auto", "reach unmap --port 1234"}, []string{"the device at", "turn on UPnP"})
	exp.interrupt()
	if list := upnpList(t, l, lab.PC); !listsMapping(list, 1234, lab.PCAddr+":5000") {
		t.Errorf("the other program's mapping was touched:\n%s", list)
	}
}
