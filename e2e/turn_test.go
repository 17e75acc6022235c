package e2e

import (
	"regexp"
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

// reach check --proto udp: verified against the UDP echo, refused where
// the host (or the router, for a port it does not forward) says the port
// is closed; and check --via runs the check from the relay, so a
// user inside the LAN gets an outside verdict.
func TestCheckUDPAndVia(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{UPnP: true})
	srv := startReach(t, l, lab.PC, "serve", "--port", "1300", "--proto", "udp")
	srv.waitOutput(regexp.MustCompile(`serving`))
	for _, tc := range []struct {
		host, target, verdict string
		code                  int
	}{
		{lab.Dev2, lab.PCAddr + ":1300", "verified", 0},
		{lab.Dev2, lab.PCAddr + ":1301", "refused", 1},
		{lab.Inet, "11.0.0.2:1300", "refused", 1}, // not forwarded: the router itself says closed
	} {
		r := reach(t, l, tc.host, "check", "--proto", "udp", tc.target, "--json")
		var v struct{ Verdict string }
		decodeJSON(t, r, &v)
		if v.Verdict != tc.verdict || r.code != tc.code {
			t.Errorf("check --proto udp %s from %s: verdict %q exit %d, want %s, %d\n%s", tc.target, tc.host, v.Verdict, r.code, tc.verdict, tc.code, r)
		}
	}

	exp := startExpose(t, l, lab.PC, exposeArgs()...)
	exp.waitEvent("ready")
	via := reach(t, l, lab.PC, "check", "--via", lab.TURNServer, "11.0.0.2:1234", "--json")
	var v struct{ Verdict, Detail string }
	decodeJSON(t, via, &v)
	if via.code != 0 || v.Verdict != "verified" || !strings.Contains(v.Detail, "TURN relay") {
		t.Errorf("check --via from inside the LAN: want verified from the relay\n%s", via)
	}
}

// diagnose --via probes each port the router forwards to this host from
// the TURN relay.
func TestDiagnoseProbesMappedPortsFromOutside(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{UPnP: true})
	exp := startExpose(t, l, lab.PC, append([]string{"--port", "1250", "--json"}, stunFlag...)...)
	exp.waitEvent("ready")
	diag := reach(t, l, lab.PC, append([]string{"diagnose", "--json", "--via", lab.TURNServer}, stunFlag...)...)
	var rep struct {
		Outside []struct{ Target, Protocol, Verdict string }
	}
	decodeJSON(t, diag, &rep)
	if len(rep.Outside) != 1 || rep.Outside[0].Target != "11.0.0.2:1250" || rep.Outside[0].Verdict != "verified" {
		t.Errorf("outside = %+v, want 11.0.0.2:1250 verified\n%s", rep.Outside, diag)
	}
}
