package e2e

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/reach-net/reach/lab"
)

// stepLines returns the step lines ("  ok   gateway ...") of a reach
// command's stderr, each cut to its mark, name and detail.
func stepLines(stderr string) []string {
	var steps []string
	for _, line := range strings.Split(stderr, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && (f[0] == "ok" || f[0] == "warn" || f[0] == "fail") {
			steps = append(steps, strings.Join(f, " "))
		}
	}
	return steps
}

// A map starts on the IGD as soon as it answered while NAT-PMP and PCP may
// still answer; the steps still come in order, and the service step names
// every service that answered, once they all ended: on the lab's router
// NAT-PMP and PCP answer, and once the router drops UDP 5351, as many home
// routers do, the IGD alone is named and the map is still made with it.
// An expose's steps keep their order too, the server's among them.
func TestMapNamesEveryServiceWhileTheIGDMapsFirst(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{UPnP: true, NATPMP: true})
	mapOnce := func(when, found string) {
		t.Helper()
		r := reach(t, l, lab.PC, "map", "--port", "1234")
		steps := stepLines(r.stderr)
		want := []string{"ok gateway", "ok service upnp-igd2 (found: " + found + ")", "ok map 1234/tcp", "ok external 11.0.0.2"}
		ok := r.code == 0 && len(steps) == len(want)
		for i := 0; ok && i < len(want); i++ {
			ok = strings.HasPrefix(steps[i], want[i])
		}
		if !ok {
			t.Fatalf("%s: reach map: want exit 0 and the steps %q in order\n%s", when, want, r)
		}
		if un := reach(t, l, lab.PC, "unmap", "--port", "1234"); un.code != 0 {
			t.Fatalf("%s: reach unmap\n%s", when, un)
		}
	}
	mapOnce("every service on", "upnp-igd2, pcp, nat-pmp")
	exposeOrder(t, l, "every service on")
	exposeOnATakenPort(t, l)

	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	out, errOut, code, err := l.Run(ctx, lab.Router, "nft", "add table inet e2edrop; "+
		"add chain inet e2edrop input { type filter hook input priority -10; policy accept; }; "+
		"add rule inet e2edrop input udp dport 5351 drop")
	if err != nil || code != 0 {
		t.Fatalf("nft drop 5351 on the router: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	mapOnce("UDP 5351 dropped", "upnp-igd2")
	exposeOrder(t, l, "UDP 5351 dropped")
}

// exposeOrder runs reach expose to its ready event and checks that its
// first steps come in the order CLI.md gives: the gateway, the mapping
// service, the server, the mapping.
func exposeOrder(t *testing.T, l *lab.Lab, when string) {
	t.Helper()
	exp := startExpose(t, l, lab.PC, append([]string{"--port", "1236", "--json"}, stunFlag...)...)
	var order []string
	exp.waitEventSeeing("ready", func(ev event) {
		if ev.str("event") == "step" && !slices.Contains(order, ev.str("step")) {
			order = append(order, ev.str("step"))
		}
	})
	want := []string{"gateway", "service", "serve", "map"}
	if len(order) < len(want) || !slices.Equal(order[:len(want)], want) {
		t.Errorf("%s: reach expose steps in the order %q, want them to begin %q\n%s", when, order, want, exp.output())
	}
	if code := exp.interrupt(); code != 0 {
		t.Errorf("%s: exit %d after SIGINT\n%s", when, code, exp.output())
	}
}

// exposeOnATakenPort runs reach expose on a port another program listens
// on: the server cannot start, and that step is told, after the service
// step, though the mapping it was waiting for never comes.
func exposeOnATakenPort(t *testing.T, l *lab.Lab) {
	t.Helper()
	srv := startReach(t, l, lab.PC, "serve", "--port", "1237")
	srv.waitOutput(regexp.MustCompile(`serving`))
	r := reach(t, l, lab.PC, "expose", "--port", "1237")
	steps := stepLines(r.stderr)
	want := []string{"ok gateway", "ok service", "fail serve"}
	ok := r.code != 0 && len(steps) >= len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = strings.HasPrefix(steps[i], want[i])
	}
	if !ok || !strings.Contains(r.stderr, "already in use") {
		t.Errorf("reach expose on a taken port: want a non-zero exit and the steps %q, the serve step saying the port is in use\n%s", want, r)
	}
}
