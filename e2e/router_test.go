package e2e

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/reach-net/reach/lab"
)

func TestForeignMappingIsNotOurs(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{UPnP: true})
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	out, errOut, code, err := l.Run(ctx, lab.Dev2, "upnpc", "-u", lab.RootDescURL, "-a", lab.Dev2Addr, "5555", "5555", "TCP")
	if err != nil || code != 0 {
		t.Fatalf("upnpc -a from dev2: exit %d, %v\n%s%s", code, err, out, errOut)
	}

	list := reach(t, l, lab.PC, "mappings", "--json")
	var got struct {
		Mappings []struct {
			ExternalPort int    `json:"external_port"`
			Protocol     string `json:"protocol"`
			InternalIP   string `json:"internal_ip"`
			InternalPort int    `json:"internal_port"`
			Ours         bool   `json:"ours"`
		} `json:"mappings"`
	}
	decodeJSON(t, list, &got)
	found := false
	for _, m := range got.Mappings {
		if m.ExternalPort == 5555 && strings.EqualFold(m.Protocol, "tcp") {
			found = true
			if m.InternalIP != lab.Dev2Addr || m.InternalPort != 5555 || m.Ours {
				t.Errorf("mappings lists 5555/tcp as %+v, want to %s:5555 and not ours", m, lab.Dev2Addr)
			}
		}
	}
	if list.code != 0 || !found {
		t.Errorf("reach mappings on pc: want exit 0 and dev2's 5555/tcp listed\n%s", list)
	}

	unmap := reach(t, l, lab.PC, "unmap", "--port", "5555")
	if unmap.code == 0 {
		t.Errorf("reach unmap of dev2's mapping from pc succeeded; it must refuse\n%s", unmap)
	}
	if after := upnpList(t, l, lab.PC); !listsMapping(after, 5555, lab.Dev2Addr+":5555") {
		t.Errorf("dev2's mapping 5555 -> %s:5555 is gone after reach unmap on pc:\n%s", lab.Dev2Addr, after)
	}
}

func TestTutorialClientThroughMapping(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{UPnP: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	serve := reachCmd(ctx, t, l, lab.PC, "serve", "--port", "1234")
	var serveOut strings.Builder
	serve.Stdout = lockedWriter{new(sync.Mutex), &serveOut}
	serve.Stderr = serve.Stdout
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = serve.Wait()
		if t.Failed() {
			t.Logf("reach serve output:\n%s", serveOut.String())
		}
	})
	// The server is up once pc's own client gets an echo.
	if up := reach(t, l, lab.PC, "send", "--retry", "--timeout", "15s", "127.0.0.1:1234", "up?"); up.code != 0 {
		t.Fatalf("reach serve did not answer on pc\n%s", up)
	}

	mapped := reach(t, l, lab.PC, "map", "--port", "1234")
	if mapped.code != 0 || !strings.Contains(mapped.stdout+mapped.stderr, "11.0.0.2:1234") {
		t.Fatalf("reach map --port 1234: want exit 0 and 11.0.0.2:1234 printed\n%s", mapped)
	}
	send := reach(t, l, lab.Inet, "send", "11.0.0.2:1234", "hola")
	if send.code != 0 || strings.TrimSpace(send.stdout) != "hola" {
		t.Errorf("send from the internet through the mapping: want exit 0 and the echo \"hola\"\n%s", send)
	}
}

func TestNATPMPOnlyRouter(t *testing.T) {
	t.Parallel()
	l := newLab(t, lab.Options{NATPMP: true})
	mapped := reach(t, l, lab.PC, "map", "--port", "1234", "--json")
	var m struct {
		Method       string `json:"method"`
		ExternalIP   string `json:"external_ip"`
		ExternalPort int    `json:"external_port"`
	}
	decodeJSON(t, mapped, &m)
	if mapped.code != 0 || (m.Method != "pcp" && m.Method != "nat-pmp") || m.ExternalIP != "11.0.0.2" || m.ExternalPort == 0 {
		t.Errorf("reach map on a NAT-PMP/PCP router: want exit 0, method pcp or nat-pmp, external 11.0.0.2\n%s", mapped)
	}

	diag := reach(t, l, lab.PC, append([]string{"diagnose", "--json"}, stunFlag...)...)
	var report struct {
		Services []struct {
			Method     string `json:"method"`
			ExternalIP string `json:"external_ip"`
		} `json:"services"`
		NAT string `json:"nat"`
	}
	decodeJSON(t, diag, &report)
	var methods []string
	for _, s := range report.Services {
		methods = append(methods, s.Method)
		if (s.Method == "pcp" || s.Method == "nat-pmp") && s.ExternalIP != "11.0.0.2" {
			t.Errorf("diagnose: %s reports external address %q, want 11.0.0.2", s.Method, s.ExternalIP)
		}
	}
	joined := " " + strings.Join(methods, " ") + " "
	if !strings.Contains(joined, " pcp ") && !strings.Contains(joined, " nat-pmp ") {
		t.Errorf("diagnose lists services %v, want pcp or nat-pmp\n%s", methods, diag)
	}
	if strings.Contains(joined, " upnp-") {
		t.Errorf("diagnose lists a UPnP service on a router with UPnP off: %v", methods)
	}
	if report.NAT != "public" {
		t.Errorf("diagnose nat = %q, want public\n%s", report.NAT, diag)
	}
}

// routerForwards reports whether the lab router's ruleset forwards TCP port
// to pc (miniupnpd's DNAT rule), whichever protocol made the mapping.
func routerForwards(t *testing.T, l *lab.Lab, port int) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	out, errOut, code, err := l.Run(ctx, lab.Router, "nft", "list", "chain", "inet", "filter", "prerouting_miniupnpd")
	if err != nil || code != 0 {
		t.Fatalf("nft list chain in router: exit %d, %v: %s", code, err, errOut)
	}
	return strings.Contains(out, "dport "+strconv.Itoa(port)+" dnat ip to "+lab.PCAddr+":")
}

func TestMapThenUnmap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts lab.Options
	}{
		{"upnp", lab.Options{UPnP: true}},
		{"natpmp-pcp", lab.Options{NATPMP: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t, tc.opts)
			if mapped := reach(t, l, lab.PC, "map", "--port", "1234"); mapped.code != 0 {
				t.Fatalf("reach map --port 1234 failed\n%s", mapped)
			}
			if !routerForwards(t, l, 1234) {
				t.Fatalf("router does not forward 1234 after reach map")
			}
			// map's own advice: "remove it with: reach unmap --port 1234".
			if unmap := reach(t, l, lab.PC, "unmap", "--port", "1234"); unmap.code != 0 {
				t.Errorf("reach unmap --port 1234 after reach map: want exit 0\n%s", unmap)
			}
			if routerForwards(t, l, 1234) {
				t.Errorf("router still forwards 1234 after reach unmap")
			}
		})
	}
}
