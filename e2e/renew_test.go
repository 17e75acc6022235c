package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/reach-net/reach/lab"
)

// A router that reboots forgets its mappings (and may come back on another
// HTTP port): expose notices at the next renewal, finds the router again
// and re-creates the mapping, so the server stays reachable.
func TestExposeRecreatesMappingAfterRouterReboot(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{UPnP: true})
	exp := startExpose(t, l, lab.PC, exposeArgs("--lease", "2s")...)
	exp.waitEvent("ready")
	if renew := exp.waitEvent("renew"); renew["ok"] != true {
		t.Fatalf("renewal before the reboot failed: %v", renew)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.RestartRouter(ctx, false); err != nil {
		t.Fatal(err)
	}
	if routerForwards(t, l, 1234) {
		t.Fatal("the rebooted router still forwards 1234: the test would prove nothing")
	}
	// Renewals come every second; a failed one retries after 30 s, so the
	// one after the reboot must succeed by itself.
	var renew event
	for i := 0; i < 5; i++ {
		renew = exp.waitEvent("renew")
		if renew["ok"] == true && routerForwards(t, l, 1234) {
			break
		}
	}
	if renew["ok"] != true || !routerForwards(t, l, 1234) {
		t.Fatalf("mapping not back after the router rebooted; last renew event: %v", renew)
	}
	chk := reach(t, l, lab.Inet, "check", "11.0.0.2:1234")
	if chk.code != 0 || !strings.Contains(chk.stdout, "verified") {
		t.Errorf("check from the internet after the reboot:\n%s", chk)
	}
	if code := exp.interrupt(); code != 0 {
		t.Errorf("expose exit code after SIGINT = %d, want 0", code)
	}
	if routerForwards(t, l, 1234) {
		t.Error("mapping left on the router after expose stopped")
	}
}

// diagnose on a plain home router, and on one without any mapping
// service: the JSON report a support ticket would carry.
func TestDiagnoseReport(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		opts     lab.Options
		nat      string
		services int
	}{
		{"public", lab.Options{UPnP: true, NATPMP: true}, "public", 3},
		{"no-service", lab.Options{NoService: true}, "no-mapping-service", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t, tc.opts)
			diag := reach(t, l, lab.PC, append([]string{"diagnose", "--json"}, stunFlag...)...)
			var rep struct {
				LocalIP  string `json:"local_ip"`
				Gateway  string
				Services []struct {
					Method     string
					ExternalIP string `json:"external_ip"`
				}
				PublicIP string `json:"public_ip"`
				NAT      string
				Advice   []string
				Hops     []struct{ Addr string }
			}
			decodeJSON(t, diag, &rep)
			if diag.code != 0 || rep.NAT != tc.nat {
				t.Fatalf("want exit 0 and nat %s\n%s", tc.nat, diag)
			}
			if rep.LocalIP != lab.PCAddr || rep.Gateway != lab.RouterLAN || rep.PublicIP != "11.0.0.2" {
				t.Errorf("local %s gateway %s public %s, want %s, %s, 11.0.0.2", rep.LocalIP, rep.Gateway, rep.PublicIP, lab.PCAddr, lab.RouterLAN)
			}
			if len(rep.Services) != tc.services {
				t.Errorf("%d services listed, want %d: %+v", len(rep.Services), tc.services, rep.Services)
			}
			for _, s := range rep.Services {
				if s.ExternalIP != "11.0.0.2" {
					t.Errorf("%s reports external %q, want 11.0.0.2", s.Method, s.ExternalIP)
				}
			}
			if len(rep.Hops) == 0 || rep.Hops[0].Addr != lab.RouterLAN {
				t.Errorf("first hop %+v, want the router %s", rep.Hops, lab.RouterLAN)
			}
			if tc.nat == "no-mapping-service" && (len(rep.Advice) == 0 || !strings.Contains(strings.Join(rep.Advice, " "), "by hand")) {
				t.Errorf("no advice to forward by hand: %q", rep.Advice)
			}
		})
	}
}
