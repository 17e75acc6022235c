package e2e

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/reach-net/reach/lab"
)

// The setups of a new user's first run, each with the verdict, causes,
// advice and exit code a user reads (CLI.md "Truth rules").

// words fails t when text lacks one of want or holds one of never.
func words(t *testing.T, what, text string, want, never []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
	for _, n := range never {
		if strings.Contains(strings.ToLower(text), strings.ToLower(n)) {
			t.Errorf("%s says %q, which the evidence contradicts:\n%s", what, n, text)
		}
	}
}

func (e event) list(k string) string {
	items, _ := e[k].([]any)
	var out []string
	for _, it := range items {
		s, _ := it.(string)
		out = append(out, s)
	}
	return strings.Join(out, "\n")
}

// A cloud VM holds its public address itself: no NAT, nothing to map, no
// router advice. A reach check from outside that arrives while hosting is
// the proof, and expose says so.
func TestVerdictCloudVMWithPublicAddress(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{Topology: lab.PublicHost})
	exp := startExpose(t, l, lab.PC, exposeArgs()...)
	ready := exp.waitEvent("ready")
	if ready.str("nat") != "none" || ready.str("method") != "none" || ready["verified"] != false || ready.str("status") != "unverified" {
		t.Errorf("ready = %v, want nat none, method none, unverified", ready)
	}
	if want := l.PCAddr() + ":1234"; ready.str("target") != want {
		t.Errorf("ready target = %q, want %s", ready.str("target"), want)
	}
	words(t, "advice", ready.list("advice"), []string{"reach check " + l.PCAddr() + ":1234", "security group"},
		[]string{"UPnP", "router's page", "http://"})

	chk := reach(t, l, lab.Inet, "check", l.PCAddr()+":1234", "--json")
	if chk.code != 0 {
		t.Errorf("check from the internet: want exit 0\n%s", chk)
	}
	v := exp.waitEvent("verified")
	if v.str("verified_by") != "outside-probe" || !strings.HasPrefix(v.str("from"), lab.InetAddr+":") {
		t.Errorf("verified event = %v, want verified_by outside-probe from %s", v, lab.InetAddr)
	}
	if code := exp.interrupt(); code != 0 {
		t.Errorf("exit %d after SIGINT, want 0\n%s", code, exp.output())
	}
}

// The tutorial's own method: the port forwarded by hand on a router with
// UPnP off. reach cannot map, but it still probes the public address STUN
// saw, names both candidates, and an outside check proves it.
func TestVerdictPortForwardedByHand(t *testing.T) {
	t.Parallel()
	fwd := []lab.Forward{{Proto: "tcp", ExternalPort: 1234}}
	t.Run("no loopback", func(t *testing.T) {
		t.Parallel()
		l := newLab(t, lab.Options{NoService: true, Forwards: fwd})
		exp := startExpose(t, l, lab.PC, exposeArgs()...)
		ready := exp.waitEvent("ready")
		if ready.str("nat") != "no-mapping-service" || ready["verified"] != false || ready.str("public_ip") != "11.0.0.2" || ready.str("target") != "11.0.0.2:1234" {
			t.Errorf("ready = %v, want no-mapping-service, unverified, public_ip and target 11.0.0.2", ready)
		}
		words(t, "causes", ready.list("causes"), []string{"not forwarded", "forwarded by hand, but the router does not loop back"}, nil)
		words(t, "advice", ready.list("advice"), []string{"reach check 11.0.0.2:1234"}, nil)
		if chk := reach(t, l, lab.Inet, "check", "11.0.0.2:1234"); chk.code != 0 {
			t.Errorf("check from the internet through the manual forward: want exit 0\n%s", chk)
		}
		if v := exp.waitEvent("verified"); v.str("verified_by") != "outside-probe" || v.str("target") != "11.0.0.2:1234" {
			t.Errorf("verified event = %v", v)
		}
	})
	t.Run("loopback", func(t *testing.T) {
		t.Parallel()
		l := newLab(t, lab.Options{NoService: true, Loopback: true, Forwards: fwd})
		ready := startExpose(t, l, lab.PC, exposeArgs()...).waitEvent("ready")
		if ready["verified"] != true || ready.str("verified_by") != "loopback" || ready.str("target") != "11.0.0.2:1234" {
			t.Errorf("ready = %v, want verified by loopback through 11.0.0.2:1234", ready)
		}
	})
}

// Another LAN device holds the port: reach names it, offers a free port,
// and --external-port auto takes one. No "turn on UPnP": UPnP answered.
func TestVerdictPortHeldByAnotherDevice(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{UPnP: true})
	rctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	if out, errOut, code, err := l.Run(rctx, lab.Dev2, "upnpc", "-u", lab.RootDescURL, "-e", "game", "-a", lab.Dev2Addr, "1234", "1234", "TCP"); err != nil || code != 0 {
		t.Fatalf("dev2 maps 1234: %v exit %d\n%s%s", err, code, out, errOut)
	}
	exp := startExpose(t, l, lab.PC, exposeArgs()...)
	ready := exp.waitEvent("ready")
	if ready.str("method") != "none" || ready.str("status") != "unreachable" || ready.str("nat") != "public" {
		t.Errorf("ready = %v, want no mapping, unreachable, nat public", ready)
	}
	words(t, "causes", ready.list("causes"), []string{lab.Dev2Addr + ":1234"}, nil)
	words(t, "advice", ready.list("advice"), []string{"--external-port 1235", "--external-port auto"}, []string{"turn on UPnP", "enable UPnP"})
	exp.interrupt()

	auto := startExpose(t, l, lab.PC, exposeArgs("--external-port", "auto")...)
	ready = auto.waitEvent("ready")
	if ready.str("method") != "upnp-igd2" || ready.num("external_port") == 1234 || ready.num("external_port") == 0 {
		t.Errorf("--external-port auto: ready = %v, want a mapping on a free port", ready)
	}
	if list := upnpList(t, l, lab.PC); !listsMapping(list, 1234, lab.Dev2Addr+":1234") {
		t.Errorf("dev2's mapping was touched:\n%s", list)
	}
}

