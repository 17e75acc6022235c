package upnp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// One row per error a user can meet: its kind and its one-line summary.
func TestKindAndSummary(t *testing.T) {
	holder := Mapping{Protocol: TCP, ExternalPort: 1234, InternalIP: otherLAN, InternalPort: 22, Description: "nas"}
	goupnpTimeout := &wrapped{msg: `AddPortMapping at http://192.168.1.1:5000/ctl/IPConn: goupnp: error performing SOAP HTTP request: Post "http://192.168.1.1:5000/ctl/IPConn": context deadline exceeded`, err: context.DeadlineExceeded}
	for _, tt := range []struct {
		name    string
		err     error
		kind    FailureKind
		summary string
	}{
		{"606", &SOAPError{Code: 606, Action: "AddPortMapping", Description: "Action not authorized"}, KindNotAuthorized, "router refused the mapping: UPnP 606, not authorized"},
		{"401", &SOAPError{Code: 401, Action: "AddPortMapping"}, KindUnsupported, "router refused the mapping: UPnP 401, action not implemented"},
		{"724", &SOAPError{Code: 724, Action: "AddPortMapping"}, KindUnsupported, "router refused the mapping: UPnP 724, external port must equal internal port"},
		{"728", &SOAPError{Code: 728, Action: "AddPortMapping"}, KindNoResources, "router refused the mapping: UPnP 728, mapping table full"},
		{"501", &SOAPError{Code: 501, Action: "AddPortMapping"}, KindRefused, "router refused the mapping: UPnP 501, action failed"},
		{"501 WAN down", &noExternalError{&SOAPError{Code: 501, Action: "AddPortMapping"}}, KindNoExternalAddress, "router refused the mapping: UPnP 501, action failed, no external address"},
		{"718 named", &ConflictError{Holder: holder, Free: 1235}, KindConflict, "port 1234/tcp is already forwarded to 192.168.1.20:22 (1235 is free)"},
		{"718 anonymous", &ConflictError{Holder: Mapping{Protocol: UDP, ExternalPort: 9}}, KindConflict, "port 9/udp is held by another host"},
		{"not ours", &NotOursError{Holder: holder}, KindConflict, "port 1234/tcp is forwarded to 192.168.1.20:22, not to this host"},
		{"nat-pmp 3", &NATPMPError{Result: NATPMPNetworkFailure}, KindNoExternalAddress, "router refused: NAT-PMP result 3, network failure: no external address"},
		{"nat-pmp 2", &NATPMPError{Result: NATPMPNotAuthorized}, KindNotAuthorized, "router refused: NAT-PMP result 2, not authorized"},
		{"pcp 7", &PCPError{Code: PCPNetworkFailure}, KindNoExternalAddress, "router refused: PCP NETWORK_FAILURE (result 7)"},
		{"pcp 8", &PCPError{Code: PCPNoResources}, KindNoResources, "router refused: PCP NO_RESOURCES (result 8)"},
		{"pcp 9", &PCPError{Code: PCPUnsuppProtocol}, KindUnsupported, "router refused: PCP UNSUPP_PROTOCOL (result 9)"},
		{"pcp silent", fmt.Errorf("upnp: pcp announce to 192.168.1.1:5351: no reply within 500ms: %w", ErrPCPNoReply), KindUnanswered, "no PCP reply from the router"},
		{"nat-pmp silent", ErrNATPMPNoReply, KindUnanswered, "no NAT-PMP reply from the router"},
		{"goupnp timeout", goupnpTimeout, KindUnanswered, "the router did not answer in time"},
		{"ctrl-c", fmt.Errorf("upnp: x: %w", context.Canceled), KindUnanswered, "cancelled before the router answered"},
		{"no gateway", ErrNoGateway, KindOther, "no default gateway"},
		{"no service", fmt.Errorf("%w on 192.168.1.1", ErrNoMappingService), KindUnanswered, "no port-mapping service answered on the router"},
		{"transport", errors.New(`AddPortMapping at http://x/: goupnp: error performing SOAP HTTP request: Post "http://x/": dial tcp: connection refused`),
			KindOther, "AddPortMapping at http://x/"},
	} {
		wrappedErr := fmt.Errorf("upnp: add mapping 1234/tcp -> 192.168.1.10:1234 on 192.168.1.1: %w", tt.err)
		for _, err := range []error{tt.err, wrappedErr} {
			if got := Kind(err); got != tt.kind {
				t.Errorf("%s: Kind = %q, want %q", tt.name, got, tt.kind)
			}
			s := Summary(err)
			if s != tt.summary && !(err == wrappedErr && s == "add mapping 1234/tcp -> 192.168.1.10:1234 on 192.168.1.1: "+tt.summary) {
				t.Errorf("%s: Summary = %q, want %q", tt.name, s, tt.summary)
			}
			if len(s) > maxSummary || strings.Contains(s, "upnp:") || strings.Contains(s, "goupnp") {
				t.Errorf("%s: Summary %q too long or carries a prefix or library text", tt.name, s)
			}
		}
	}
	if Kind(nil) != "" || Summary(nil) != "" {
		t.Error("nil error has a kind or summary")
	}
	long := errors.New("upnp: " + strings.Repeat("word ", 40))
	if s := Summary(long); len(s) > maxSummary || !strings.HasSuffix(s, "...") {
		t.Errorf("long Summary = %q", s)
	}
}

