package lab

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// cmdTimeout bounds one upnpc/natpmpc/stun client run in a lab: each is a
// few packets inside this machine; natpmpc retries for a few seconds when
// nothing answers.
const cmdTimeout = 15 * time.Second

// runOK runs a command in host and fails the test unless it exits 0.
func runOK(t *testing.T, l *Lab, host, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, errOut, code, err := l.Run(ctx, host, name, args...)
	if err != nil || code != 0 {
		t.Fatalf("%s %s in %s: exit %d, %v\nstdout: %s\nstderr: %s", name, strings.Join(args, " "), host, code, err, out, errOut)
	}
	return out
}

// stunFrom returns the public address coturn saw host's STUN request from.
func stunFrom(t *testing.T, l *Lab, host string) string {
	t.Helper()
	out := runOK(t, l, host, "turnutils_stunclient", InetAddr)
	m := regexp.MustCompile(`reflexive addr: ([0-9.]+):\d+`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("turnutils_stunclient from %s: no reflexive address in %q", host, out)
	}
	return m[1]
}

func TestPublicRouterMapsWithUPnP(t *testing.T) {
	t.Parallel()
	l := New(t, Options{UPnP: true})
	serveIn(t, l, PC, ":1234")

	if got, err := runHelper(t, l, PC, "ssdp", "ssdp:all"); err != nil || got != RouterLAN {
		t.Errorf("SSDP M-SEARCH from pc: answers from %q (%v), want the router %s", got, err, RouterLAN)
	}
	if g, err := dialFrom(t, l, Inet, "11.0.0.2:1234"); err == nil {
		t.Fatalf("11.0.0.2:1234 answered from the internet before any mapping: %q", g)
	}
	runOK(t, l, PC, "upnpc", "-u", RootDescURL, "-a", PCAddr, "1234", "1234", "TCP")
	list := runOK(t, l, PC, "upnpc", "-u", RootDescURL, "-l")
	if !strings.Contains(list, "ExternalIPAddress = 11.0.0.2") {
		t.Errorf("upnpc -l does not show external address 11.0.0.2:\n%s", list)
	}
	if !regexp.MustCompile(`TCP\s+1234->192\.168\.1\.10:1234`).MatchString(list) {
		t.Errorf("upnpc -l does not list 1234 -> 192.168.1.10:1234:\n%s", list)
	}
	g, err := dialFrom(t, l, Inet, "11.0.0.2:1234")
	if err != nil {
		t.Fatalf("server in pc not reachable from the internet at 11.0.0.2:1234 after mapping: %v", err)
	}
	// The internet host's own address arrives at pc: the router forwards
	// the connection and does not rewrite its source.
	if !strings.HasPrefix(g, "hello "+InetAddr+":") {
		t.Errorf("greeting from pc = %q, want it to see the internet host %s", g, InetAddr)
	}
	// No loopback: the router's WAN address is not reachable from the LAN.
	if g, err := dialFrom(t, l, Dev2, "11.0.0.2:1234"); err == nil {
		t.Errorf("router without loopback hairpinned dev2 to pc: %q", g)
	}
	if got := stunFrom(t, l, PC); got != "11.0.0.2" {
		t.Errorf("STUN from pc saw %s, want the router's WAN 11.0.0.2", got)
	}
}

func TestIGDv1Router(t *testing.T) {
	t.Parallel()
	l := New(t, Options{UPnP: true, IGDv1: true})
	desc, err := runHelper(t, l, PC, "get", RootDescURL)
	if err != nil {
		t.Fatalf("GET %s from pc: %v", RootDescURL, err)
	}
	if !strings.Contains(desc, "urn:schemas-upnp-org:device:InternetGatewayDevice:1") ||
		strings.Contains(desc, "InternetGatewayDevice:2") {
		t.Errorf("IGDv1 router's description is not IGD:1:\n%s", desc)
	}
	runOK(t, l, PC, "upnpc", "-u", RootDescURL, "-a", PCAddr, "1234", "1234", "TCP")
}

