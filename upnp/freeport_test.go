package upnp

import (
	"testing"
)

func TestNextFree(t *testing.T) {
	for _, tt := range []struct {
		held []uint16
		near uint16
		want uint16
	}{
		{nil, 1234, 1235},
		{[]uint16{1235, 1236}, 1234, 1237},
		{nil, 65535, 1024},            // wraps, skipping the well-known ports
		{[]uint16{1024}, 65535, 1025}, // and what is held after wrapping
		{nil, 80, 1024},               // a well-known port asked: the first one above them
		{nil, 0, 1024},
	} {
		held := map[uint16]bool{}
		for _, p := range tt.held {
			held[p] = true
		}
		if got, err := nextFree(held, tt.near); err != nil || got != tt.want {
			t.Errorf("nextFree(%v, %d) = %d, %v; want %d", tt.held, tt.near, got, err, tt.want)
		}
	}
	all := map[uint16]bool{}
	for p := minFreePort; p <= 65535; p++ {
		if p != 2000 {
			all[uint16(p)] = true
		}
	}
	if got, err := nextFree(all, 2000); err == nil {
		t.Errorf("nextFree with every other port held = %d, want an error (the port asked is not free)", got)
	}
}

// FreePort reads the router's list: ports of the other protocol do not
// count as held.
func TestFreePortFromRouterList(t *testing.T) {
	f := newFakeIGD(t, "v2")
	f.addEntry(fakeEntry{proto: "TCP", ext: 5001, intern: 1, client: otherLAN.String()})
	f.addEntry(fakeEntry{proto: "UDP", ext: 5002, intern: 1, client: otherLAN.String()})
	igd := openFake(t, f)
	if got, err := FreePort(t.Context(), igd, TCP, 5000); err != nil || got != 5002 {
		t.Errorf("FreePort(tcp, 5000) = %d, %v; want 5002", got, err)
	}
	if got, err := FreePort(t.Context(), igd, UDP, 5001); err != nil || got != 5003 {
		t.Errorf("FreePort(udp, 5001) = %d, %v; want 5003", got, err)
	}
	f.failNext("GetGenericPortMappingEntry", CodeActionFailed)
	if _, err := FreePort(t.Context(), igd, TCP, 5000); err == nil {
		t.Error("FreePort with a router that refuses its list succeeded")
	}
}
