package upnp

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// igdRouter is a Router whose only service is the fake's IGD.
func igdRouter(t *testing.T, f *fakeIGD) *Router {
	t.Helper()
	return &Router{Gateway: loopback, LocalIP: igdLocal, Services: []Mapper{openFake(t, f)}, Config: f.config()}
}

func attempts(list *[]Attempt) func(Attempt) {
	return func(a Attempt) { *list = append(*list, a) }
}

// With auto, a refusal in the protocol's words hands over to the next
// service; the attempts are reported in order.
func TestMapHandsOverOnRefusal(t *testing.T) {
	f := newFakeIGD(t, "v2")
	f.failNext("AddPortMapping", CodeNotAuthorized)
	r := igdRouter(t, f)
	pmp := newMemMapper(MethodNATPMP)
	r.Services = append(r.Services, pmp)
	var seen []Attempt
	l, err := Map(t.Context(), r, MapRequest{Mapping: Mapping{Protocol: TCP, InternalPort: 1234, Lease: time.Hour}, OnAttempt: attempts(&seen)})
	if err != nil {
		t.Fatal(err)
	}
	if l.Method() != MethodNATPMP || !pmp.has(1234) {
		t.Errorf("mapped with %s, want NAT-PMP after UPnP 606", l.Method())
	}
	if len(seen) != 2 || seen[0].Method != MethodIGD2 || Kind(seen[0].Err) != KindNotAuthorized || seen[0].Undone || seen[1].Err != nil {
		t.Errorf("attempts = %+v", seen)
	}
	if got := l.Mapping(); got.InternalIP != igdLocal || got.ExternalPort != 1234 || l.Moved() || l.Permanent() {
		t.Errorf("lease mapping %+v, moved %v, permanent %v", got, l.Moved(), l.Permanent())
	}

	// Named family: no hand-over.
	f.failNext("AddPortMapping", CodeNotAuthorized)
	if _, err := Map(t.Context(), r, MapRequest{Mapping: Mapping{Protocol: TCP, InternalPort: 2000}, Family: FamilyUPnP}); Kind(err) != KindNotAuthorized {
		t.Errorf("Map(upnp) err = %v, want the refusal", err)
	}
	if pmp.has(2000) {
		t.Error("a named family handed over to NAT-PMP")
	}
}

// A refusal handed over to a service that then does not answer stays the
// error's kind: the router said no, and the silence after it does not
// undo that (miniupnpd's PCP, asked for a port its rules refuse, tries
// every other port before it answers). Both errors stay in the chain.
func TestMapKeepsTheRefusalWhenTheNextIsSilent(t *testing.T) {
	f := newFakeIGD(t, "v2")
	f.failNext("AddPortMapping", CodeNotAuthorized)
	r := igdRouter(t, f)
	pcp := newMemMapper(MethodPCP)
	pcp.fails = []error{ErrPCPNoReply}
	r.Services = append(r.Services, pcp)
	_, err := Map(t.Context(), r, MapRequest{Mapping: Mapping{Protocol: TCP, InternalPort: 80}})
	if Kind(err) != KindNotAuthorized || !errors.Is(err, ErrPCPNoReply) {
		t.Errorf("Map err = %v (kind %s), want the IGD's refusal and PCP's silence after it", err, Kind(err))
	}
	if s := Summary(err); !strings.Contains(s, "606") {
		t.Errorf("Summary = %q, want the refusal's", s)
	}

	// Silence alone is silence.
	pcp.fails = []error{ErrPCPNoReply}
	if _, err := Map(t.Context(), r, MapRequest{Mapping: Mapping{Protocol: TCP, InternalPort: 81}, Family: FamilyPCP}); Kind(err) != KindUnanswered {
		t.Errorf("Map(pcp) err = %v (kind %s), want no reply", err, Kind(err))
	}
}

// A conflict is the answer whoever asks: no hand-over, and the error names
// a free port from the router's list.
func TestMapConflictOffersFreePort(t *testing.T) {
	f := newFakeIGD(t, "v2")
	f.addEntry(fakeEntry{proto: "TCP", ext: 1234, intern: 22, client: otherLAN.String(), desc: "nas ssh"})
	f.addEntry(fakeEntry{proto: "TCP", ext: 1235, intern: 80, client: otherLAN.String(), desc: "nas web"})
	f.addEntry(fakeEntry{proto: "UDP", ext: 1236, intern: 80, client: otherLAN.String(), desc: "udp only"})
	r := igdRouter(t, f)
	pmp := newMemMapper(MethodNATPMP)
	r.Services = append(r.Services, pmp)
	var seen []Attempt
	_, err := Map(t.Context(), r, MapRequest{Mapping: Mapping{Protocol: TCP, InternalPort: 1234}, OnAttempt: attempts(&seen)})
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Free != 1236 || !strings.Contains(err.Error(), "external port 1236 is free") || Kind(err) != KindConflict {
		t.Fatalf("err = %v, want a conflict offering port 1236", err)
	}
	if len(seen) != 1 || pmp.adds != 0 {
		t.Errorf("attempts %d, NAT-PMP adds %d: a conflict handed over", len(seen), pmp.adds)
	}
	if s := Summary(err); s != "port 1234/tcp is already forwarded to 192.168.1.20:22 (1236 is free)" {
		t.Errorf("Summary = %q", s)
	}

	seen = nil
	l, err := Map(t.Context(), r, MapRequest{Mapping: Mapping{Protocol: TCP, InternalPort: 1234}, AnyPort: true, OnAttempt: attempts(&seen)})
	if err != nil {
		t.Fatal(err)
	}
	if l.Mapping().ExternalPort != 1236 || !l.Moved() || len(seen) != 2 || seen[1].Want.ExternalPort != 1236 {
		t.Errorf("AnyPort: mapping %+v moved %v attempts %+v", l.Mapping(), l.Moved(), seen)
	}
	if e := f.entries(); e[0].client != otherLAN.String() || e[0].intern != 22 {
		t.Errorf("the other host's mapping was touched: %+v", e)
	}
}

