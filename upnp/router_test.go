package upnp

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// memMapper is a Mapper held in memory, for the decisions of Router and
// Lease without a network.
type memMapper struct {
	method Method
	ext    netip.Addr

	mu    sync.Mutex
	table map[uint16]Mapping
	fails []error // returned by the next Adds, in order
	adds  int
}

func newMemMapper(m Method) *memMapper {
	return &memMapper{method: m, ext: wan, table: map[uint16]Mapping{}}
}

func (m *memMapper) Method() Method { return m.method }

func (m *memMapper) ExternalAddr(context.Context) (netip.Addr, error) { return m.ext, nil }

func (m *memMapper) Add(_ context.Context, want Mapping) (Mapping, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.adds++
	if len(m.fails) > 0 {
		err := m.fails[0]
		m.fails = m.fails[1:]
		return Mapping{}, err
	}
	want.Enabled = true
	m.table[want.ExternalPort] = want
	return want, nil
}

func (m *memMapper) Delete(_ context.Context, want Mapping) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.table[want.ExternalPort]; !ok {
		return ErrNoSuchMapping
	}
	delete(m.table, want.ExternalPort)
	return nil
}

func (m *memMapper) has(port uint16) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.table[port]
	return ok
}

func (m *memMapper) failNext(errs ...error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fails = append(m.fails, errs...)
}

func TestParseFamily(t *testing.T) {
	for in, want := range map[string]Family{"": FamilyAuto, "auto": FamilyAuto, "UPnP": FamilyUPnP, "igd": FamilyUPnP,
		"pcp": FamilyPCP, "NAT-PMP": FamilyNATPMP, "natpmp": FamilyNATPMP} {
		if got, err := ParseFamily(in); err != nil || got != want {
			t.Errorf("ParseFamily(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseFamily("stun"); err == nil || strings.Contains(err.Error(), "--") {
		t.Errorf("ParseFamily(stun) err = %v, want an error naming no flag", err)
	}
	for m, want := range map[Method]Family{MethodIGD1: FamilyUPnP, MethodIGD2: FamilyUPnP, MethodUPnP: FamilyUPnP,
		MethodPCP: FamilyPCP, MethodNATPMP: FamilyNATPMP, MethodNone: FamilyAuto} {
		if got := m.Fam(); got != want {
			t.Errorf("%s.Fam() = %q, want %q", m, got, want)
		}
	}
}

func TestRouterPick(t *testing.T) {
	igd, pmp := newMemMapper(MethodIGD2), newMemMapper(MethodNATPMP)
	noPCP := errors.New("upnp: no pcp reply from the gateway (PCP off or not supported)")
	r := &Router{Gateway: netip.MustParseAddr("192.168.1.1"), Services: []Mapper{igd, pmp},
		Missing: map[Family]error{FamilyPCP: noPCP}}
	for f, want := range map[Family]Mapper{FamilyAuto: igd, FamilyUPnP: igd, FamilyNATPMP: pmp} {
		if got, err := r.Pick(f); err != nil || got != want {
			t.Errorf("Pick(%q) = %v, %v", f, got, err)
		}
	}
	_, err := r.Pick(FamilyPCP)
	if err == nil || !errors.Is(err, noPCP) || err.Error() != "upnp: the router at 192.168.1.1 does not answer PCP: no pcp reply from the gateway (PCP off or not supported)" {
		t.Errorf("Pick(pcp) err = %v, want why PCP is missing", err)
	}
	if r.Err() != nil {
		t.Errorf("Err = %v with services", r.Err())
	}
	none := &Router{Gateway: r.Gateway, Missing: map[Family]error{FamilyUPnP: ErrNoIGD, FamilyPCP: noPCP}}
	_, err = none.Pick(FamilyAuto)
	if !errors.Is(err, ErrNoMappingService) || err.Error() != none.Err().Error() {
		t.Errorf("Pick(auto) without services: %v, want Err()", err)
	}
	if msg := none.Err().Error(); strings.Count(msg, "upnp:") != 1 ||
		!strings.HasSuffix(msg, " on 192.168.1.1 (UPnP IGD: no UPnP IGD answered on the gateway; PCP: no pcp reply from the gateway (PCP off or not supported))") {
		t.Errorf("Err = %q, want each family's reason once, one package prefix", msg)
	}
}

// FindRouter keeps a service that answered with a result code (a router
// behind another NAT) as a service, with the answer as evidence.
func TestFindRouterKeepsAnswers(t *testing.T) {
	f := newFakeGateway(t, func(req []byte) []fakeReply {
		return one(natpmpReply(req[1], uint16(NATPMPNetworkFailure)))
	})
	cfg := Config{Gateway: loopback, NATPMPPort: f.port, Multicast: "off", CacheDir: "off", Only: string(FamilyNATPMP)}
	r, err := FindRouter(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Services) != 1 || r.Services[0].Method() != MethodNATPMP {
		t.Fatalf("services = %v, want NAT-PMP", r.Services)
	}
	if Kind(r.Answers[FamilyNATPMP]) != KindNoExternalAddress {
		t.Errorf("answers = %v, want NAT-PMP result 3 kept", r.Answers)
	}
	if _, probed := r.Missing[FamilyUPnP]; probed || len(r.Missing) != 0 {
		t.Errorf("missing = %v, want no family (only NAT-PMP probed)", r.Missing)
	}
	if r.Config.NATPMPPort != f.port {
		t.Error("router does not keep the Config it was found with")
	}
}

func TestFindRouterWithIGD(t *testing.T) {
	fi := newFakeIGD(t, "v2")
	r, err := FindRouter(t.Context(), fi.config())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Services) != 1 || r.Services[0].Method() != MethodIGD2 || r.Err() != nil {
		t.Fatalf("services = %v, err %v", r.Services, r.Err())
	}
	if r.Missing[FamilyPCP] == nil || r.Missing[FamilyNATPMP] == nil {
		t.Errorf("missing = %v, want reasons for PCP and NAT-PMP", r.Missing)
	}
	if _, err := r.Pick(FamilyPCP); err == nil {
		t.Error("Pick(pcp) succeeded on a router without PCP")
	}
}

func TestRenewEvery(t *testing.T) {
	for lease, want := range map[time.Duration]time.Duration{
		0: reassertEvery, time.Second: 500 * time.Millisecond, time.Hour: reassertEvery, 6 * time.Minute: 3 * time.Minute,
	} {
		l := &Lease{got: Mapping{Lease: lease}}
		if got := l.RenewEvery(); got != want {
			t.Errorf("lease %v: RenewEvery = %v, want %v", lease, got, want)
		}
	}
}
