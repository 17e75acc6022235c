package lab

import (
	"context"
	"strings"
	"testing"
)

func TestPublicHostIsReachedDirectly(t *testing.T) {
	t.Parallel()
	l := New(t, Options{Topology: PublicHost})
	pc := l.PCAddr()
	if pc == PCAddr || l.PublicIP() != pc {
		t.Fatalf("PCAddr() = %s, PublicIP() = %s; want one public address for both", pc, l.PublicIP())
	}
	if !l.Options().NoService {
		t.Errorf("Options() of a PublicHost lab = %+v, want NoService set", l.Options())
	}
	// The address is on the PC's own interface, the gateway its default
	// route.
	if addrs := runOK(t, l, PC, "ip", "-o", "-4", "addr", "show", "dev", "eth0"); !strings.Contains(addrs, " "+pc+"/24 ") {
		t.Errorf("pc's eth0 does not hold %s/24:\n%s", pc, addrs)
	}
	if route := runOK(t, l, PC, "ip", "route", "show", "default"); !strings.Contains(route, "via "+l.Gateway()+" ") {
		t.Errorf("pc's default route is not via the gateway %s: %s", l.Gateway(), route)
	}

	serveIn(t, l, PC, ":1234")
	g, err := dialFrom(t, l, Inet, pc+":1234")
	if err != nil {
		t.Fatalf("server on pc not reachable from the internet at %s:1234: %v", pc, err)
	}
	if !strings.HasPrefix(g, "hello "+InetAddr+":") {
		t.Errorf("greeting from pc = %q, want it to see the internet host %s (no NAT)", g, InetAddr)
	}
	if got, err := runHelper(t, l, PC, "stun", STUNServer); err != nil || got != pc {
		t.Errorf("STUN from pc saw %q (%v), want its own address %s", got, err, pc)
	}
	hops, err := runHelper(t, l, PC, "hops", STUNServer)
	if err != nil {
		t.Fatalf("hop probe from pc: %v", err)
	}
	if got, want := strings.Join(strings.Fields(hops), " "), l.Gateway()+" "+InetAddr; got != want {
		t.Errorf("hops from pc toward %s = %q, want %q", STUNServer, got, want)
	}

	// The gateway runs no mapping service.
	if got, err := runHelper(t, l, PC, "ssdp", "ssdp:all"); err != nil || got != "" {
		t.Errorf("SSDP M-SEARCH from pc: answers from %q (%v), want none", got, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, errOut, code, err := l.Run(ctx, PC, "natpmpc", "-g", l.Gateway())
	if err != nil {
		t.Fatal(err)
	}
	if code == 0 || strings.Contains(out, "Public IP address") {
		t.Errorf("gateway %s answered NAT-PMP (exit %d):\n%s%s", l.Gateway(), code, out, errOut)
	}
	// The internet still has no default route out of the lab.
	if r := runOK(t, l, Inet, "ip", "route", "show", "default"); strings.TrimSpace(r) != "" {
		t.Errorf("internet host has a default route: %s", r)
	}
}

// manualForwards are what a user types into a router's settings page: the
// PC's port 1234 as itself and as 8080, and a UDP port for dev2.
var manualForwards = []Forward{
	{Proto: "tcp", ExternalPort: 1234},
	{Proto: "tcp", ExternalPort: 8080, InternalIP: PCAddr, InternalPort: 1234},
	{Proto: "udp", ExternalPort: 1234, InternalIP: Dev2Addr},
}

func TestManualForwardWithoutUPnP(t *testing.T) {
	t.Parallel()
	l := New(t, Options{NoService: true, Forwards: manualForwards})
	serveIn(t, l, PC, ":1234")
	wan := l.RouterWAN()
	for _, port := range []string{"1234", "8080"} {
		g, err := dialFrom(t, l, Inet, wan+":"+port)
		if err != nil {
			t.Errorf("manual forward of %s:%s does not reach pc from the internet: %v", wan, port, err)
			continue
		}
		if !strings.HasPrefix(g, "hello "+InetAddr+":") {
			t.Errorf("greeting via %s:%s = %q, want pc to see the internet host %s", wan, port, g, InetAddr)
		}
	}
	if g, err := dialFrom(t, l, Inet, wan+":1235"); err == nil {
		t.Errorf("unforwarded %s:1235 answered from the internet: %q", wan, g)
	}
	// No loopback: from the LAN the WAN address does not lead back in.
	for _, host := range []string{PC, Dev2} {
		if g, err := dialFrom(t, l, host, wan+":1234"); err == nil {
			t.Errorf("router without loopback hairpinned %s to pc: %q", host, g)
		}
	}
	// Nothing maps ports on this router.
	if _, err := runHelper(t, l, PC, "get", RootDescURL); err == nil {
		t.Errorf("router with UPnP off serves %s", RootDescURL)
	}
}

func TestManualForwardWithLoopback(t *testing.T) {
	t.Parallel()
	l := New(t, Options{NoService: true, Loopback: true, Forwards: manualForwards})
	serveIn(t, l, PC, ":1234")
	wan := l.RouterWAN()
	for _, host := range []string{PC, Dev2, Inet} {
		for _, port := range []string{"1234", "8080"} {
			if _, err := dialFrom(t, l, host, wan+":"+port); err != nil {
				t.Errorf("%s cannot reach pc's server at %s:%s through a loopback router's manual forward: %v", host, wan, port, err)
			}
		}
	}
	if g, err := dialFrom(t, l, PC, wan+":1235"); err == nil {
		t.Errorf("unforwarded %s:1235 answered from pc: %q", wan, g)
	}
}

func TestManualForwardOutlastsReboot(t *testing.T) {
	t.Parallel()
	l := New(t, Options{UPnP: true, Forwards: manualForwards[:1]})
	serveIn(t, l, PC, ":1234")
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := l.RestartRouter(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := dialFrom(t, l, Inet, l.RouterWAN()+":1234"); err != nil {
		t.Errorf("manual forward lost when the router rebooted: %v", err)
	}
}

func TestNoSTUN(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts Options
		hops string // who answers TTL 1, 2, 3 toward the silent STUN server
	}{
		{"cgnat", Options{Topology: CGNAT, NATPMP: true, NoSTUN: true}, "192.168.1.1 100.64.0.1 11.0.0.1"},
		{"public-host", Options{Topology: PublicHost, NoSTUN: true}, "11.0.1.1 11.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := New(t, tc.opts)
			if got, err := runHelper(t, l, PC, "stun", STUNServer); err != nil || got != stunNoAnswer {
				t.Errorf("STUN from pc to %s: %q (%v), want %q", STUNServer, got, err, stunNoAnswer)
			}
			hops, err := runHelper(t, l, PC, "hops", STUNServer)
			if err != nil {
				t.Fatalf("hop probe from pc: %v", err)
			}
			if got := strings.Join(strings.Fields(hops), " "); got != tc.hops {
				t.Errorf("hops from pc toward %s = %q, want %q", STUNServer, got, tc.hops)
			}
			if tc.opts.NATPMP {
				// The router still answers NAT-PMP, with a network failure
				// behind the carrier's NAT.
				ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
				defer cancel()
				out, errOut, _, err := l.Run(ctx, PC, "natpmpc", "-g", l.Gateway())
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(out+errOut, "network failure") {
					t.Errorf("router behind CGNAT did not answer NAT-PMP with a network failure (result 3):\n%s%s", out, errOut)
				}
			}
		})
	}
}
