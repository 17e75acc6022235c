package e2e

import (
	"context"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reach-net/reach/lab"
)

// signal sends sig to expose and waits for it to exit.
func (e *exposeRun) signal(sig syscall.Signal) int {
	e.t.Helper()
	if err := e.cmd.Process.Signal(sig); err != nil {
		e.t.Fatalf("%s to reach: %v", sig, err)
	}
	select {
	case <-e.done:
		return e.code
	case <-time.After(stopTimeout):
		e.t.Fatalf("reach did not exit within %s of %s\n%s", stopTimeout, sig, e.output())
	}
	return -1
}

// No hole left behind: a closed terminal removes the mapping; a killed
// expose's mapping is removed by the next reach that talks to the router,
// which says so; a running expose's port is never taken over.
func TestNoHoleLeftBehind(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{UPnP: true})
	mine := lab.PCAddr + ":1234"

	t.Run("SIGHUP", func(t *testing.T) {
		exp := startExpose(t, l, lab.PC, exposeArgs()...)
		exp.waitEvent("ready")
		if code := exp.signal(syscall.SIGHUP); code != 0 {
			t.Errorf("exit %d after SIGHUP, want 0\n%s", code, exp.output())
		}
		if list := upnpList(t, l, lab.PC); listsMapping(list, 1234, mine) {
			t.Errorf("mapping left after SIGHUP:\n%s", list)
		}
	})

	t.Run("kill -9, then healed", func(t *testing.T) {
		exp := startExpose(t, l, lab.PC, exposeArgs()...)
		exp.waitEvent("ready")
		exp.signal(syscall.SIGKILL)
		if list := upnpList(t, l, lab.PC); !listsMapping(list, 1234, mine) {
			t.Fatalf("the killed expose's mapping is not on the router (the test needs it):\n%s", list)
		}
		maps := reach(t, l, lab.PC, "mappings")
		if !regexp.MustCompile(`removed 1234/tcp left by reach expose \(pid \d+, exited\)`).MatchString(maps.stderr) {
			t.Errorf("mappings does not say it removed the leftover\n%s", maps)
		}
		if list := upnpList(t, l, lab.PC); listsMapping(list, 1234, mine) {
			t.Errorf("the leftover is still on the router:\n%s", list)
		}
	})

	t.Run("second expose refused", func(t *testing.T) {
		first := startExpose(t, l, lab.PC, exposeArgs()...)
		first.waitEvent("ready")
		second := startExpose(t, l, lab.PC, exposeArgs("--no-serve")...)
		if code := second.wait(); code != 1 || !strings.Contains(second.output(), "already exposed by reach pid") {
			t.Errorf("second expose of 1234: exit %d, want 1 naming the first\n%s", code, second.output())
		}
		// reach map of the same port is refused the same way, as a
		// verdict, not a crash.
		if m := reach(t, l, lab.PC, "map", "--port", "1234"); m.code != 1 || !strings.Contains(m.stderr+m.stdout, "already exposed by reach pid") || strings.Contains(m.stderr, "panic") {
			t.Errorf("reach map of the exposed port: exit %d, want 1 naming the first\n%s", m.code, m)
		}
		if list := upnpList(t, l, lab.PC); !listsMapping(list, 1234, mine) {
			t.Errorf("the first expose's mapping is gone:\n%s", list)
		}
		maps := reach(t, l, lab.PC, "mappings")
		if !regexp.MustCompile(`reach \(running, pid \d+\)`).MatchString(maps.stdout) {
			t.Errorf("mappings does not show the running owner\n%s", maps)
		}
		if code := first.interrupt(); code != 0 {
			t.Errorf("first expose exit %d", code)
		}
	})

	t.Run("deleted behind reach's back", func(t *testing.T) {
		exp := startExpose(t, l, lab.PC, exposeArgs("--lease", "2s")...)
		exp.waitEvent("ready")
		ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
		defer cancel()
		if out, errOut, code, err := l.Run(ctx, lab.PC, "upnpc", "-u", lab.RootDescURL, "-d", "1234", "TCP"); err != nil || code != 0 {
			t.Fatalf("upnpc -d: %v exit %d\n%s%s", err, code, out, errOut)
		}
		for {
			ev := exp.waitEvent("renew")
			if ev.str("how") == "re-created" && ev["ok"] == true {
				break
			}
		}
		if list := upnpList(t, l, lab.PC); !listsMapping(list, 1234, mine) {
			t.Errorf("not re-created:\n%s", list)
		}
		exp.interrupt()
	})

	t.Run("unmap checks", func(t *testing.T) {
		if m := reach(t, l, lab.PC, "map", "--port", "2222"); m.code != 0 {
			t.Fatalf("map: %s", m)
		}
		un := reach(t, l, lab.PC, "unmap", "--port", "2222")
		if un.code != 0 || !strings.Contains(un.stderr, "checked: the router no longer lists it") {
			t.Errorf("unmap\n%s", un)
		}
		again := reach(t, l, lab.PC, "unmap", "--port", "2222")
		if again.code != 0 || !strings.Contains(again.stderr, "nothing to remove") {
			t.Errorf("unmap of nothing: want exit 0 and nothing to remove\n%s", again)
		}
	})
}
