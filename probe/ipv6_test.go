package probe

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
)

func TestParseIPv6RoutesFixtures(t *testing.T) {
	for _, tc := range []struct{ file, iface, gw string }{
		// A container whose only IPv6 is a ULA with a default route via
		// fd00::1 (plus the kernel's reject route on lo).
		{"ipv6_route_container_ula.txt", "", "fd00::1"},
		// The lab's pc with Options.IPv6: 2001:db8:1::10/64, default via
		// the router's 2001:db8:1::1.
		{"ipv6_route_lab_pc.txt", "eth0", "2001:db8:1::1"},
	} {
		data, err := os.ReadFile("testdata/" + tc.file)
		if err != nil {
			t.Fatal(err)
		}
		routes, err := parseIPv6Routes(data)
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if want := strings.Count(strings.TrimSpace(string(data)), "\n") + 1; len(routes) != want {
			t.Errorf("%s: parsed %d routes, want %d", tc.file, len(routes), want)
		}
		gw, ifc := defaultIPv6Gateway(routes, tc.iface)
		if gw != netip.MustParseAddr(tc.gw) || ifc != "eth0" {
			t.Errorf("%s: gateway %v on %q, want %s on eth0", tc.file, gw, ifc, tc.gw)
		}
	}
}

// routeLine builds a /proc/net/ipv6_route line.
func routeLine(dest string, plen int, hop string, metric, flags uint32, ifc string) string {
	hexOf := func(s string) string { a := netip.MustParseAddr(s).As16(); return hex.EncodeToString(a[:]) }
	return fmt.Sprintf("%s %02x %s 00 %s %08x 00000001 00000000 %08x %8s", hexOf(dest), plen, hexOf("::"), hexOf(hop), metric, flags, ifc)
}

func TestDefaultIPv6Gateway(t *testing.T) {
	const up, gw, reject = rtfUp, rtfGateway, rtfReject
	lanRoute := routeLine("2001:db8:1::", 64, "::", 256, up, "eth0")
	loReject := routeLine("::", 0, "::", 0xffffffff, up|reject, "lo")
	for _, tc := range []struct {
		name   string
		lines  []string
		iface  string
		want   string
		wantIf string
	}{
		{"none: only the kernel's reject route", []string{lanRoute, loReject}, "", "", ""},
		{"a global gateway", []string{lanRoute, routeLine("::", 0, "2001:db8:1::1", 1024, up|gw, "eth0"), loReject}, "eth0", "2001:db8:1::1", "eth0"},
		{"a link-local gateway from router advertisements gets its zone",
			[]string{routeLine("::", 0, "fe80::1", 1024, up|gw|0x40000|0x400000, "wlan0")}, "", "fe80::1%wlan0", "wlan0"},
		{"the lower metric wins", []string{
			routeLine("::", 0, "fe80::2", 1024, up|gw, "eth1"),
			routeLine("::", 0, "fe80::1", 100, up|gw, "eth0")}, "", "fe80::1%eth0", "eth0"},
		{"the source address's interface wins over a lower metric elsewhere", []string{
			routeLine("::", 0, "fe80::1", 100, up|gw, "tun0"),
			routeLine("::", 0, "fe80::2", 1024, up|gw, "eth1")}, "eth1", "fe80::2%eth1", "eth1"},
		{"a route that is down is no default", []string{routeLine("::", 0, "fe80::1", 100, gw, "eth0")}, "", "", ""},
		{"a /3 is no default route", []string{routeLine("2000::", 3, "fe80::1", 100, up|gw, "eth0")}, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			routes, err := parseIPv6Routes([]byte(strings.Join(tc.lines, "\n") + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			got, ifc := defaultIPv6Gateway(routes, tc.iface)
			want := netip.Addr{}
			if tc.want != "" {
				want = netip.MustParseAddr(tc.want)
			}
			if got != want || ifc != tc.wantIf {
				t.Errorf("got %v on %q, want %v on %q", got, ifc, want, tc.wantIf)
			}
		})
	}
}

func TestParseIPv6RoutesMalformed(t *testing.T) {
	good := routeLine("::", 0, "fe80::1", 100, rtfUp|rtfGateway, "eth0")
	for _, line := range []string{
		"00000000000000000000000000000000 00 eth0",
		strings.Replace(good, "00000000000000000000000000000000", "zz000000000000000000000000000000", 1),
		strings.Replace(good, " 00 ", " 81 ", 1),
	} {
		if _, err := parseIPv6Routes([]byte(good + "\n" + line + "\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%q: error %v, want one naming line 2", line, err)
		}
	}
}

func TestIsGlobalIPv6(t *testing.T) {
	for a, want := range map[string]bool{
		"2001:db8:1::10": true, "2a01:4f8::1": true,
		"fe80::1": false, "fd00::5": false, "::1": false, "ff02::1": false, "::ffff:11.0.0.2": false, "11.0.0.2": false,
	} {
		if got := IsGlobalIPv6(netip.MustParseAddr(a)); got != want {
			t.Errorf("IsGlobalIPv6(%s) = %v, want %v", a, got, want)
		}
	}
}

func TestIPv6SourceLoopback(t *testing.T) {
	// ::1 is routed on every host with IPv6: the source toward it is ::1.
	a, err := ipv6Source(context.Background(), netip.MustParseAddrPort("[::1]:53"))
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	if a != netip.IPv6Loopback() || IsGlobalIPv6(a) {
		t.Errorf("source %v, want ::1 (not global)", a)
	}
	if _, err := ipv6Source(context.Background(), netip.MustParseAddrPort("[::ffff:127.0.0.1]:53")); !errors.Is(err, ErrNoIPv6Route) {
		t.Errorf("an IPv4 route: %v, want ErrNoIPv6Route", err)
	}
}