// --no-serve looks where the router forwards, not at 127.0.0.1: a program
// bound to 127.0.0.1 is named as the cause; with nothing listening expose
// says so, and says when the program comes up.
func TestVerdictNoServe(t *testing.T) {
	t.Parallel()
	t.Run("bound to 127.0.0.1", func(t *testing.T) {
		t.Parallel()
		l := newLab(t, lab.Options{UPnP: true, Loopback: true})
		srv := startReach(t, l, lab.PC, "serve", "--port", "1234", "--bind", "127.0.0.1")
		srv.waitOutput(regexp.MustCompile(`serving`))
		exp := startExpose(t, l, lab.PC, exposeArgs("--no-serve")...)
		ready := exp.waitEvent("ready")
		if ready["verified"] == true || ready.str("status") != "unreachable" || !strings.Contains(ready.str("detail"), "only on 127.0.0.1:1234") {
			t.Errorf("ready = %v, want unreachable: listens only on 127.0.0.1", ready)
		}
		words(t, "advice", ready.list("advice"), []string{"0.0.0.0"}, nil)
	})
	t.Run("nothing listens yet", func(t *testing.T) {
		t.Parallel()
		l := newLab(t, lab.Options{UPnP: true, Loopback: true})
		exp := startExpose(t, l, lab.PC, exposeArgs("--no-serve")...)
		ready := exp.waitEvent("ready")
		if ready["verified"] == true || !strings.Contains(ready.str("detail"), "nothing listens on port 1234 yet") {
			t.Errorf("ready = %v, want mapped, nothing listens yet", ready)
		}
		startReach(t, l, lab.PC, "serve", "--port", "1234")
		up := exp.waitEvent("listening")
		if up["verified"] != true || up.str("verified_by") != "loopback" {
			t.Errorf("listening event = %v, want verified by loopback once the program is up", up)
		}
	})
}

// Behind carrier-grade NAT with no STUN answer, the router answers NAT-PMP
// "no external address": the hop beyond it decides, and the advice never
// says to turn on UPnP or to forward by hand.
func TestVerdictCGNATWithoutSTUN(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{Topology: lab.CGNAT, NATPMP: true, NoSTUN: true})
	exp := startExpose(t, l, lab.PC, exposeArgs()...)
	ready := exp.waitEvent("ready")
	if ready.str("nat") != "cgnat" || ready.str("status") != "unreachable" || ready["verified"] == true {
		t.Errorf("ready = %v, want cgnat, unreachable", ready)
	}
	words(t, "advice", ready.list("advice"), []string{"public IPv4 address"}, []string{"UPnP", "by hand", "external-port"})
	if code := exp.interrupt(); code != 0 {
		t.Errorf("exit %d after SIGINT, want 0", code)
	}
	diag := reach(t, l, lab.PC, append([]string{"diagnose", "--json"}, stunFlag...)...)
	var rep struct {
		NAT    string   `json:"nat"`
		Advice []string `json:"advice"`
	}
	decodeJSON(t, diag, &rep)
	if rep.NAT != "cgnat" {
		t.Errorf("diagnose nat = %q, want cgnat\n%s", rep.NAT, diag)
	}
	words(t, "diagnose advice", strings.Join(rep.Advice, "\n"), nil, []string{"UPnP", "by hand"})
}

// Ctrl-C is not evidence: cut short, a command prints interrupted, no
// verdict, and exits 130.
func TestVerdictCtrlCIsNotEvidence(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{UPnP: true, NoSTUN: true})
	t.Run("expose while verifying", func(t *testing.T) {
		exp := startExpose(t, l, lab.PC, exposeArgs()...)
		exp.waitEvent("step") // the gateway; discovery, mapping and a 2 s verification follow
		if code := exp.interrupt(); code != 130 {
			t.Errorf("expose cut short: exit %d, want 130\n%s", code, exp.output())
		}
		out := exp.output()
		words(t, "expose output", out, []string{`"error":"interrupted"`, "reach: interrupted"}, []string{`"event":"ready"`, "reachable at"})
		if list := upnpList(t, l, lab.PC); listsMapping(list, 1234, lab.PCAddr+":1234") {
			t.Errorf("mapping left after Ctrl-C:\n%s", list)
		}
	})
	t.Run("diagnose", func(t *testing.T) {
		// No host answers at 11.0.0.99: STUN and the hop probes wait
		// their full time after the gateway step is printed.
		diag := startReach(t, l, lab.PC, "diagnose", "--stun", "11.0.0.99:3478")
		diag.waitOutput(regexp.MustCompile(`ok +gateway`))
		if code := diag.interrupt(); code != 130 {
			t.Errorf("diagnose cut short: exit %d, want 130\n%s", code, diag.output())
		}
		words(t, "diagnose output", diag.output(), []string{"reach: interrupted"}, []string{"nat:", "what to do"})
	})
}
