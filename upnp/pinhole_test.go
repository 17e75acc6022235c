package upnp

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestPinholeIGDOpenRenewRelease(t *testing.T) {
	f := newFakeFirewall(t)
	r := f.router(t, closedUDP6Port(t))
	l, err := OpenPinhole(t.Context(), r, loopback6, Pinhole{Protocol: TCP, Addr: loopback6, Port: 1234})
	if err != nil {
		t.Fatal(err)
	}
	if l.Method() != PinholeIGD2 {
		t.Fatalf("method %q, want %q", l.Method(), PinholeIGD2)
	}
	got := l.Pinhole()
	held := f.held()
	if len(held) != 1 || held[got.ID] != (fakePinhole{client: "::1", port: 1234, proto: 6, lease: 600}) {
		t.Fatalf("router holds %+v, want one pinhole for ::1 port 1234/tcp, lease 600 s, under ID %d", held, got.ID)
	}
	if got.Lease != defaultPinholeLease || l.RenewEvery() != 5*time.Minute {
		t.Errorf("lease %v, renew every %v; want 10m and 5m", got.Lease, l.RenewEvery())
	}
	if how, err := l.Renew(t.Context()); err != nil || how != Renewed || f.count("UpdatePinhole") != 1 {
		t.Fatalf("renew: %v %v after %d UpdatePinhole, want renewed by one", how, err, f.count("UpdatePinhole"))
	}
	f.set(func(f *fakeFirewall) { f.pinholes = map[uint16]fakePinhole{} }) // a router restart
	if how, err := l.Renew(t.Context()); err != nil || how != ReCreated || len(f.held()) != 1 {
		t.Fatalf("renew after the router lost it: %v %v, holds %d; want re-created", how, err, len(f.held()))
	}
	if err := l.Release(t.Context()); err != nil || len(f.held()) != 0 {
		t.Fatalf("release: %v, router still holds %v", err, f.held())
	}
	if err := l.Release(t.Context()); err != nil || f.count("DeletePinhole") != 1 {
		t.Errorf("second release: %v after %d deletes, want nil after one", err, f.count("DeletePinhole"))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.senders {
		if s != "::1" {
			t.Errorf("a pinhole action came from %s, not from the pinhole's address ::1", s)
		}
	}
}

func TestPinholeWrongSourceIsExplained(t *testing.T) {
	// The request comes from ::1 for another address: miniupnpd's 606.
	f := newFakeFirewall(t)
	r := f.router(t, closedUDP6Port(t))
	fw, err := firewallOf(r, loopback6, loopback6)
	if err != nil {
		t.Fatal(err)
	}
	want := Pinhole{Protocol: TCP, Addr: netip.MustParseAddr("2001:db8:1::10"), Port: 1234, Lease: time.Hour}
	_, err = fw.open(t.Context(), want)
	var ref *PinholeRefusal
	var se *SOAPError
	if !errors.As(err, &ref) || !errors.As(err, &se) || se.Code != CodeNotAuthorized {
		t.Fatalf("error %v, want a *PinholeRefusal with UPnP 606", err)
	}
	for _, s := range []string{"AddPinhole", "606", "[2001:db8:1::10]:1234/tcp", "sent from ::1"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if a := ref.Advice(); !strings.Contains(a, "must come from 2001:db8:1::10 itself, not ::1") {
		t.Errorf("advice %q does not say where the request must come from", a)
	}
}

func TestPinholeLowPortFallsBackAndIsExplained(t *testing.T) {
	f := newFakeFirewall(t)
	r := f.router(t, closedUDP6Port(t))
	_, err := OpenPinhole(t.Context(), r, loopback6, Pinhole{Protocol: TCP, Addr: loopback6, Port: 80})
	var perr *PinholeError
	if !errors.As(err, &perr) || len(perr.Tries) != 2 || perr.Tries[0].Method != PinholeIGD2 || perr.Tries[1].Method != PinholePCP {
		t.Fatalf("error %v, want a *PinholeError with an IGD try, then a PCP try", err)
	}
	var ref *PinholeRefusal
	if !errors.As(err, &ref) || ref.SOAP.Code != CodeNotAuthorized || !strings.Contains(ref.Advice(), "ports 1024 and up, not 80") {
		t.Fatalf("error %v: want the 606 explained as a port below 1024", err)
	}
	if !errors.Is(err, ErrPCPNoReply) {
		t.Errorf("error %v does not carry PCP's silence", err)
	}
	if !strings.Contains(err.Error(), "no IPv6 pinhole for [::1]:80/tcp on the router ::1 (upnp-igd2-pinhole: ") {
		t.Errorf("error %q does not name the pinhole, the router and each method", err)
	}
}

func TestPinholePCP(t *testing.T) {
	p := newFakePCP6(t)
	// No IGD was found over IPv4: PCP at the router's IPv6 address.
	r := &Router{Gateway: loopback, Config: Config{NATPMPPort: p.port, CacheDir: t.TempDir(), Logf: t.Logf}}
	l, err := OpenPinhole(t.Context(), r, loopback6, Pinhole{Protocol: UDP, Addr: loopback6, Port: 4000, Lease: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if l.Method() != PinholePCP || l.Pinhole().Lease != time.Hour || p.held() != 1 {
		t.Fatalf("method %q lease %v, fake holds %d: want pcp, 1h, one pinhole", l.Method(), l.Pinhole().Lease, p.held())
	}
	req := p.requests()[0]
	if client := netip.AddrFrom16([16]byte(req[8:24])); client != loopback6 {
		t.Errorf("PCP client address %v, want ::1", client)
	}
	if ext := netip.AddrFrom16([16]byte(req[44:60])); ext != netip.IPv6Unspecified() {
		t.Errorf("suggested external address %v, want :: (no preference, IPv6)", ext)
	}
	if how, err := l.Renew(t.Context()); err != nil || how != Renewed {
		t.Fatalf("renew: %v %v", how, err) // the fake refuses another nonce
	}
	if err := l.Release(t.Context()); err != nil || p.held() != 0 {
		t.Fatalf("release: %v; fake holds %d", err, p.held())
	}
}

func TestPinholePCPRefusedDeleteLingers(t *testing.T) {
	p := newFakePCP6(t)
	p.mu.Lock()
	p.refuseDelete = true
	p.mu.Unlock()
	r := &Router{Gateway: loopback, Config: Config{NATPMPPort: p.port, CacheDir: "off", Logf: t.Logf}}
	l, err := OpenPinhole(t.Context(), r, loopback6, Pinhole{Protocol: TCP, Addr: loopback6, Port: 4000, Lease: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	err = l.Release(t.Context())
	var lingers *PinholeLingersError
	if !errors.As(err, &lingers) || lingers.Left != 120*time.Second || !strings.Contains(err.Error(), "at most 2m0s more") {
		t.Fatalf("release refused by the router: %v, want a *PinholeLingersError with the router's minimum lease (2m)", err)
	}
	reqs := p.requests()
	if last := reqs[len(reqs)-1]; binary.BigEndian.Uint32(last[4:]) != 1 {
		t.Errorf("after the refused delete, reach asked lifetime %d s, want the shortest, 1 s", binary.BigEndian.Uint32(last[4:]))
	}
	if err := l.Release(t.Context()); err != nil {
		t.Errorf("second release: %v, want nil (counted as released)", err)
	}
}

func TestPinholeService(t *testing.T) {
	f := newFakeFirewall(t)
	closed := closedUDP6Port(t)
	if m, err := PinholeService(t.Context(), f.router(t, closed), loopback6, loopback6); err != nil || m != PinholeIGD2 {
		t.Errorf("IGD with pinholes allowed: %q %v, want %q", m, err, PinholeIGD2)
	}
	if f.count("AddPinhole") != 0 {
		t.Errorf("PinholeService opened a pinhole")
	}
	f.set(func(f *fakeFirewall) { f.noInbound = true })
	m, err := PinholeService(t.Context(), f.router(t, closed), loopback6, loopback6)
	var ref *PinholeRefusal
	if m != "" || !errors.As(err, &ref) || ref.SOAP.Code != CodeInboundPinholeNotAllowed || !strings.Contains(ref.Advice(), "allow them in its settings") {
		t.Errorf("IGD with inbound pinholes off, no PCP: %q %v; want none, 703 explained", m, err)
	}
	p := newFakePCP6(t)
	if m, err := PinholeService(t.Context(), f.router(t, p.port), loopback6, loopback6); err != nil || m != PinholePCP {
		t.Errorf("IGD refuses, PCP answers: %q %v, want pcp", m, err)
	}
	if m, err := PinholeService(t.Context(), nil, netip.MustParseAddr("192.168.1.1"), netip.Addr{}); err == nil || m != "" {
		t.Errorf("an IPv4 gateway: %q %v, want an error", m, err)
	}
}

func TestCheckPinhole(t *testing.T) {
	gw := netip.MustParseAddr("fe80::1%eth0")
	for _, tc := range []struct {
		p    Pinhole
		gw   netip.Addr
		want string // error text, or the lease granted
	}{
		{Pinhole{Protocol: TCP, Addr: netip.MustParseAddr("2001:db8:1::10"), Port: 1234}, gw, "10m0s"},
		{Pinhole{Protocol: TCP, Addr: netip.MustParseAddr("2001:db8:1::10"), Port: 1234, Lease: 48 * time.Hour}, gw, "24h0m0s"},
		{Pinhole{Protocol: TCP, Addr: netip.MustParseAddr("fe80::10"), Port: 1234}, gw, "not a global IPv6 address"},
		{Pinhole{Protocol: TCP, Addr: netip.MustParseAddr("192.168.1.10"), Port: 1234}, gw, "not a global IPv6 address"},
		{Pinhole{Protocol: TCP, Addr: netip.MustParseAddr("2001:db8:1::10")}, gw, "port 0"},
		{Pinhole{Protocol: "sctp", Addr: netip.MustParseAddr("2001:db8:1::10"), Port: 1}, gw, "neither"},
		{Pinhole{Protocol: TCP, Addr: netip.MustParseAddr("2001:db8:1::10"), Port: 1}, netip.MustParseAddr("192.168.1.1"), "not an IPv6 address"},
	} {
		got, err := checkPinhole(tc.gw, tc.p)
		text := got.Lease.String()
		if err != nil {
			text = err.Error()
		}
		if !strings.Contains(text, tc.want) {
			t.Errorf("%v via %v: %q, want %q", tc.p, tc.gw, text, tc.want)
		}
	}
}

func TestPinholeRefusalAdvice(t *testing.T) {
	addr := netip.MustParseAddr("2001:db8:1::10")
	for _, tc := range []struct {
		code int
		p    Pinhole
		from netip.Addr
		want string
	}{
		{606, Pinhole{Addr: addr, Port: 1234}, netip.MustParseAddr("2001:db8:1::11"), "must come from 2001:db8:1::10 itself"},
		{606, Pinhole{Addr: addr, Port: 80}, addr, "ports 1024 and up, not 80"},
		{606, Pinhole{Addr: addr, Port: 1234}, addr, "allow IPv6 pinholes"},
		{701, Pinhole{}, addr, "table is full"},
		{702, Pinhole{}, addr, "firewall is off"},
		{703, Pinhole{}, addr, "does not allow inbound pinholes"},
		{704, Pinhole{}, addr, "no longer holds"},
		{401, Pinhole{}, addr, "PCP may work"},
	} {
		e := &PinholeRefusal{SOAP: &SOAPError{Code: tc.code, Action: "AddPinhole"}, Pinhole: tc.p, From: tc.from}
		if a := e.Advice(); !strings.Contains(a, tc.want) {
			t.Errorf("%d %v from %v: advice %q, want %q", tc.code, tc.p, tc.from, a, tc.want)
		}
		if got := errors.Is(e, ErrNoSuchPinhole); got != (tc.code == 704) {
			t.Errorf("%d: errors.Is(ErrNoSuchPinhole) = %v", tc.code, got)
		}
	}
}

// miniupnpd 2.3.1 answers a DeletePinhole for a UniqueID it no longer
// holds with 402, not 704: when CheckPinholeWorking finds nothing either,
// the release is quiet; a pinhole the router still holds (709, no traffic
// yet) keeps the refusal as the error.
func TestPinholeReleaseOfAPinholeTheRouterLost(t *testing.T) {
	f := newFakeFirewall(t)
	f.set(func(f *fakeFirewall) { f.unknownFault = CodeInvalidArgs })
	r := f.router(t, closedUDP6Port(t))
	want := Pinhole{Protocol: TCP, Addr: loopback6, Port: 1234}
	l, err := OpenPinhole(t.Context(), r, loopback6, want)
	if err != nil {
		t.Fatal(err)
	}
	f.set(func(f *fakeFirewall) { f.pinholes = map[uint16]fakePinhole{} }) // a router restart
	if err := l.Release(t.Context()); err != nil || f.count("CheckPinholeWorking") != 1 {
		t.Errorf("release of a pinhole the router lost: %v after %d CheckPinholeWorking, want nil after one", err, f.count("CheckPinholeWorking"))
	}

	l, err = OpenPinhole(t.Context(), r, loopback6, want)
	if err != nil {
		t.Fatal(err)
	}
	f.set(func(f *fakeFirewall) { f.deleteFault = CodeInvalidArgs })
	err = l.Release(t.Context())
	if faultCode(err) != CodeInvalidArgs || errors.Is(err, ErrNoSuchPinhole) || len(f.held()) != 1 {
		t.Errorf("release refused for a pinhole the router holds: %v, router holds %d; want the 402, not \"no such pinhole\"", err, len(f.held()))
	}
}
