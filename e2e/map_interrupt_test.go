//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reach-net/reach/lab"
	"github.com/reach-net/reach/ledger"
)

// Waits of the interrupted-map test.
const (
	// pollEvery is how often the test looks at the router's rules and at
	// reach's pending signals.
	pollEvery = 50 * time.Millisecond
	// signalSettle is how long the ledger's lock stays held once the
	// kernel handed SIGINT to reach: the Go runtime then passes it to the
	// goroutine that cancels the command's context, which takes
	// microseconds on an idle machine and was seen to take a tenth of a
	// second for a goroutine on a loaded one under -race. Not an
	// assertion: a margin, so that the interrupt is seen before map goes
	// on past the ledger.
	signalSettle = time.Second
)

// Ctrl-C (or SIGTERM) after the router made reach map's mapping but
// before map finished: map removes the mapping, forgets it in the ledger,
// says so, and exits 130 without a result. The interrupt lands at a known
// step: the test holds the lock of the ledger (as another reach writing it
// would), so map waits there, after the router made the lease and before
// it records it.
func TestMapInterruptedLeavesNoMapping(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts lab.Options
		sig  syscall.Signal
	}{
		{"upnp SIGINT", lab.Options{UPnP: true}, syscall.SIGINT},
		{"natpmp-pcp SIGTERM", lab.Options{NATPMP: true}, syscall.SIGTERM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t, tc.opts)
			dir, release := holdLedgerLock(t, l, lab.PC)
			defer release()
			run := startReach(t, l, lab.PC, "map", "--port", "1234")
			waitForwards(t, l, run, 1234)
			if err := run.cmd.Process.Signal(tc.sig); err != nil {
				t.Fatalf("%s to reach map: %v", tc.sig, err)
			}
			waitSignalTaken(t, run, tc.sig)
			time.Sleep(signalSettle)
			release()
			code := run.wait()
			out := run.output()
			if code != 130 {
				t.Errorf("exit %d after %s, want 130\n%s", code, tc.name, out)
			}
			words(t, "map output", out, []string{"reach: interrupted", "interrupted: removed the mapping of port 1234/tcp it had made"},
				[]string{"11.0.0.2:1234", "remove it with"})
			if routerForwards(t, l, 1234) {
				t.Errorf("the router still forwards 1234 after %s", tc.name)
			}
			if tc.opts.UPnP {
				if list := upnpList(t, l, lab.PC); listsMapping(list, 1234, lab.PCAddr+":1234") {
					t.Errorf("the router still lists the mapping:\n%s", list)
				}
			}
			if entries, _, err := ledger.Open(dir).List(context.Background()); err != nil || len(entries) != 0 {
				t.Errorf("ledger after the interrupted map: %+v (%v), want none", entries, err)
			}
		})
	}
}

// holdLedgerLock takes the lock of the ledger that reach in host uses (an
// flock, as package ledger takes it on Linux, where the lab runs) and
// returns the ledger's directory and the lock's release.
func holdLedgerLock(t *testing.T, l *lab.Lab, host string) (dir string, release func()) {
	t.Helper()
	for _, kv := range reachCmd(context.Background(), t, l, host).Env {
		if v, ok := strings.CutPrefix(kv, "XDG_STATE_HOME="); ok {
			dir = filepath.Join(v, "reach")
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "ledger.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	return dir, func() {
		once.Do(func() {
			syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			f.Close()
		})
	}
}

// waitForwards waits until the router forwards port to the PC, failing
// the test if reach exits or readyTimeout passes first.
func waitForwards(t *testing.T, l *lab.Lab, run *exposeRun, port int) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for !routerForwards(t, l, port) {
		select {
		case <-run.done:
			t.Fatalf("reach exited with %d before the router forwarded %d\n%s", run.code, port, run.output())
		case <-time.After(pollEvery):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the router does not forward %d within %s\n%s", port, readyTimeout, run.output())
		}
	}
}

// waitSignalTaken waits until the kernel has handed sig to reach: it is no
// longer pending on the process (/proc/PID/status ShdPnd).
func waitSignalTaken(t *testing.T, run *exposeRun, sig syscall.Signal) {
	t.Helper()
	status := fmt.Sprintf("/proc/%d/status", run.cmd.Process.Pid)
	deadline := time.Now().Add(stopTimeout)
	for {
		b, err := os.ReadFile(status)
		if err != nil {
			t.Fatalf("reading %s: %v", status, err)
		}
		pending := uint64(0)
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "ShdPnd:"); ok {
				pending, _ = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			}
		}
		if pending&(1<<(uint(sig)-1)) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still pending on reach after %s", sig, stopTimeout)
		}
		time.Sleep(pollEvery)
	}
}

