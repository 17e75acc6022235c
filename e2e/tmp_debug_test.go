package e2e

import (
	"regexp"
	"testing"

	"github.com/reach-net/reach/lab"
)

func TestTmpShow2(t *testing.T) {
	l := newLab(t, lab.Options{UPnP: true})
	exp := startExpose(t, l, lab.PC, "--port", "1234", "--stun", lab.STUNServer)
	exp.waitOutput(regexp.MustCompile(`reachable|run .reach check`))
	t.Log(reach(t, l, lab.Inet, "check", "11.0.0.2:1234"))
	t.Log(reach(t, l, lab.Inet, "check", "11.0.0.2:1235"))
	t.Log(reach(t, l, lab.Dev2, "upnpc", "x"))
	exp.interrupt()
	t.Log(exp.output())
	t.Log(reach(t, l, lab.PC, "map", "--port", "1234"))
	t.Log(reach(t, l, lab.PC, "mappings"))
	t.Log(reach(t, l, lab.PC, "unmap", "--port", "1234"))
	t.Log(reach(t, l, lab.PC, "unmap", "--port", "1234"))
}

func TestTmpShow3(t *testing.T) {
	l := newLab(t, lab.Options{NoService: true})
	exp := startExpose(t, l, lab.PC, "--port", "1234", "--stun", lab.STUNServer)
	exp.waitOutput(regexp.MustCompile(`1234`))
	t.Log(reach(t, l, lab.Inet, "check", "11.0.0.2:1234"))
	t.Log(reach(t, l, lab.PC, append([]string{"diagnose"}, stunFlag...)...))
	exp.interrupt()
	t.Log(exp.output())
}
