package probe

import (
	"net"
	"net/netip"
	"testing"
)

// InterfaceOf names the interface of each address it holds, IPv4 (which
// Go lists in 16-byte form) as well as IPv6, and none for an address no
// interface holds.
func TestInterfaceOf(t *testing.T) {
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var loopback string
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagLoopback != 0 && ifc.Flags&net.FlagUp != 0 {
			loopback = ifc.Name
			break
		}
	}
	if loopback == "" {
		t.Fatal("no loopback interface that is up")
	}
	lo4 := netip.MustParseAddr("127.0.0.1")
	for _, a := range []netip.Addr{lo4, netip.AddrFrom16(lo4.As16())} {
		if got := InterfaceOf(a); got != loopback {
			t.Errorf("InterfaceOf(%s) = %q, want %q", a, got, loopback)
		}
	}
	if ifc, err := net.InterfaceByName(loopback); err == nil {
		addrs, _ := ifc.Addrs()
		for _, ia := range addrs {
			if p, err := netip.ParsePrefix(ia.String()); err == nil && p.Addr().Is6() && p.Addr().Zone() == "" {
				if got := InterfaceOf(p.Addr()); got != loopback {
					t.Errorf("InterfaceOf(%s) = %q, want %q", p.Addr(), got, loopback)
				}
			}
		}
	}
	if got := InterfaceOf(netip.MustParseAddr("192.0.2.254")); got != "" {
		t.Errorf("InterfaceOf of an address no interface holds = %q", got)
	}
}
