package upnp

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	igdLocal = netip.MustParseAddr("127.0.0.1")
	otherLAN = netip.MustParseAddr("192.168.1.20")
)

// openFake discovers the fake's IGD the way Discover does (SSDP, then the
// description), without the PCP and NAT-PMP probes.
func openFake(t *testing.T, f *fakeIGD) *IGD {
	t.Helper()
	cfg := f.config()
	igd, _, err := discoverIGD(context.Background(), cfg, cfg.Gateway, igdLocal)
	if err != nil {
		t.Fatal(err)
	}
	return igd
}

func TestIGDVariants(t *testing.T) {
	for _, tt := range []struct {
		variant string
		method  Method
		service string
	}{
		{"v2", MethodIGD2, "urn:schemas-upnp-org:service:WANIPConnection:2"},
		{"v1", MethodIGD1, "urn:schemas-upnp-org:service:WANIPConnection:1"},
		{"ppp", MethodIGD1, "urn:schemas-upnp-org:service:WANPPPConnection:1"},
	} {
		t.Run(tt.variant, func(t *testing.T) {
			f := newFakeIGD(t, tt.variant)
			igd := openFake(t, f)
			if igd.Method() != tt.method || igd.ServiceType() != tt.service {
				t.Errorf("method, service = %s, %s; want %s, %s", igd.Method(), igd.ServiceType(), tt.method, tt.service)
			}
			if got, want := igd.ControlURL().String(), f.http.URL+"/ctl/IPConn"; got != want {
				t.Errorf("control URL = %s, want %s", got, want)
			}
			if igd.Server() != "Debian/12 UPnP/1.1 MiniUPnPd/2.3.1" || igd.FriendlyName() != "Fake router" {
				t.Errorf("server, name = %q, %q", igd.Server(), igd.FriendlyName())
			}
			ctx := context.Background()
			ext, err := igd.ExternalAddr(ctx)
			if err != nil || ext != netip.MustParseAddr("11.0.0.2") {
				t.Errorf("ExternalAddr = %v, %v; want 11.0.0.2", ext, err)
			}
			st, err := igd.ConnectionStatus(ctx)
			if err != nil || st.Status != "Connected" || st.Uptime != 4242*time.Second {
				t.Errorf("ConnectionStatus = %+v, %v", st, err)
			}
			got, err := igd.Add(ctx, Mapping{Protocol: UDP, InternalPort: 1234, Lease: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			want := Mapping{Protocol: UDP, ExternalPort: 1234, InternalIP: igdLocal, InternalPort: 1234,
				Description: "reach", Lease: time.Hour, Enabled: true}
			if got != want {
				t.Errorf("Add granted %+v, want %+v", got, want)
			}
			if e := f.entries(); len(e) != 1 || e[0].proto != "UDP" || e[0].client != "127.0.0.1" || e[0].lease != 3600 {
				t.Errorf("router table = %+v", e)
			}
			if err := igd.Delete(ctx, Mapping{Protocol: UDP, ExternalPort: 1234, InternalPort: 1234}); err != nil {
				t.Fatal(err)
			}
			if e := f.entries(); len(e) != 0 {
				t.Errorf("router table after Delete = %+v", e)
			}
		})
	}
}

func TestAddIsIdempotent(t *testing.T) {
	f := newFakeIGD(t, "v2")
	igd := openFake(t, f)
	m := Mapping{Protocol: TCP, ExternalPort: 8080, InternalPort: 1234, Lease: time.Hour}
	for i := 0; i < 2; i++ {
		if _, err := igd.Add(context.Background(), m); err != nil {
			t.Fatalf("Add #%d: %v", i+1, err)
		}
	}
	if e := f.entries(); len(e) != 1 || e[0].ext != 8080 || e[0].intern != 1234 {
		t.Errorf("router table after two Adds = %+v, want one 8080 -> 1234", e)
	}
}

func TestAddOnlyPermanentLeases(t *testing.T) {
	f := newFakeIGD(t, "v1")
	f.set(func(f *fakeIGD) { f.onlyPermanent = true })
	igd := openFake(t, f)
	got, err := igd.Add(context.Background(), Mapping{Protocol: TCP, InternalPort: 1234, Lease: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got.Lease != 0 {
		t.Errorf("granted lease = %v, want 0 (permanent) after UPnP 725", got.Lease)
	}
	if n := f.calls("AddPortMapping"); n != 2 {
		t.Errorf("AddPortMapping called %d times, want 2 (lease 3600, then 0)", n)
	}
	if e := f.entries(); len(e) != 1 || e[0].lease != 0 {
		t.Errorf("router table = %+v", e)
	}
}

func TestAddConflictNamesHolder(t *testing.T) {
	f := newFakeIGD(t, "v2")
	f.addEntry(fakeEntry{proto: "TCP", ext: 1234, intern: 22, client: otherLAN.String(), desc: "nas ssh", lease: 0})
	igd := openFake(t, f)
	_, err := igd.Add(context.Background(), Mapping{Protocol: TCP, InternalPort: 1234})
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *ConflictError", err)
	}
	if ce.Holder.InternalIP != otherLAN || ce.Holder.InternalPort != 22 || ce.Holder.Description != "nas ssh" {
		t.Errorf("holder = %+v", ce.Holder)
	}
	for _, s := range []string{"1234/tcp", "192.168.1.20:22", `"nas ssh"`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %s", err, s)
		}
	}
	if e := f.entries(); len(e) != 1 || e[0].client != otherLAN.String() {
		t.Errorf("the other host's mapping was touched: %+v", e)
	}
}

// A router that answers 718 even to the host that holds the port (some do,
// instead of refreshing): the mapping is replaced and Add succeeds.
func TestAddConflictWithOwnMappingRefreshes(t *testing.T) {
	f := newFakeIGD(t, "v2")
	f.addEntry(fakeEntry{proto: "TCP", ext: 1234, intern: 1234, client: "127.0.0.1", desc: "reach", lease: 10})
	f.failNext("AddPortMapping", CodeConflict)
	igd := openFake(t, f)
	got, err := igd.Add(context.Background(), Mapping{Protocol: TCP, InternalPort: 1234, Lease: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got.Lease != time.Hour {
		t.Errorf("lease after refresh = %v, want 1h", got.Lease)
	}
	if n := f.calls("DeletePortMapping"); n != 1 {
		t.Errorf("DeletePortMapping called %d times, want 1", n)
	}
}

// This host's mapping of the port for another program (a game server that
// mapped itself) is not overwritten: reach would delete it on exit.
func TestAddRefusesToTakeOverThisHostsOtherMapping(t *testing.T) {
	f := newFakeIGD(t, "v2")
	f.addEntry(fakeEntry{proto: "TCP", ext: 1234, intern: 25565, client: "127.0.0.1", desc: "minecraft", lease: 0})
	igd := openFake(t, f)
	_, err := igd.Add(context.Background(), Mapping{Protocol: TCP, InternalPort: 1234, Description: "reach 1234", Lease: time.Hour})
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Holder.InternalPort != 25565 || !strings.Contains(err.Error(), `"minecraft"`) {
		t.Fatalf("err = %v, want a conflict naming this host's minecraft mapping", err)
	}
	if n := f.calls("AddPortMapping"); n != 0 {
		t.Errorf("AddPortMapping sent %d times over another program's mapping", n)
	}
	if e := f.entries(); len(e) != 1 || e[0].intern != 25565 || e[0].desc != "minecraft" {
		t.Errorf("the other program's mapping was changed: %+v", e)
	}
}

// A router that reports lease 0 for every entry does not turn a leased
// mapping into a permanent one in reach's eyes (renewal would then ask for
// a permanent mapping).
func TestAddKeepsGrantedLeaseWhenRouterHidesIt(t *testing.T) {
	f := newFakeIGD(t, "v2")
	f.set(func(f *fakeIGD) { f.hidesLeases = true })
	igd := openFake(t, f)
	got, err := igd.Add(context.Background(), Mapping{Protocol: TCP, InternalPort: 1234, Lease: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got.Lease != time.Hour {
		t.Errorf("granted lease = %v, want the 1h asked for and accepted", got.Lease)
	}
}

func TestAddFaults(t *testing.T) {
	for _, tt := range []struct {
		code   int
		setup  func(f *fakeIGD)
		advice string
		kind   FailureKind
	}{
		{CodeSamePortValuesRequired, func(f *fakeIGD) { f.samePortOnly = true }, "external port to equal the internal port", KindUnsupported},
		{CodeNotAuthorized, func(f *fakeIGD) { f.faults["AddPortMapping"] = []int{606} }, "restricted in the router's settings", KindNotAuthorized},
		{CodeActionFailed, func(f *fakeIGD) { f.faults["AddPortMapping"] = []int{501} }, "WAN is not connected", KindRefused},
		{CodeInvalidAction, func(f *fakeIGD) { f.faults["AddPortMapping"] = []int{401} }, "does not implement", KindUnsupported},
	} {
		t.Run(strconv.Itoa(tt.code), func(t *testing.T) {
			f := newFakeIGD(t, "v2")
			f.set(tt.setup)
			igd := openFake(t, f)
			_, err := igd.Add(context.Background(), Mapping{Protocol: TCP, ExternalPort: 8080, InternalPort: 1234})
			var se *SOAPError
			if !errors.As(err, &se) || se.Code != tt.code || se.Action != "AddPortMapping" {
				t.Fatalf("err = %v, want a *SOAPError %d from AddPortMapping", err, tt.code)
			}
			if !strings.Contains(se.Advice(), tt.advice) || strings.Contains(err.Error(), se.Advice()) {
				t.Errorf("advice %q lacks %q, or error %q repeats it", se.Advice(), tt.advice, err)
			}
			want := "upnp: add mapping 8080/tcp -> 127.0.0.1:1234 on 127.0.0.1: router refused AddPortMapping: UPnP error " + strconv.Itoa(tt.code)
			if !strings.HasPrefix(err.Error(), want) || Kind(err) != tt.kind {
				t.Errorf("error %q (kind %s), want it to start %q, kind %s", err, Kind(err), want, tt.kind)
			}
		})
	}
}

func TestDeleteRefusesAnotherHostsMapping(t *testing.T) {
	f := newFakeIGD(t, "v2")
	f.addEntry(fakeEntry{proto: "TCP", ext: 1234, intern: 1234, client: otherLAN.String(), desc: "game"})
	igd := openFake(t, f)
	err := igd.Delete(context.Background(), Mapping{Protocol: TCP, ExternalPort: 1234, InternalPort: 1234})
	var no *NotOursError
	if !errors.Is(err, ErrNotOurs) || !errors.As(err, &no) || no.Holder.InternalIP != otherLAN {
		t.Fatalf("err = %v, want ErrNotOurs naming 192.168.1.20", err)
	}
	if n := f.calls("DeletePortMapping"); n != 0 {
		t.Errorf("DeletePortMapping was sent %d times", n)
	}
	if len(f.entries()) != 1 {
		t.Error("the other host's mapping is gone")
	}
}

func TestDeleteAbsentMapping(t *testing.T) {
	f := newFakeIGD(t, "v1")
	igd := openFake(t, f)
	err := igd.Delete(context.Background(), Mapping{Protocol: UDP, ExternalPort: 4000, InternalPort: 4000})
	if !errors.Is(err, ErrNoSuchMapping) {
		t.Fatalf("err = %v, want ErrNoSuchMapping", err)
	}
}

func TestMappingsWalksToTheEnd(t *testing.T) {
	f := newFakeIGD(t, "v2")
	for i := 0; i < 5; i++ {
		f.addEntry(fakeEntry{proto: "TCP", ext: uint16(9000 + i), intern: uint16(80 + i), client: otherLAN.String(), desc: "d", lease: uint32(60 * i)})
	}
	igd := openFake(t, f)
	got, err := igd.Mappings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("got %d mappings, want 5: %+v", len(got), got)
	}
	for i, m := range got {
		want := Mapping{Protocol: TCP, ExternalPort: uint16(9000 + i), InternalIP: otherLAN, InternalPort: uint16(80 + i),
			Description: "d", Lease: time.Duration(60*i) * time.Second, Enabled: true}
		if m != want {
			t.Errorf("mapping %d = %+v, want %+v", i, m, want)
		}
	}
	if n := f.calls("GetGenericPortMappingEntry"); n != 6 {
		t.Errorf("GetGenericPortMappingEntry called %d times, want 6 (5 entries + the 713 end)", n)
	}
}

func TestMappingsEmptyAndRefused(t *testing.T) {
	f := newFakeIGD(t, "v1")
	igd := openFake(t, f)
	got, err := igd.Mappings(context.Background())
	if err != nil || len(got) != 0 {
		t.Errorf("empty table: %v, %v", got, err)
	}
	f.failNext("GetGenericPortMappingEntry", CodeNotAuthorized)
	if _, err := igd.Mappings(context.Background()); faultCode(err) != CodeNotAuthorized {
		t.Errorf("refused listing: err = %v, want UPnP 606", err)
	}
}

func TestReplyMissingFields(t *testing.T) {
	f := newFakeIGD(t, "v2")
	f.addEntry(fakeEntry{proto: "TCP", ext: 9000, intern: 80, client: otherLAN.String()})
	f.set(func(f *fakeIGD) {
		f.omitFields["GetGenericPortMappingEntry"] = map[string]bool{"NewExternalPort": true}
		f.omitFields["GetExternalIPAddress"] = map[string]bool{"NewExternalIPAddress": true}
	})
	igd := openFake(t, f)
	_, err := igd.Mappings(context.Background())
	if err == nil || !strings.Contains(err.Error(), "missing a field") {
		t.Errorf("Mappings err = %v, want one saying the reply is missing a field", err)
	}
	// An empty external address is how routers say "not connected".
	ext, err := igd.ExternalAddr(context.Background())
	if err != nil || !ext.IsUnspecified() {
		t.Errorf("ExternalAddr = %v, %v; want 0.0.0.0, nil", ext, err)
	}
}

func TestExternalAddrNotAnIP(t *testing.T) {
	f := newFakeIGD(t, "v2")
	f.set(func(f *fakeIGD) { f.externalIP = "<script>" })
	igd := openFake(t, f)
	if _, err := igd.ExternalAddr(context.Background()); err == nil || !strings.Contains(err.Error(), "not an IP address") {
		t.Errorf("err = %v", err)
	}
}

// A DSL router lists a disconnected WANIPConnection before the connected
// WANPPPConnection: mappings must go to the connected one.
func TestIGDPicksConnectedService(t *testing.T) {
	f := newFakeIGD(t, "dual")
	igd := openFake(t, f)
	if igd.ServiceType() != "urn:schemas-upnp-org:service:WANPPPConnection:1" || !strings.HasSuffix(igd.ControlURL().Path, "/ctl/IPConn") {
		t.Fatalf("picked %s at %s, want the connected WANPPPConnection", igd.ServiceType(), igd.ControlURL())
	}
	if _, err := igd.Add(context.Background(), Mapping{Protocol: TCP, InternalPort: 1234}); err != nil {
		t.Fatal(err)
	}
	if n := f.calls("IPDown GetStatusInfo"); n != 1 {
		t.Errorf("the disconnected service was asked its status %d times, want 1", n)
	}
	if n := f.calls("IPDown AddPortMapping"); n != 0 {
		t.Errorf("the disconnected service got %d AddPortMapping", n)
	}
}

// unmap names the port: a mapping of this host to another port is another
// program's, and is left alone.
func TestDeleteRefusesThisHostsOtherPort(t *testing.T) {
	f := newFakeIGD(t, "v2")
	f.addEntry(fakeEntry{proto: "TCP", ext: 1234, intern: 25565, client: "127.0.0.1", desc: "minecraft"})
	igd := openFake(t, f)
	err := igd.Delete(context.Background(), Mapping{Protocol: TCP, ExternalPort: 1234, InternalPort: 1234})
	var no *NotOursError
	if !errors.As(err, &no) || !no.SameHost || !strings.Contains(err.Error(), "this host's port 25565") || !strings.Contains(no.Advice(), "internal port 25565") {
		t.Fatalf("err = %v (advice %q), want a refusal that names internal port 25565", err, no.Advice())
	}
	if len(f.entries()) != 1 {
		t.Error("this host's other mapping is gone")
	}
	if err := igd.Delete(context.Background(), Mapping{Protocol: TCP, ExternalPort: 1234, InternalPort: 25565}); err != nil {
		t.Errorf("delete naming the right internal port: %v", err)
	}
}

// An HTTP error without a SOAP fault (an empty 500, a router's HTML error
// page) is no refusal: the router may have made the mapping. Map deletes
// what it may have made, hands over to the next service only once the
// router is seen to hold nothing of it, and its error names the HTTP
// status.
func TestMapHTTPErrorWithoutFault(t *testing.T) {
	for _, tc := range []struct {
		name   string
		broken func(f *fakeIGD)
		status string // the HTTP status the IGD attempt's summary names
		undone bool   // the router had made the mapping, and Map deleted it
		handed bool   // NAT-PMP made the mapping after the IGD's failure
	}{
		{"500, no body, nothing made", func(f *fakeIGD) { f.quirks.bareFault = "http500" }, "HTTP 500 Internal Server Error", false, true},
		{"500, no body, mapping made", func(f *fakeIGD) { f.brokenAdds, f.broken = 1, "empty" }, "HTTP 500 Internal Server Error", true, true},
		{"500, HTML page, mapping made", func(f *fakeIGD) { f.brokenAdds, f.broken = 1, "page" }, "HTTP 500 Internal Server Error", true, true},
		{"503 to every action", func(f *fakeIGD) { f.pageAll = true }, "HTTP 503 Service Unavailable", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeIGD(t, "v2")
			r := igdRouter(t, f)
			pmp := newMemMapper(MethodNATPMP)
			r.Services = append(r.Services, pmp)
			f.set(tc.broken)
			var seen []Attempt
			l, err := Map(t.Context(), r, MapRequest{Mapping: Mapping{Protocol: TCP, InternalPort: 1234}, OnAttempt: attempts(&seen)})
			if len(seen) == 0 || seen[0].Method != MethodIGD2 {
				t.Fatalf("attempts %+v, want the IGD's first", seen)
			}
			igdErr := seen[0].Err
			if refusal(igdErr) || Kind(igdErr) == KindRefused {
				t.Errorf("IGD error %v is kind %s, a refusal; want a failure that may have made the mapping", igdErr, Kind(igdErr))
			}
			if s := Summary(igdErr); !strings.Contains(s, tc.status) || !strings.Contains(s, "AddPortMapping") {
				t.Errorf("summary %q does not name AddPortMapping and %s", s, tc.status)
			}
			var he *HTTPError
			if !errors.As(igdErr, &he) || !strings.Contains(he.Advice(), "try again") {
				t.Errorf("IGD error %v: want an *HTTPError with advice", igdErr)
			}
			if seen[0].Undone != tc.undone {
				t.Errorf("undone %v, want %v", seen[0].Undone, tc.undone)
			}
			f.set(func(f *fakeIGD) { f.pageAll = false })
			if e := f.entries(); len(e) != 0 {
				t.Errorf("the IGD still holds %+v after the failed add", e)
			}
			if tc.handed {
				if err != nil || l.Method() != MethodNATPMP || !pmp.has(1234) {
					t.Fatalf("Map = %v; want NAT-PMP's mapping after the IGD's HTTP error", err)
				}
				return
			}
			if err == nil || pmp.adds != 0 {
				t.Fatalf("Map = %v after %d NAT-PMP adds; want the IGD's failure and no hand-over: the router may hold the mapping", err, pmp.adds)
			}
			if s := Summary(err); !strings.Contains(s, tc.status) {
				t.Errorf("Map's summary %q does not name %s", s, tc.status)
			}
		})
	}
}

// The error page of a router with a SOAP fault inside is the fault: the
// transport that drops error pages keeps it.
func TestHasSOAPFault(t *testing.T) {
	for _, tc := range []struct {
		body string
		want bool
	}{
		{`<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode></s:Fault></s:Body></s:Envelope>`, true},
		{`<Envelope><Body><Fault/></Body></Envelope>`, true},
		{`<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body></s:Body></s:Envelope>`, false},
		{"<!DOCTYPE html>\n<html><body><h1>Service Unavailable</h1><br></body></html>", false},
		{"", false},
	} {
		if got := hasSOAPFault([]byte(tc.body)); got != tc.want {
			t.Errorf("hasSOAPFault(%q) = %v, want %v", tc.body, got, tc.want)
		}
	}
}