// An add whose answer never came is undone: the router made it anyway.
func TestMapUndoesAnUnansweredAdd(t *testing.T) {
	f := newFakeIGD(t, "v2")
	r := igdRouter(t, f)
	pmp := newMemMapper(MethodNATPMP)
	r.Services = append(r.Services, pmp)
	f.set(func(f *fakeIGD) { f.loseAdds = 1 })
	var seen []Attempt
	_, err := Map(t.Context(), r, MapRequest{Mapping: Mapping{Protocol: TCP, InternalPort: 1234}, Timeout: 200 * time.Millisecond, OnAttempt: attempts(&seen)})
	if Kind(err) != KindUnanswered {
		t.Fatalf("err = %v (kind %s), want unanswered", err, Kind(err))
	}
	if len(seen) != 1 || !seen[0].Undone || pmp.adds != 0 {
		t.Errorf("attempts %+v, NAT-PMP adds %d: want one undone attempt and no hand-over after a timeout", seen, pmp.adds)
	}
	if e := f.entries(); len(e) != 0 {
		t.Errorf("the mapping made by the unanswered add is still on the router: %+v", e)
	}

	// Ctrl-C during the add: undone too, though ctx is cancelled.
	f.set(func(f *fakeIGD) { f.loseAdds = 1 })
	ctx, cancel := context.WithCancel(t.Context())
	seen = nil
	go func() {
		for f.calls("AddPortMapping") < 2 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err = Map(ctx, r, MapRequest{Mapping: Mapping{Protocol: TCP, InternalPort: 1234}, Timeout: time.Minute, OnAttempt: attempts(&seen)})
	if !errors.Is(err, context.Canceled) && Kind(err) != KindUnanswered {
		t.Fatalf("err = %v, want cancelled", err)
	}
	if len(seen) != 1 || !seen[0].Undone || len(f.entries()) != 0 {
		t.Errorf("after Ctrl-C: attempts %+v, table %+v", seen, f.entries())
	}
}

// A router that takes only permanent mappings (725): the lease says so,
// and renewals ask for permanent at once.
func TestLeaseOnlyPermanent(t *testing.T) {
	f := newFakeIGD(t, "v1")
	f.set(func(f *fakeIGD) { f.onlyPermanent = true })
	l, err := Map(t.Context(), igdRouter(t, f), MapRequest{Mapping: Mapping{Protocol: UDP, InternalPort: 4000, Lease: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	if !l.Permanent() || l.Mapping().Lease != 0 || l.RenewEvery() != reassertEvery {
		t.Errorf("permanent %v, lease %v, renew every %v", l.Permanent(), l.Mapping().Lease, l.RenewEvery())
	}
	before := f.calls("AddPortMapping")
	rn, err := l.Renew(t.Context())
	if err != nil || rn.How != Renewed || rn.Moved {
		t.Fatalf("renew = %+v, %v", rn, err)
	}
	if n := f.calls("AddPortMapping") - before; n != 1 {
		t.Errorf("renewal sent %d AddPortMapping, want 1 (lease 0 at once)", n)
	}
}

// Renew says "re-created" when the router had lost the mapping, and finds
// the router again when its old address no longer answers; this host's
// new address goes into the new mapping.
func TestLeaseRenewRecreates(t *testing.T) {
	f := newFakeIGD(t, "v2")
	r := igdRouter(t, f)
	f2 := newFakeIGD(t, "v2") // the router after a reboot: a new HTTP port
	newLocal := netip.MustParseAddr("127.0.0.2")
	var finds int
	find := func(ctx context.Context, cfg Config) (*Router, error) {
		finds++
		cfg = f2.config()
		cfg.LocalIP = newLocal
		cfg.Only = string(FamilyUPnP)
		return FindRouter(ctx, cfg)
	}
	l, err := Map(t.Context(), r, MapRequest{Mapping: Mapping{Protocol: TCP, InternalPort: 1234, Lease: time.Hour}, FindRouter: find})
	if err != nil {
		t.Fatal(err)
	}
	if rn, err := l.Renew(t.Context()); err != nil || rn.How != Renewed || rn.Method != MethodIGD2 {
		t.Errorf("renew = %+v, %v, want renewed", rn, err)
	}
	f.set(func(f *fakeIGD) { f.table = nil }) // lost, router still up
	if rn, err := l.Renew(t.Context()); err != nil || rn.How != ReCreated || finds != 0 {
		t.Errorf("renew after loss = %+v, %v (finds %d), want re-created in place", rn, err, finds)
	}
	f.http.Close() // rebooted onto another port
	rn, err := l.Renew(t.Context())
	if err != nil || rn.How != ReCreated || finds != 1 {
		t.Fatalf("renew after reboot = %+v, %v (finds %d)", rn, err, finds)
	}
	if e := f2.entries(); len(e) != 1 || e[0].client != newLocal.String() || rn.Mapping.InternalIP != newLocal || l.Router().LocalIP != newLocal {
		t.Errorf("re-created %+v on the new router, renewal %+v", e, rn.Mapping)
	}
	if err := l.Release(t.Context()); err != nil || len(f2.entries()) != 0 {
		t.Errorf("release: %v, table %+v", err, f2.entries())
	}
}

// Re-creation goes through the same family only.
func TestLeaseRenewSameFamilyOnly(t *testing.T) {
	pmp := newMemMapper(MethodNATPMP)
	r := &Router{Gateway: loopback, LocalIP: loopback, Services: []Mapper{pmp}}
	other := newMemMapper(MethodPCP)
	find := func(context.Context, Config) (*Router, error) {
		return &Router{Gateway: loopback, LocalIP: loopback, Services: []Mapper{other}, Missing: map[Family]error{FamilyNATPMP: ErrNATPMPNoReply}}, nil
	}
	l, err := Map(t.Context(), r, MapRequest{Mapping: Mapping{Protocol: UDP, InternalPort: 5000}, FindRouter: find})
	if err != nil {
		t.Fatal(err)
	}
	pmp.failNext(ErrNATPMPNoReply)
	_, err = l.Renew(t.Context())
	if err == nil || other.adds != 0 || !errors.Is(err, ErrNATPMPNoReply) {
		t.Fatalf("renew err = %v, PCP adds %d: want a failure, nothing through PCP", err, other.adds)
	}
	if strings.Count(err.Error(), "upnp:") != 1 || !strings.HasPrefix(err.Error(), "upnp: renew mapping 5000/udp -> 127.0.0.1:5000") {
		t.Errorf("err = %q, want one package prefix, at the start", err)
	}
	if l.Method() != MethodNATPMP {
		t.Errorf("method %s after a failed renewal", l.Method())
	}
}

// Release removes exactly this mapping, counts one already gone as
// released, and never removes another host's.
func TestLeaseRelease(t *testing.T) {
	f := newFakeIGD(t, "v2")
	r := igdRouter(t, f)
	l, err := Map(t.Context(), r, MapRequest{Mapping: Mapping{Protocol: TCP, InternalPort: 1234}})
	if err != nil {
		t.Fatal(err)
	}
	f.set(func(f *fakeIGD) { f.table = nil })
	if err := l.Release(t.Context()); err != nil {
		t.Errorf("release of a mapping already gone: %v", err)
	}

	l, err = Map(t.Context(), r, MapRequest{Mapping: Mapping{Protocol: TCP, InternalPort: 1234}})
	if err != nil {
		t.Fatal(err)
	}
	f.set(func(f *fakeIGD) {
		f.table = []fakeEntry{{proto: "TCP", ext: 1234, intern: 1234, client: otherLAN.String()}}
	})
	if err := l.Release(t.Context()); !errors.Is(err, ErrNotOurs) {
		t.Errorf("release over another host's mapping: %v, want ErrNotOurs", err)
	}
	if e := f.entries(); len(e) != 1 || e[0].client != otherLAN.String() {
		t.Errorf("another host's mapping was touched: %+v", e)
	}
}

// PCP's MAP reply carries the external address: no second MAP to ask it.
func TestLeasePCPExternalAddrFromReply(t *testing.T) {
	f := newFakeGateway(t, pcpRouter)
	c, _ := newTestPCP(f)
	r := &Router{Gateway: loopback, LocalIP: loopback, Services: []Mapper{c}}
	l, err := Map(t.Context(), r, MapRequest{Mapping: Mapping{Protocol: UDP, InternalPort: 5000, Lease: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	sent := len(f.requests())
	if ext, err := l.ExternalAddr(t.Context()); err != nil || ext != wan {
		t.Errorf("external %v, %v", ext, err)
	}
	if n := len(f.requests()) - sent; n != 0 {
		t.Errorf("ExternalAddr sent %d requests, want none", n)
	}
	if !l.Moved() || l.Mapping().ExternalPort != 40000 {
		t.Errorf("granted %+v, moved %v: the router gave port 40000", l.Mapping(), l.Moved())
	}
	rn, err := l.Renew(t.Context())
	if err != nil || rn.Moved || rn.Mapping.ExternalPort != 40000 {
		t.Errorf("renew = %+v, %v", rn, err)
	}
	if err := l.Release(t.Context()); err != nil {
		t.Errorf("release: %v", err)
	}
}
