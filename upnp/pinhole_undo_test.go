package upnp

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// An AddPinhole without a clear answer may have opened the pinhole: it is
// closed again (asked again for its UniqueID, then deleted) before PCP
// opens it, so that no pinhole stays on the router that nobody holds.
func TestPinholeUnclearAddIsUndoneBeforePCP(t *testing.T) {
	for _, how := range []string{"page", "empty", "drop", "hang"} {
		t.Run(how, func(t *testing.T) {
			f := newFakeFirewall(t)
			p := newFakePCP6(t)
			r := f.router(t, p.port)
			f.breakAdds(1, how)
			l, err := OpenPinhole(t.Context(), r, loopback6, Pinhole{Protocol: TCP, Addr: loopback6, Port: 1234})
			if err != nil {
				t.Fatalf("OpenPinhole: %v; want PCP's pinhole", err)
			}
			if l.Method() != PinholePCP || p.held() != 1 {
				t.Errorf("method %s, PCP holds %d; want the pinhole through PCP", l.Method(), p.held())
			}
			if held := f.held(); len(held) != 0 {
				t.Errorf("the IGD still holds %+v: the pinhole its unclear answer made was not closed", held)
			}
			if n := f.count("DeletePinhole"); n != 1 {
				t.Errorf("%d DeletePinhole, want 1 (the undo)", n)
			}
		})
	}
}

// When the undo fails too, OpenPinhole stops: no PCP pinhole on top of
// one the IGD may hold, and the error says so and what to do.
func TestPinholeUnclearAddNotUndoneStops(t *testing.T) {
	f := newFakeFirewall(t)
	p := newFakePCP6(t)
	r := f.router(t, p.port)
	f.breakAdds(2, "empty") // the add and the undo's ask again
	_, err := OpenPinhole(t.Context(), r, loopback6, Pinhole{Protocol: TCP, Addr: loopback6, Port: 1234})
	var perr *PinholeError
	if !errors.As(err, &perr) || len(perr.Tries) != 1 || !perr.Tries[0].Unsure || perr.Tries[0].Undone {
		t.Fatalf("error %v, want one unsure IGD try", err)
	}
	if n := len(p.requests()); n != 0 {
		t.Errorf("PCP got %d requests; want none while the IGD may hold the pinhole", n)
	}
	for _, s := range []string{"HTTP 500 Internal Server Error", "may have opened it all the same, for at most 10m0s"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if a := perr.Advice(); !strings.Contains(a, "closes by itself within 10m0s") || !strings.Contains(a, "remove it in the router's IPv6 firewall settings") {
		t.Errorf("advice %q does not say when it closes and how to close it sooner", a)
	}
	if refusal(perr.Tries[0].Err) {
		t.Errorf("the IGD's HTTP 500 %v counts as a refusal", perr.Tries[0].Err)
	}
}

// An HTTP error page without a fault is named by its status, undone, and
// then PCP is asked; its silence ends the tries.
func TestPinholeHTTPErrorNamed(t *testing.T) {
	f := newFakeFirewall(t)
	r := f.router(t, closedUDP6Port(t))
	f.breakAdds(1, "page")
	_, err := OpenPinhole(t.Context(), r, loopback6, Pinhole{Protocol: TCP, Addr: loopback6, Port: 1234})
	var perr *PinholeError
	var he *HTTPError
	if !errors.As(err, &perr) || len(perr.Tries) != 2 || !perr.Tries[0].Undone || perr.Tries[0].Unsure || !errors.As(err, &he) {
		t.Fatalf("error %v, want an undone IGD try with an *HTTPError, then PCP", err)
	}
	if he.Action != "AddPinhole" || he.Status != "500 Internal Server Error" || perr.Advice() != "" {
		t.Errorf("HTTP error %+v, advice %q", he, perr.Advice())
	}
	if !strings.Contains(err.Error(), "router answered AddPinhole with HTTP 500 Internal Server Error") ||
		!strings.Contains(err.Error(), "reach closed what the router may have opened") {
		t.Errorf("error %q does not name the HTTP status and the undo", err)
	}
	if len(f.held()) != 0 {
		t.Errorf("the IGD holds %v", f.held())
	}
}

// A refusal is a clear answer: PCP next, nothing to undo. So is a router
// that takes no connection on its IPv6 address.
func TestPinholeClearFailuresGoToPCP(t *testing.T) {
	f := newFakeFirewall(t)
	p := newFakePCP6(t)
	r := f.router(t, p.port)
	f.set(func(f *fakeFirewall) { f.noInbound = true }) // 703
	if l, err := OpenPinhole(t.Context(), r, loopback6, Pinhole{Protocol: TCP, Addr: loopback6, Port: 1234}); err != nil || l.Method() != PinholePCP {
		t.Fatalf("after a 703: %v, want PCP's pinhole", err)
	}
	if a, d := f.count("AddPinhole"), f.count("DeletePinhole"); a != 1 || d != 0 {
		t.Errorf("%d AddPinhole, %d DeletePinhole after a refusal; want 1 and 0", a, d)
	}

	f.closeIPv6()
	if l, err := OpenPinhole(t.Context(), r, loopback6, Pinhole{Protocol: TCP, Addr: loopback6, Port: 2345}); err != nil || l.Method() != PinholePCP {
		t.Fatalf("with the IGD's IPv6 port closed: %v, want PCP's pinhole", err)
	}
}

// A failed renewal is retried after 30 s, not a whole renewal period,
// and never later than half the lease; a success goes back to the period.
func TestPinholeRenewRetry(t *testing.T) {
	f := newFakeFirewall(t)
	r := f.router(t, closedUDP6Port(t))
	for _, tc := range []struct {
		lease, every, retry time.Duration
	}{
		{10 * time.Minute, 5 * time.Minute, pinholeRetry},
		{40 * time.Second, 20 * time.Second, 20 * time.Second},
	} {
		f.set(func(f *fakeFirewall) { f.disabled = false })
		l, err := OpenPinhole(t.Context(), r, loopback6, Pinhole{Protocol: TCP, Addr: loopback6, Port: 1234, Lease: tc.lease})
		if err != nil {
			t.Fatal(err)
		}
		if got := l.RenewEvery(); got != tc.every {
			t.Errorf("lease %v: renew every %v, want %v", tc.lease, got, tc.every)
		}
		f.set(func(f *fakeFirewall) { f.disabled = true }) // UpdatePinhole: 702
		for i := range 2 {
			if _, err := l.Renew(t.Context()); err == nil {
				t.Fatal("renew succeeded against a refusing router")
			}
			if got := l.RenewEvery(); got != tc.retry {
				t.Errorf("lease %v, after failure %d: next renewal in %v, want %v", tc.lease, i+1, got, tc.retry)
			}
		}
		f.set(func(f *fakeFirewall) { f.disabled = false })
		if _, err := l.Renew(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := l.RenewEvery(); got != tc.every {
			t.Errorf("lease %v, after a success: next renewal in %v, want %v", tc.lease, got, tc.every)
		}
		if err := l.Release(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}
