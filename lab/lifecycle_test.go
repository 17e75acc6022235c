package lab

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestCloseRemovesEverything(t *testing.T) {
	t.Parallel()
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	l, err := Start(ctx, Options{Topology: DoubleNAT, UPnP: true, NATPMP: true, Loopback: true})
	if err != nil {
		if l != nil {
			t.Log(l.Logs())
			l.Close()
		}
		t.Fatal(err)
	}
	var pids []int
	for _, d := range l.daemons {
		pids = append(pids, d.cmd.Process.Pid)
	}
	if len(pids) != 2 {
		t.Errorf("lab runs %d daemons, want miniupnpd and coturn", len(pids))
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, h := range []string{Router, PC, Dev2, Inet, Modem} {
		if _, err := os.Stat(netnsDir + "/" + l.Namespace(h)); !os.IsNotExist(err) {
			t.Errorf("namespace %s still exists after Close (%v)", l.Namespace(h), err)
		}
	}
	for _, pid := range pids {
		if processAlive(pid) {
			t.Errorf("daemon pid %d still runs after Close", pid)
		}
	}
	if _, err := os.Stat(l.Dir()); !os.IsNotExist(err) {
		t.Errorf("lab dir %s still exists after Close", l.Dir())
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestNoLinkToRootNamespace(t *testing.T) {
	t.Parallel()
	l := New(t, Options{Topology: CGNAT, UPnP: true, Loopback: true})
	// No veth of the root namespace has its peer in the lab.
	rootVeths, err := exec.Command("ip", "-o", "link", "show", "type", "veth").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(rootVeths), "\n") {
		if strings.Contains(line, "link-netns "+l.prefix) {
			t.Errorf("root namespace has a link into the lab: %s", line)
		}
	}
	// Every veth of the lab has its peer in another lab namespace: the
	// peer's netnsid, seen from each namespace, is one of the lab's.
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	for _, h := range []string{Router, PC, Dev2, Inet, ISP} {
		out, _, _, err := l.Run(ctx, h, "ip", "-o", "link", "show", "type", "veth")
		if err != nil {
			t.Fatal(err)
		}
		ids := runOK(t, l, h, "ip", "netns", "list-id")
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			m := regexp.MustCompile(`link-netns (\S+)`).FindStringSubmatch(line)
			if m == nil {
				// Both ends in this namespace (the router's hairpin pair).
				if h == Router && (strings.Contains(line, hairIn+"@") || strings.Contains(line, hairOut+"@")) {
					continue
				}
				t.Errorf("%s: veth with no peer namespace: %s", h, line)
				continue
			}
			if !strings.HasPrefix(m[1], l.prefix) {
				t.Errorf("%s: veth peer in namespace %q, not in this lab (ids: %s): %s", h, m[1], ids, line)
			}
		}
	}
	// The internet host has no default route: nothing it sends leaves the
	// lab's 11.0.0.0/24.
	if r := runOK(t, l, Inet, "ip", "route", "show", "default"); strings.TrimSpace(r) != "" {
		t.Errorf("internet host has a default route: %s", r)
	}
}

func TestCleanupStaleRemovesDeadRunsOnly(t *testing.T) {
	t.Parallel()
	Require(t)
	// Namespaces with this test's own prefix: CleanupStale running in
	// parallel tests must not race with this one.
	const prefix = "rchtest"
	// A pid that is certainly dead: a process that has exited and been
	// waited for.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := prefix + strconv.Itoa(dead.Process.Pid) + "n1-router"
	live := prefix + strconv.Itoa(os.Getpid()) + "n1-router"
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	for _, ns := range []string{stale, live} {
		if err := run(ctx, "ip", "netns", "add", ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = removeNamespace(ns) })
	}
	sleeper := exec.Command("ip", "netns", "exec", stale, "sleep", "600")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = sleeper.Wait(); close(exited) }()
	t.Cleanup(func() { _ = sleeper.Process.Kill(); <-exited })
	// The sleeper is in the namespace once ip netns pids lists it.
	for deadline := time.Now().Add(cmdTimeout); ; {
		out, _ := exec.CommandContext(ctx, "ip", "netns", "pids", stale).Output()
		if strings.TrimSpace(string(out)) != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sleep did not start in %s", stale)
		}
		time.Sleep(readyPoll)
	}

	if err := cleanupStale(prefix); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(netnsDir + "/" + stale); !os.IsNotExist(err) {
		t.Errorf("stale namespace %s of dead pid %d not removed", stale, dead.Process.Pid)
	}
	select {
	case <-exited:
	case <-time.After(cleanupTimeout):
		t.Errorf("process in the stale namespace still runs")
	}
	if _, err := os.Stat(netnsDir + "/" + live); err != nil {
		t.Errorf("CleanupStale removed the namespace of a living process: %v", err)
	}

	tmp := t.TempDir()
	deadDir := filepath.Join(tmp, tempDirPrefix+strconv.Itoa(dead.Process.Pid)+"-1")
	liveDir := filepath.Join(tmp, tempDirPrefix+strconv.Itoa(os.Getpid())+"-1")
	for _, d := range []string{deadDir, liveDir} {
		if err := os.MkdirAll(filepath.Join(d, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := cleanupStaleDirs(tmp); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(deadDir); !os.IsNotExist(err) {
		t.Errorf("temp dir %s of a dead run not removed (%v)", deadDir, err)
	}
	if _, err := os.Stat(liveDir); err != nil {
		t.Errorf("temp dir of a living process removed: %v", err)
	}
}

func TestRestartRouter(t *testing.T) {
	t.Parallel()
	l := New(t, Options{UPnP: true, NATPMP: true})
	runOK(t, l, PC, "upnpc", "-u", RootDescURL, "-a", PCAddr, "1234", "1234", "TCP")
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()

	if err := l.RestartRouter(ctx, true); err != nil {
		t.Fatal(err)
	}
	serveIn(t, l, PC, ":1234")
	if list := runOK(t, l, PC, "upnpc", "-u", RootDescURL, "-l"); !strings.Contains(list, "1234->192.168.1.10:1234") {
		t.Errorf("router restarted with its lease file lost the mapping:\n%s", list)
	}
	if _, err := dialFrom(t, l, Inet, "11.0.0.2:1234"); err != nil {
		t.Errorf("restored mapping does not forward: %v", err)
	}

	if err := l.RestartRouter(ctx, false); err != nil {
		t.Fatal(err)
	}
	if list := runOK(t, l, PC, "upnpc", "-u", RootDescURL, "-l"); strings.Contains(list, "1234->") {
		t.Errorf("router restarted without leases still lists the mapping:\n%s", list)
	}
	if g, err := dialFrom(t, l, Inet, "11.0.0.2:1234"); err == nil {
		t.Errorf("11.0.0.2:1234 still forwards after a reboot without leases: %q", g)
	}
}