// A router that refuses with ActionFailed and reports no external address
// (miniupnpd behind another NAT) gives a no-external-address failure, and
// the service does not hand over: NAT-PMP would say the same.
func TestMapActionFailedWithoutExternalAddress(t *testing.T) {
	f := newFakeIGD(t, "v2")
	f.set(func(f *fakeIGD) { f.externalIP = ""; f.faults["AddPortMapping"] = []int{501} })
	_, err := Map(t.Context(), igdRouter(t, f), MapRequest{Mapping: Mapping{Protocol: TCP, InternalPort: 4200}})
	if Kind(err) != KindNoExternalAddress || !strings.Contains(err.Error(), "UPnP error 501") || !strings.Contains(err.Error(), "no external address") {
		t.Errorf("err = %v (kind %s), want no-external-address", err, Kind(err))
	}
	f.set(func(f *fakeIGD) { f.externalIP = "11.0.0.2"; f.faults["AddPortMapping"] = []int{501} })
	if _, err := Map(t.Context(), igdRouter(t, f), MapRequest{Mapping: Mapping{Protocol: TCP, InternalPort: 4200}}); Kind(err) != KindRefused {
		t.Errorf("501 with an external address: kind %s, want refused", Kind(err))
	}
}

// The package prefix is said once, at the start of a chain; no error
// names a flag.
func TestErrorTextsPrefixOnceNoFlags(t *testing.T) {
	f := newFakeIGD(t, "v2")
	f.addEntry(fakeEntry{proto: "TCP", ext: 1234, intern: 22, client: otherLAN.String(), desc: "nas"})
	r := igdRouter(t, f)
	_, conflict := Map(t.Context(), r, MapRequest{Mapping: Mapping{Protocol: TCP, InternalPort: 1234}})
	f.failNext("AddPortMapping", CodeNotAuthorized)
	_, refused := Map(t.Context(), r, MapRequest{Mapping: Mapping{Protocol: TCP, InternalPort: 2000}})
	_, noPort := Map(t.Context(), r, MapRequest{Mapping: Mapping{Protocol: TCP}})
	_, pick := r.Pick(FamilyPCP)
	notOurs := r.Services[0].Delete(t.Context(), Mapping{Protocol: TCP, ExternalPort: 1234, InternalPort: 1234})
	none := (&Router{Gateway: loopback, Missing: map[Family]error{FamilyUPnP: ErrNoIGD, FamilyPCP: ErrPCPNoReply, FamilyNATPMP: ErrNATPMPNoReply}}).Err()
	_, _, gw := FindGateway(t.Context(), Config{Gateway: netip.IPv4Unspecified()})
	for i, err := range []error{conflict, refused, noPort, pick, notOurs, none, gw, ErrNoGateway, ErrNoIGD} {
		if err == nil {
			t.Errorf("%d: no error", i)
			continue
		}
		msg := err.Error()
		if strings.Count(msg, "upnp:") != 1 || !strings.HasPrefix(msg, "upnp: ") || strings.Contains(msg, "--") {
			t.Errorf("%d: %q: want one leading package prefix and no flag names", i, msg)
		}
	}
}