func TestNATPMPRouter(t *testing.T) {
	t.Parallel()
	l := New(t, Options{NATPMP: true})
	out := runOK(t, l, PC, "natpmpc", "-g", RouterLAN, "-a", "1234", "1234", "tcp", "3600")
	if !strings.Contains(out, "Public IP address : 11.0.0.2") {
		t.Errorf("natpmpc did not report public address 11.0.0.2:\n%s", out)
	}
	if !regexp.MustCompile(`Mapped public port 1234 protocol TCP to local port 1234`).MatchString(out) {
		t.Errorf("natpmpc did not map 1234/tcp:\n%s", out)
	}
	serveIn(t, l, PC, ":1234")
	if _, err := dialFrom(t, l, Inet, "11.0.0.2:1234"); err != nil {
		t.Errorf("NAT-PMP mapping does not forward 11.0.0.2:1234 to pc: %v", err)
	}
	// UPnP is off: nothing serves the description.
	if _, err := runHelper(t, l, PC, "get", RootDescURL); err == nil {
		t.Errorf("router with UPnP off serves %s", RootDescURL)
	}
}

func TestLoopbackRouterHairpins(t *testing.T) {
	t.Parallel()
	l := New(t, Options{UPnP: true, Loopback: true})
	serveIn(t, l, PC, ":1234")
	runOK(t, l, PC, "upnpc", "-u", RootDescURL, "-a", PCAddr, "1234", "1234", "TCP")
	for _, host := range []string{PC, Dev2, Inet} {
		if _, err := dialFrom(t, l, host, "11.0.0.2:1234"); err != nil {
			t.Errorf("%s cannot reach pc's server at 11.0.0.2:1234 through a loopback router: %v", host, err)
		}
	}
	// Only mapped ports hairpin: 1235 is the router's own, closed port.
	if g, err := dialFrom(t, l, PC, "11.0.0.2:1235"); err == nil {
		t.Errorf("unmapped 11.0.0.2:1235 answered from pc: %q", g)
	}
	runOK(t, l, PC, "upnpc", "-u", RootDescURL, "-d", "1234", "TCP")
	if g, err := dialFrom(t, l, PC, "11.0.0.2:1234"); err == nil {
		t.Errorf("11.0.0.2:1234 still hairpins after the mapping was deleted: %q", g)
	}
}

