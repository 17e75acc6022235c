package e2e

import (
	"regexp"
	"strings"
	"testing"

	"github.com/reach-net/reach/lab"
)

// exposeArgs are the arguments of every JSON expose of port 1234.
func exposeArgs(extra ...string) []string {
	return append(append([]string{"--port", "1234", "--json"}, stunFlag...), extra...)
}

// checkReady asserts the fields of a ready event that every mapped expose
// of 1234 from pc shares.
func checkReady(t *testing.T, ready event, method string, verified bool) {
	t.Helper()
	want := map[string]any{
		"external_ip":   "11.0.0.2",
		"external_port": float64(1234),
		"internal_ip":   lab.PCAddr,
		"internal_port": float64(1234),
		"method":        method,
		"verified":      verified,
	}
	for k, v := range want {
		if ready[k] != v {
			t.Errorf("ready event %s = %v, want %v (event: %v)", k, ready[k], v, ready)
		}
	}
	if p := strings.ToLower(ready.str("protocol")); p != "tcp" {
		t.Errorf("ready event protocol = %q, want tcp", ready.str("protocol"))
	}
}

func TestExposePublicRouter(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{UPnP: true})
	exp := startExpose(t, l, lab.PC, exposeArgs()...)
	ready := exp.waitEvent("ready")
	// No loopback on this router: expose cannot prove it from inside and
	// must not claim it did.
	checkReady(t, ready, "upnp-igd2", false)
	if ready.str("nat") != "public" {
		t.Errorf("ready event nat = %q, want public", ready.str("nat"))
	}

	chk := reach(t, l, lab.Inet, "check", "11.0.0.2:1234", "--json")
	var verdict struct{ Verdict string }
	decodeJSON(t, chk, &verdict)
	if chk.code != 0 || verdict.Verdict != "verified" {
		t.Errorf("check from the internet: want exit 0, verdict verified\n%s", chk)
	}
	if list := upnpList(t, l, lab.PC); !listsMapping(list, 1234, lab.PCAddr+":1234") {
		t.Errorf("router does not list 1234 -> %s:1234 while expose runs:\n%s", lab.PCAddr, list)
	}

	if code := exp.interrupt(); code != 0 {
		t.Errorf("expose exit code after SIGINT = %d, want 0\n%s", code, exp.output())
	}
	exp.checkStdoutIsJSON()
	if list := upnpList(t, l, lab.PC); listsMapping(list, 1234, lab.PCAddr+":1234") {
		t.Errorf("router still lists 1234 -> %s:1234 after expose stopped:\n%s", lab.PCAddr, list)
	}
	if after := reach(t, l, lab.Inet, "check", "11.0.0.2:1234", "--json"); after.code != 1 {
		t.Errorf("check after expose stopped: want exit 1\n%s", after)
	}
}

func TestExposeLoopbackRouterVerifies(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{UPnP: true, Loopback: true})
	exp := startExpose(t, l, lab.PC, exposeArgs()...)
	checkReady(t, exp.waitEvent("ready"), "upnp-igd2", true)
}

func TestExposeIGDv1Router(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{UPnP: true, IGDv1: true})
	exp := startExpose(t, l, lab.PC, exposeArgs()...)
	checkReady(t, exp.waitEvent("ready"), "upnp-igd1", false)
	if list := upnpList(t, l, lab.PC); !listsMapping(list, 1234, lab.PCAddr+":1234") {
		t.Errorf("IGDv1 router does not list 1234 -> %s:1234:\n%s", lab.PCAddr, list)
	}
}

func TestExposeBehindSecondNAT(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		topo lab.Topology
		nat  string
	}{
		{lab.DoubleNAT, "double-nat"},
		{lab.CGNAT, "cgnat"},
	} {
		t.Run(tc.nat, func(t *testing.T) {
			t.Parallel()
			l := newLab(t, lab.Options{Topology: tc.topo, UPnP: true, NATPMP: true})

			exp := startExpose(t, l, lab.PC, exposeArgs()...)
			ready := exp.waitEvent("ready")
			if ready.str("nat") != tc.nat {
				t.Errorf("ready event nat = %q, want %q (event: %v)", ready.str("nat"), tc.nat, ready)
			}
			if ready["verified"] == true {
				t.Errorf("ready event claims verified behind %s: %v", tc.nat, ready)
			}
			// The router refused to map, but the server is hosted for the LAN.
			send := reach(t, l, lab.Dev2, "send", lab.PCAddr+":1234", "hi")
			if send.code != 0 || strings.TrimSpace(send.stdout) != "hi" {
				t.Errorf("send from dev2 to the hosted server: want exit 0 and the echo \"hi\"\n%s", send)
			}

			diag := reach(t, l, lab.PC, append([]string{"diagnose", "--json"}, stunFlag...)...)
			var report struct {
				NAT      string   `json:"nat"`
				Advice   []string `json:"advice"`
				PublicIP string   `json:"public_ip"`
			}
			decodeJSON(t, diag, &report)
			if report.NAT != tc.nat {
				t.Errorf("diagnose nat = %q, want %q\n%s", report.NAT, tc.nat, diag)
			}
			if len(report.Advice) == 0 || strings.TrimSpace(strings.Join(report.Advice, "")) == "" {
				t.Errorf("diagnose gives no advice for %s\n%s", tc.nat, diag)
			}
			if report.PublicIP != l.PublicIP() {
				t.Errorf("diagnose public_ip = %q, want %s (STUN)\n%s", report.PublicIP, l.PublicIP(), diag)
			}

			strict := startExpose(t, l, lab.PC, append([]string{"--port", "1235", "--json", "--require-mapping"}, stunFlag...)...)
			if code := strict.wait(); code != 1 {
				t.Errorf("expose --require-mapping behind %s: exit %d, want 1\n%s", tc.nat, code, strict.output())
			}
			if code := exp.interrupt(); code != 0 {
				t.Errorf("expose exit code after SIGINT = %d, want 0 (no mapping to delete)\n%s", code, exp.output())
			}
		})
	}
}

func TestExposeWithoutMappingService(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{NoService: true})

	js := startExpose(t, l, lab.PC, exposeArgs()...)
	ready := js.waitEvent("ready")
	if ready.str("method") != "none" || ready["verified"] == true {
		t.Errorf("ready event without a mapping service: method %q verified %v, want none, false (event: %v)",
			ready.str("method"), ready["verified"], ready)
	}
	if code := js.interrupt(); code != 0 {
		t.Errorf("expose exit code after SIGINT = %d, want 0", code)
	}

	// A human gets the forwarding to set up by hand: the port, the router,
	// this host.
	human := startExpose(t, l, lab.PC, append([]string{"--port", "1234"}, stunFlag...)...)
	human.waitOutput(regexp.MustCompile(`add: external port 1234 TCP -> 192\.168\.1\.10 port 1234\b`))

	chk := reach(t, l, lab.Inet, "check", "11.0.0.2:1234", "--json")
	var verdict struct{ Verdict string }
	decodeJSON(t, chk, &verdict)
	if chk.code != 1 || (verdict.Verdict != "refused" && verdict.Verdict != "timeout") {
		t.Errorf("check from the internet without a forward: want exit 1, verdict refused or timeout\n%s", chk)
	}
}
