package bench

import (
	"os"
	"testing"
	"time"

	"github.com/reach-net/reach/lab"
)

func TestZZManualLab(t *testing.T) {
	if os.Getenv("ZZ_MANUAL") == "" {
		t.Skip()
	}
	l := lab.New(t, lab.Options{UPnP: true, NATPMP: true})
	os.WriteFile("/tmp/reachprof/ns", []byte(l.Namespace("pc")), 0o644)
	time.Sleep(20 * time.Minute)
}
