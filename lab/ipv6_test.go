package lab

import (
	"regexp"
	"strings"
	"testing"
)

// rootDescURL6 is miniupnpd's description at the router's IPv6 address.
const rootDescURL6 = "http://[" + RouterLAN6 + "]:5000/rootDesc.xml"

// pcAddrPort6 is the pc's helper server as the internet dials it.
const pcAddrPort6 = "[" + PCAddr6 + "]:1234"

// requireTimeout fails t unless a dial to addr from host timed out: the
// router dropped the SYN (a refusal would mean it got through).
func requireTimeout(t *testing.T, l *Lab, host, addr, when string) {
	t.Helper()
	g, err := dialFrom(t, l, host, addr)
	if err == nil {
		t.Fatalf("%s: %s answered from %s: %q, want the router to drop it", when, addr, host, g)
	}
	if !strings.Contains(err.Error(), "i/o timeout") {
		t.Fatalf("%s: dial %s from %s: %v, want a timeout (dropped)", when, addr, host, err)
	}
}

// TestIPv6PinholeWithUpnpc opens and deletes a pinhole with miniupnpc,
// as a user would: the variant is a firewall, not a NAT, for IPv6.
func TestIPv6PinholeWithUpnpc(t *testing.T) {
	t.Parallel()
	for _, top := range []Topology{Public, CGNAT} {
		t.Run(top.String(), func(t *testing.T) {
			t.Parallel()
			l := New(t, Options{Topology: top, UPnP: true, NATPMP: true, IPv6: true})
			serveIn(t, l, PC, ":1234")

			// Out is open: the pc reaches the internet host's IPv6
			// address; IPv4 still goes through the NAT.
			serveIn(t, l, Inet, ":2345")
			g, err := dialFrom(t, l, PC, "["+InetAddr6+"]:2345")
			if err != nil || !strings.HasPrefix(g, "hello ["+PCAddr6+"]:") {
				t.Fatalf("pc to the internet over IPv6: %q %v, want it seen as %s (no NAT66)", g, err, PCAddr6)
			}
			if got := stunFrom(t, l, PC); got != l.PublicIP() {
				t.Errorf("STUN from pc saw %s, want %s: IPv4 NAT unchanged", got, l.PublicIP())
			}

			requireTimeout(t, l, Inet, pcAddrPort6, "before any pinhole")
			out := runOK(t, l, PC, "upnpc", "-6", "-u", rootDescURL6, "-A", "", "0", PCAddr6, "1234", "TCP", "600")
			m := regexp.MustCompile(`Pinhole ID = (\d+)`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("upnpc AddPinhole: no UniqueID in:\n%s", out)
			}
			g, err = dialFrom(t, l, Inet, pcAddrPort6)
			if err != nil || !strings.HasPrefix(g, "hello ["+InetAddr6+"]:") {
				t.Fatalf("after the pinhole: %q %v, want the pc to greet the internet host %s", g, err, InetAddr6)
			}
			// Only the port asked: another port on the pc stays closed.
			serveIn(t, l, PC, ":1235")
			requireTimeout(t, l, Inet, "["+PCAddr6+"]:1235", "another port with the pinhole open")
			runOK(t, l, PC, "upnpc", "-6", "-u", rootDescURL6, "-D", m[1])
			requireTimeout(t, l, Inet, pcAddrPort6, "after DeletePinhole")
		})
	}
}