// Ctrl-C after the router renewed a mapping it held before reach map
// started (made with upnpc, as reach map --description mine would have
// made it): map keeps it, says so,
// exits 130, and records it as map's, so that reach unmap removes it and
// forgets it. The interrupt lands while map waits for the ledger's lock,
// after the router granted the mapping.
func TestMapInterruptedKeepsWhatTheRouterHeld(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{UPnP: true})
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	out, errOut, code, err := l.Run(ctx, lab.PC, "upnpc", "-u", lab.RootDescURL, "-e", "mine", "-a", lab.PCAddr, "1234", "1234", "TCP")
	cancel()
	if err != nil || code != 0 || !routerForwards(t, l, 1234) {
		t.Fatalf("upnpc -a in pc: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	dir, release := holdLedgerLock(t, l, lab.PC)
	defer release()
	// The same description: reach refuses to overwrite another program's
	// mapping on this host (one with another description).
	run := startReach(t, l, lab.PC, "map", "--port", "1234", "--description", "mine")
	waitLockWait(t, run, filepath.Join(dir, "ledger.lock"))
	if err := run.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatalf("SIGINT to reach map: %v", err)
	}
	waitSignalTaken(t, run, syscall.SIGINT)
	time.Sleep(signalSettle)
	release()
	if code := run.wait(); code != 130 {
		t.Errorf("exit %d after SIGINT, want 130\n%s", code, run.output())
	}
	words(t, "map output", run.output(), []string{"reach: interrupted",
		"interrupted: kept the mapping of port 1234/tcp: the router held it before reach map started"},
		[]string{"11.0.0.2:1234", "remove it with", "removed the mapping"})
	if list := upnpList(t, l, lab.PC); !listsMapping(list, 1234, lab.PCAddr+":1234") {
		t.Fatalf("the router no longer lists the mapping it held before map:\n%s", list)
	}
	if entries, _, err := ledger.Open(dir).List(context.Background()); err != nil || len(entries) != 1 || entries[0].Command != "map" || entries[0].ExternalPort != 1234 {
		t.Errorf("ledger after the interrupted map: %+v (%v), want the kept mapping as map's", entries, err)
	}
	if unmap := reach(t, l, lab.PC, "unmap", "--port", "1234"); unmap.code != 0 || routerForwards(t, l, 1234) {
		t.Errorf("reach unmap after the interrupted map did not remove the kept mapping\n%s", unmap)
	}
	if entries, _, err := ledger.Open(dir).List(context.Background()); err != nil || len(entries) != 0 {
		t.Errorf("ledger after reach unmap: %+v (%v), want none", entries, err)
	}
}

// An expose over PCP keeps, on exit, the mapping an earlier reach map made
// (PCP cannot list: the ledger says so), and leaves its nonce, so that
// reach unmap can still remove it: PCP lets only the nonce's holder.
func TestExposeKeepsAnEarlierMapsPCPMapping(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{NATPMP: true})
	if mapped := reach(t, l, lab.PC, "map", "--port", "1234", "--method", "pcp"); mapped.code != 0 {
		t.Fatalf("reach map --method pcp failed\n%s", mapped)
	}
	exp := startExpose(t, l, lab.PC, exposeArgs("--method", "pcp")...)
	exp.waitEvent("ready")
	if code := exp.interrupt(); code != 0 {
		t.Errorf("expose exit %d after SIGINT, want 0\n%s", code, exp.output())
	}
	words(t, "expose output", exp.output(), []string{"an earlier reach map made it at", "kept on exit", `"mapping_kept":true`},
		[]string{`"mapping_deleted":true`})
	if !routerForwards(t, l, 1234) {
		t.Fatalf("the router no longer forwards 1234 after expose: it removed the earlier map's mapping\n%s", exp.output())
	}
	unmap := reach(t, l, lab.PC, "unmap", "--port", "1234", "--method", "pcp")
	if unmap.code != 0 || !strings.Contains(unmap.stderr, "the router accepted the removal of 1234/tcp") {
		t.Errorf("reach unmap --method pcp after expose: want the removal accepted\n%s", unmap)
	}
	if routerForwards(t, l, 1234) {
		t.Errorf("the router still forwards 1234 after reach unmap")
	}
}

// waitLockWait waits until reach in run has lock open: it waits for the
// lock the test holds. With no ledger file yet, reading the ledger takes
// no lock, so this is map recording the mapping the router granted.
func waitLockWait(t *testing.T, run *exposeRun, lock string) {
	t.Helper()
	fds := fmt.Sprintf("/proc/%d/fd", run.cmd.Process.Pid)
	deadline := time.Now().Add(readyTimeout)
	for {
		entries, _ := os.ReadDir(fds)
		for _, e := range entries {
			if target, err := os.Readlink(filepath.Join(fds, e.Name())); err == nil && target == lock {
				return
			}
		}
		select {
		case <-run.done:
			t.Fatalf("reach exited with %d before it waited for the ledger's lock\n%s", run.code, run.output())
		case <-time.After(pollEvery):
		}
		if time.Now().After(deadline) {
			t.Fatalf("reach did not wait for the ledger's lock within %s\n%s", readyTimeout, run.output())
		}
	}
}