func TestNATTopologies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		topo   Topology
		public string
		hops   string // who answers TTL 1, 2, 3 toward the STUN server
	}{
		{Public, "11.0.0.2", "192.168.1.1 11.0.0.1"},
		{DoubleNAT, "11.0.0.3", "192.168.1.1 192.168.0.1 11.0.0.1"},
		{CGNAT, "11.0.0.4", "192.168.1.1 100.64.0.1 11.0.0.1"},
	} {
		t.Run(tc.topo.String(), func(t *testing.T) {
			t.Parallel()
			l := New(t, Options{Topology: tc.topo, UPnP: true, NATPMP: true})
			if got := stunFrom(t, l, PC); got != tc.public {
				t.Errorf("STUN from pc saw %s, want %s", got, tc.public)
			}
			hops, err := runHelper(t, l, PC, "hops", STUNServer)
			if err != nil {
				t.Fatalf("hop probe from pc: %v", err)
			}
			if got := strings.Join(strings.Fields(hops), " "); got != tc.hops {
				t.Errorf("hops from pc toward %s = %q, want %q", STUNServer, got, tc.hops)
			}
			status := runOK(t, l, PC, "upnpc", "-u", RootDescURL, "-s")
			if tc.topo == Public {
				if !strings.Contains(status, "ExternalIPAddress = 11.0.0.2") {
					t.Errorf("router reports no external address 11.0.0.2:\n%s", status)
				}
				return
			}
			// miniupnpd hides a reserved WAN address.
			if !strings.Contains(status, "GetExternalIPAddress failed. (empty string)") {
				t.Errorf("router behind %s reports an external address:\n%s", tc.topo, status)
			}
			ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
			defer cancel()
			// Behind another NAT the router refuses to map.
			out, errOut, code, err := l.Run(ctx, PC, "upnpc", "-u", RootDescURL, "-a", PCAddr, "1234", "1234", "TCP")
			if err != nil {
				t.Fatal(err)
			}
			if code == 0 && !strings.Contains(out+errOut, "failed") {
				t.Errorf("router behind %s accepted a mapping:\n%s%s", tc.topo, out, errOut)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	tcp1234 := []Forward{{Proto: "tcp", ExternalPort: 1234}}
	for _, tc := range []struct {
		opts Options
		err  string // a part of the error; empty means valid
	}{
		{Options{UPnP: true}, ""},
		{Options{NATPMP: true}, ""},
		{Options{NoService: true}, ""},
		{Options{}, "no mapping service chosen"},
		{Options{NoService: true, UPnP: true}, "choose one"},
		{Options{IGDv1: true, NATPMP: true}, "IGDv1 needs UPnP"},
		{Options{UPnP: true, Topology: Topology(9)}, "unknown topology 9"},
		{Options{UPnP: true, TURNUDPOnly: true}, ""},
		{Options{UPnP: true, TURNUDPOnly: true, NoSTUN: true}, "NoSTUN runs no TURN relay"},
		{Options{Topology: PublicHost, TURNUDPOnly: true, NoSTUN: true}, "NoSTUN runs no TURN relay"},

		{Options{Topology: PublicHost}, ""},
		{Options{Topology: PublicHost, NoService: true, NoSTUN: true}, ""},
		{Options{Topology: PublicHost, UPnP: true, NATPMP: true}, "unset UPnP, NATPMP"},
		{Options{Topology: PublicHost, NoService: true, Loopback: true}, "unset Loopback"},
		{Options{Topology: PublicHost, Forwards: tcp1234}, "unset Forwards"},

		{Options{NoService: true, Forwards: tcp1234}, ""},
		{Options{NoService: true, Loopback: true, Forwards: tcp1234}, ""},
		{Options{Topology: CGNAT, NATPMP: true, NoSTUN: true, Forwards: tcp1234}, ""},
		{Options{NoService: true, Forwards: []Forward{
			{Proto: "tcp", ExternalPort: 1234}, {Proto: "udp", ExternalPort: 1234, InternalIP: Dev2Addr, InternalPort: 53},
		}}, ""},
		{Options{NoService: true, Forwards: []Forward{{ExternalPort: 1234}}}, `protocol ""`},
		{Options{NoService: true, Forwards: []Forward{{Proto: "TCP", ExternalPort: 1234}}}, `protocol "TCP"`},
		{Options{NoService: true, Forwards: []Forward{{Proto: "tcp"}}}, "external port 0"},
		{Options{NoService: true, Forwards: []Forward{{Proto: "tcp", ExternalPort: 1, InternalIP: "pc"}}}, "not an IPv4 address"},
		{Options{NoService: true, Forwards: []Forward{{Proto: "tcp", ExternalPort: 1, InternalIP: InetAddr}}}, "not a LAN host"},
		{Options{NoService: true, Forwards: []Forward{{Proto: "tcp", ExternalPort: 1, InternalIP: RouterLAN}}}, "not a LAN host"},
		{Options{NoService: true, Forwards: []Forward{{Proto: "tcp", ExternalPort: 1, InternalIP: "192.168.1.255"}}}, "not a LAN host"},
		{Options{NoService: true, Forwards: []Forward{
			{Proto: "tcp", ExternalPort: 1234}, {Proto: "tcp", ExternalPort: 1234, InternalIP: Dev2Addr},
		}}, "1234/tcp forwarded twice"},
	} {
		err := tc.opts.validate()
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%+v: validate() = %v, want ok", tc.opts, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%+v: validate() = %v, want an error with %q", tc.opts, err, tc.err)
		}
	}
}

func TestForwardString(t *testing.T) {
	for _, tc := range []struct {
		f    Forward
		want string
	}{
		{Forward{Proto: "tcp", ExternalPort: 1234}, "1234/tcp -> 192.168.1.10:1234"},
		{Forward{Proto: "udp", ExternalPort: 53, InternalIP: Dev2Addr, InternalPort: 5353}, "53/udp -> 192.168.1.20:5353"},
	} {
		if got := tc.f.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.f, got, tc.want)
		}
	}
}

func TestLabPID(t *testing.T) {
	for _, tc := range []struct {
		name string
		pid  int
		ok   bool
	}{
		{"rch123n4-router", 123, true},
		{"rch1n1-pc", 1, true},
		{"rchxn1-pc", 0, false},
		{"rch123-pc", 0, false},
		{"other", 0, false},
		{"rch0n1-pc", 0, false},
	} {
		pid, ok := labPID(stalePrefix, tc.name)
		if pid != tc.pid || ok != tc.ok {
			t.Errorf("labPID(%q) = %d, %v; want %d, %v", tc.name, pid, ok, tc.pid, tc.ok)
		}
	}
}
