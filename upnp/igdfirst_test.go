package upnp

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"
)

// heldNATPMP is a gateway whose NAT-PMP holds its first answer (to the
// probe) until release is called, maps what it is asked, and answers PCP
// "unsupported version" at once: a router whose NAT-PMP is slower than its
// IGD.
func heldNATPMP(t *testing.T) (f *fakeGateway, release func()) {
	held := make(chan struct{})
	release = sync.OnceFunc(func() { close(held) })
	var once sync.Once
	f = newFakeGateway(t, func(req []byte) []fakeReply {
		switch {
		case req[0] != 0: // PCP
			return one([]byte{0, 128 + req[1], 0, 1, 0, 0, 0, 9})
		case req[1] == 0:
			once.Do(func() { <-held })
			return one(natpmpReply(0, 0, 11, 0, 0, 2))
		}
		internal := binary.BigEndian.Uint16(req[4:])
		return one(natpmpReply(req[1], 0, natpmpMapBody(internal, internal, binary.BigEndian.Uint32(req[8:]))...))
	})
	t.Cleanup(release) // before the gateway's own cleanup, which waits for its handler
	return f, release
}

// findRouterSoon runs FindRouter and fails t if it does not return while
// NAT-PMP still holds its answer: the bound is for a hang, not a speed.
func findRouterSoon(t *testing.T, cfg Config) *Router {
	t.Helper()
	done := make(chan *Router, 1)
	go func() {
		r, err := FindRouter(t.Context(), cfg)
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	select {
	case r := <-done:
		if r == nil {
			t.FailNow()
		}
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("FindRouter with IGDFirst waited for NAT-PMP after the IGD answered")
		return nil
	}
}

// With IGDFirst, FindRouter returns once the IGD answered while NAT-PMP
// still holds its answer; Settle then adds NAT-PMP (and PCP's refusal), as
// a router found whole has them.
func TestFindRouterIGDFirstSettlesLater(t *testing.T) {
	f := newFakeIGD(t, "v2")
	gw, release := heldNATPMP(t)
	cfg := f.config()
	cfg.NATPMPPort = gw.port
	cfg.igdGrace = time.Hour     // only the answer itself ends the wait,
	cfg.probeTimeout = time.Hour // however long a loaded machine takes to release it
	cfg.IGDFirst = true
	r := findRouterSoon(t, cfg)
	if r.Settled() || len(r.Services) != 1 || r.Services[0].Method() != MethodIGD2 {
		t.Fatalf("before NAT-PMP answered: settled %v, services %v; want only the IGD, unsettled", r.Settled(), r.Services)
	}
	release()
	r.Settle()
	if !r.Settled() || len(r.Services) != 2 || r.Services[1].Method() != MethodNATPMP {
		t.Fatalf("after Settle: settled %v, services %v; want the IGD and NAT-PMP", r.Settled(), r.Services)
	}
	if _, ok := r.Missing[FamilyPCP]; !ok {
		t.Errorf("PCP answered unsupported version: want it missing, got %v", r.Missing)
	}
	if r.Config.IGDFirst {
		t.Error("the router's Config keeps IGDFirst: Lease.Renew would find a router still being probed")
	}
}

// When the IGD refuses, Map waits for the services still being probed and
// maps with the next one, NAT-PMP here, reporting both attempts in order.
func TestMapSettlesWhenTheIGDRefuses(t *testing.T) {
	f := newFakeIGD(t, "v2")
	f.failNext("AddPortMapping", CodeNotAuthorized)
	gw, release := heldNATPMP(t)
	cfg := f.config()
	cfg.NATPMPPort = gw.port
	cfg.igdGrace, cfg.probeTimeout = time.Hour, time.Hour
	cfg.IGDFirst = true
	r := findRouterSoon(t, cfg)
	var seen []Attempt
	req := MapRequest{Mapping: Mapping{Protocol: TCP, InternalPort: 1234, Lease: time.Hour}, OnAttempt: func(a Attempt) {
		if a.Method == MethodIGD2 {
			release() // NAT-PMP answers only once the IGD has refused
		}
		seen = append(seen, a)
	}}
	l, err := Map(t.Context(), r, req)
	if err != nil {
		t.Fatal(err)
	}
	if l.Method() != MethodNATPMP {
		t.Errorf("mapped with %s, want NAT-PMP once the IGD refused", l.Method())
	}
	if len(seen) != 2 || seen[0].Method != MethodIGD2 || Kind(seen[0].Err) != KindNotAuthorized || seen[1].Method != MethodNATPMP || seen[1].Err != nil {
		t.Errorf("attempts = %+v", seen)
	}
	if !r.Settled() {
		t.Error("Map handed over without settling the router")
	}
}
