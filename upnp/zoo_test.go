package upnp

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The router zoo: one profile per device family, each showing the quirk
// that family is known for (the issue tracker named in docs/ROUTERS.md),
// written from the protocol facts, run through what a user runs: map, the
// renewal expose does, release on exit, and unmap's Delete. Each row
// asserts what the user gets: the mapping granted, or the failure's Kind
// and Summary.

// zooProfile is one router family and its quirk.
type zooProfile struct {
	family, quirk string
	setup         func(t *testing.T) *zooRouter
	req           MapRequest
	want          zooWant
}

// zooRouter is a router found the way reach finds one, and its table.
type zooRouter struct {
	r *Router
	// held lists the mappings the router holds for this host.
	held func() []Mapping
	// between is what the router does on its own between the mapping and
	// its renewal; nil for nothing.
	between func()
	igd     *fakeIGD
}

// zooWant is what the user gets.
type zooWant struct {
	method             Method
	external, internal uint16
	lease              time.Duration
	renew              RenewHow // zero means Renewed
	repaired           bool
	// kind and summary, when Map fails.
	kind    FailureKind
	summary string
	// check looks at the rest: l is nil when Map failed with err.
	check func(t *testing.T, zr *zooRouter, l *Lease, err error)
}

func TestRouterZoo(t *testing.T) {
	for _, p := range zooProfiles() {
		t.Run(p.family+"/"+p.quirk, func(t *testing.T) {
			t.Parallel()
			zr := p.setup(t)
			req := p.req
			req.Timeout = orDefault(req.Timeout, 2*time.Second)
			l, err := Map(t.Context(), zr.r, req)
			if p.want.kind != "" {
				if err == nil {
					t.Fatalf("Map = %+v, want a %s failure", l.Mapping(), p.want.kind)
				}
				if Kind(err) != p.want.kind || Summary(err) != p.want.summary {
					t.Errorf("Map failed with kind %q, summary %q; want %q, %q\n(error: %v)", Kind(err), Summary(err), p.want.kind, p.want.summary, err)
				}
				if p.want.check != nil {
					p.want.check(t, zr, nil, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Map: %v (kind %s, summary %q)", err, Kind(err), Summary(err))
			}
			got := l.Mapping()
			if l.Method() != p.want.method || got.ExternalPort != p.want.external || got.InternalPort != p.want.internal || got.Lease != p.want.lease {
				t.Errorf("granted %s %d -> %d lease %v; want %s %d -> %d lease %v", l.Method(), got.ExternalPort, got.InternalPort, got.Lease,
					p.want.method, p.want.external, p.want.internal, p.want.lease)
			}
			zr.wantHeld(t, "after Map", got, true)
			if p.want.check != nil {
				p.want.check(t, zr, l, nil)
			}

			if zr.between != nil {
				zr.between()
			}
			rn, err := l.Renew(t.Context())
			wantHow := p.want.renew
			if wantHow == "" {
				wantHow = Renewed
			}
			if err != nil || rn.How != wantHow || rn.Repaired != p.want.repaired || rn.Moved {
				t.Errorf("Renew = %+v, %v; want %s, repaired %v, not moved", rn, err, wantHow, p.want.repaired)
			}
			zr.wantHeld(t, "after Renew", got, true)

			if err := l.Release(t.Context()); err != nil {
				t.Errorf("Release: %v", err)
			}
			zr.wantHeld(t, "after Release", got, false)

			// unmap: this host's mapping on the port, by Delete.
			l, err = Map(t.Context(), zr.r, req)
			if err != nil {
				t.Fatalf("Map again: %v", err)
			}
			svc, err := l.Router().Pick(l.Method().Fam())
			if err != nil {
				t.Fatal(err)
			}
			m := Mapping{Protocol: got.Protocol, ExternalPort: got.ExternalPort, InternalIP: l.Router().LocalIP, InternalPort: got.InternalPort}
			if _, ok := svc.(Lister); ok {
				m.InternalPort = 0 // as unmap names it: this host's mapping, any internal port
			}
			if err := svc.Delete(t.Context(), m); err != nil {
				t.Errorf("Delete: %v", err)
			}
			zr.wantHeld(t, "after Delete", got, false)
			if _, ok := svc.(Lister); ok {
				if err := svc.Delete(t.Context(), m); !errors.Is(err, ErrNoSuchMapping) {
					t.Errorf("second Delete: %v, want ErrNoSuchMapping", err)
				}
			}
		})
	}
}

// wantHeld checks whether the router holds m for this host, with m's
// internal port.
func (zr *zooRouter) wantHeld(t *testing.T, when string, m Mapping, want bool) {
	t.Helper()
	found := false
	for _, h := range zr.held() {
		if h.Protocol == m.Protocol && h.ExternalPort == m.ExternalPort {
			found = true
			if h.InternalPort != m.InternalPort {
				t.Errorf("%s: the router forwards %d/%s to internal port %d, want %d", when, m.ExternalPort, m.Protocol, h.InternalPort, m.InternalPort)
			}
		}
	}
	if found != want {
		t.Errorf("%s: router holds %d/%s: %v, want %v (table %+v)", when, m.ExternalPort, m.Protocol, found, want, zr.held())
	}
}

// igdZoo starts a fake IGD of variant, lets quirk shape it, and finds it
// the way reach does (SSDP, description), UPnP only.
func igdZoo(variant string, quirk func(f *fakeIGD, cfg *Config)) func(t *testing.T) *zooRouter {
	return func(t *testing.T) *zooRouter {
		f := newFakeIGD(t, variant)
		cfg := f.config()
		cfg.Only = string(FamilyUPnP)
		cfg.LocalIP = igdLocal
		if quirk != nil {
			quirk(f, &cfg)
		}
		r, err := FindRouter(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return &zooRouter{r: r, igd: f, held: func() []Mapping {
			var out []Mapping
			for _, e := range f.entries() {
				if e.client == igdLocal.String() {
					out = append(out, Mapping{Protocol: Protocol(strings.ToLower(e.proto)), ExternalPort: e.ext, InternalPort: e.intern})
				}
			}
			return out
		}}
	}
}

// quirks sets the fake's quirks.
func quirks(q fakeQuirks) func(f *fakeIGD, cfg *Config) {
	return func(f *fakeIGD, cfg *Config) { f.set(func(f *fakeIGD) { f.quirks = q }) }
}

const (
	igd1ST = "urn:schemas-upnp-org:device:InternetGatewayDevice:1"
	hour   = time.Hour
)

// tcp1234 is the usual request: 1234/tcp for an hour.
var tcp1234 = MapRequest{Mapping: Mapping{Protocol: TCP, InternalPort: 1234, Lease: hour}}

// mapped is the usual grant of tcp1234.
func mapped(m Method) zooWant {
	return zooWant{method: m, external: 1234, internal: 1234, lease: hour}
}

// noIGD is what the user reads when the only router's IGD is unusable:
// nothing to map with; check looks at why UPnP was not found.
func noIGD(why func(t *testing.T, err error)) zooWant {
	return zooWant{kind: KindUnanswered, summary: "no port-mapping service answered on the router",
		check: func(t *testing.T, zr *zooRouter, _ *Lease, _ error) { why(t, zr.r.Missing[FamilyUPnP]) }}
}

// with is w with check added.
func (w zooWant) with(check func(t *testing.T, zr *zooRouter, l *Lease, err error)) zooWant {
	w.check = check
	return w
}

// describeIGD is Describe's state of the router's IGD.
func describeIGD(t *testing.T, r *Router) ServiceState {
	t.Helper()
	for _, st := range Describe(t.Context(), r, 2*time.Second) {
		if st.Method.Fam() == FamilyUPnP {
			return st
		}
	}
	t.Fatal("Describe lists no IGD")
	return ServiceState{}
}

// hasQuirk reports whether the IGD's state names a quirk containing s.
func hasQuirk(st ServiceState, s string) bool {
	for _, q := range st.Quirks {
		if strings.Contains(q, s) {
			return true
		}
	}
	return false
}

// errHas fails unless err's text contains every one of parts.
func errHas(parts ...string) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		for _, p := range parts {
			if err == nil || !strings.Contains(err.Error(), p) {
				t.Errorf("why UPnP was not found: %v; want it to say %q", err, p)
			}
		}
	}
}

// loopbackExternal: the router says its WAN is connected but reports a
// loopback external address, and refuses the mapping with ActionFailed.
func loopbackExternal(f *fakeIGD, cfg *Config) {
	f.set(func(f *fakeIGD) { f.externalIP = "127.0.0.1" })
	f.failNext("AddPortMapping", CodeActionFailed)
}

// unspecifiedExternal: a connected router that reports 0.0.0.0 and maps.
func unspecifiedExternal(f *fakeIGD, cfg *Config) {
	f.set(func(f *fakeIGD) { f.externalIP = "0.0.0.0" })
}

// notPublic checks that the lease and Describe give no external address.
func notPublic(reported string) func(t *testing.T, zr *zooRouter, l *Lease, err error) {
	return func(t *testing.T, zr *zooRouter, l *Lease, err error) {
		if ext, err := l.ExternalAddr(t.Context()); err != nil || !ext.IsUnspecified() {
			t.Errorf("lease's external address %v, %v; want none (unspecified)", ext, err)
		}
		st := describeIGD(t, zr.r)
		if st.Status != "Connected" || !st.External.IsUnspecified() || st.ReportedExternal != reported {
			t.Errorf("Describe: status %q, external %v, reported %q; want Connected, unspecified, %q", st.Status, st.External, st.ReportedExternal, reported)
		}
	}
}

func zooProfiles() []zooProfile {
	return append(discoveryProfiles(), append(mappingProfiles(), descriptionProfiles()...)...)
}

// discoveryProfiles are the routers that are hard to find.
func discoveryProfiles() []zooProfile {
	return []zooProfile{
		{family: "Eero", quirk: "SSDP answered on multicast only",
			setup: igdZoo("v2", func(f *fakeIGD, cfg *Config) {
				f.set(func(f *fakeIGD) { f.quirks.unicastSilent = true })
				cfg.Multicast = f.multicastGroup()
			}),
			req: tcp1234, want: mapped(MethodIGD2)},
		{family: "unnamed (tailscale #3557)", quirk: "ssdp:all answered with the first descriptor only",
			setup: igdZoo("v1", quirks(fakeQuirks{onlyST: igd1ST})),
			req:   tcp1234, want: mapped(MethodIGD1)},
		{family: "TP-Link ER605", quirk: "answers from another port; protocol names upper case only",
			setup: igdZoo("v1", func(f *fakeIGD, cfg *Config) {
				f.set(func(f *fakeIGD) { f.quirks = fakeQuirks{replyPort: f.otherPort(), upperCaseOnly: true} })
			}),
			req:  MapRequest{Mapping: Mapping{Protocol: UDP, InternalPort: 41641, Lease: hour}},
			want: zooWant{method: MethodIGD1, external: 41641, internal: 41641, lease: hour}},
		{family: "multi-interface router (tailscale #5502)", quirk: "LOCATION on another address of the gateway",
			setup: igdZoo("v2", func(f *fakeIGD, cfg *Config) {
				port := f.http.Listener.Addr().(interface{ String() string }).String()
				port = port[strings.LastIndexByte(port, ':')+1:]
				f.set(func(f *fakeIGD) {
					f.quirks.locationHost = "127.0.0.3"
					f.controlURL = "http://127.0.0.3:" + port + "/ctl/IPConn"
				})
			}),
			req: tcp1234, want: mapped(MethodIGD2).with(func(t *testing.T, zr *zooRouter, l *Lease, _ error) {
				st := describeIGD(t, zr.r)
				if !strings.Contains(st.AnnouncedLocation, "127.0.0.3") || !strings.Contains(st.Location, "127.0.0.1") ||
					!strings.Contains(st.ControlURL, "127.0.0.1") || !hasQuirk(st, "another address of its own") {
					t.Errorf("Describe: announced %q, location %q, control %q, quirks %q", st.AnnouncedLocation, st.Location, st.ControlURL, st.Quirks)
				}
			})},
		{family: "multi-interface router (tailscale #5502)", quirk: "LOCATION elsewhere, and the gateway's description is of another device",
			setup: igdZoo("v2", quirks(fakeQuirks{locationHost: "127.0.0.3", usn: "uuid:00000000-0000-4000-8000-00000000beef"})),
			req:   tcp1234, want: noIGD(errHas("127.0.0.3", "of another device", "refusing"))},
	}
}

// mappingProfiles are the routers that map oddly.
func mappingProfiles() []zooProfile {
	return []zooProfile{
		{family: "DSL router", quirk: "WANPPPConnection only",
			setup: igdZoo("ppp", nil), req: tcp1234, want: mapped(MethodIGD1)},
		{family: "DSL router", quirk: "disconnected WANIPConnection listed before the WANPPPConnection",
			setup: igdZoo("dual", nil), req: tcp1234, want: mapped(MethodIGD1)},
		{family: "dual-WAN router", quirk: "two WANDevices, the first one down",
			setup: igdZoo("v1", func(f *fakeIGD, cfg *Config) { f.set(func(f *fakeIGD) { f.descHandler = f.twoWANDevices }) }),
			req:   tcp1234, want: mapped(MethodIGD1)},
		{family: "unnamed (tailscale #9343)", quirk: "725 OnlyPermanentLeasesSupported",
			setup: igdZoo("v1", func(f *fakeIGD, cfg *Config) { f.set(func(f *fakeIGD) { f.onlyPermanent = true }) }),
			req:   tcp1234, want: zooWant{method: MethodIGD1, external: 1234, internal: 1234, lease: 0}.with(permanent("725"))},
		{family: "unnamed (tailscale #15223)", quirk: "402 Invalid Args for any lease but 0",
			setup: igdZoo("v2", quirks(fakeQuirks{leaseArgs: true})),
			req:   tcp1234, want: zooWant{method: MethodIGD2, external: 1234, internal: 1234, lease: 0}.with(permanent("402"))},
		{family: "MikroTik RouterOS", quirk: "NAT-PMP refuses external port 0",
			setup: mikrotikZoo, req: MapRequest{Mapping: Mapping{Protocol: UDP, InternalPort: 5000, Lease: hour}},
			want: zooWant{method: MethodNATPMP, external: 5000, internal: 5000, lease: hour}},
		{family: "unnamed (tailscale #18348)", quirk: "a refresh rewrites the internal port to the external one",
			setup: igdZoo("v2", quirks(fakeQuirks{rewriteOnRefresh: true})),
			req:   MapRequest{Mapping: Mapping{Protocol: TCP, ExternalPort: 40000, InternalPort: 5000, Lease: hour}},
			want:  zooWant{method: MethodIGD2, external: 40000, internal: 5000, lease: hour, repaired: true}},
		{family: "ASUS", quirk: "clears its table when it holds more than 20 entries",
			setup: func(t *testing.T) *zooRouter {
				zr := igdZoo("v2", func(f *fakeIGD, cfg *Config) {
					for i := range 20 {
						f.addEntry(fakeEntry{proto: "UDP", ext: uint16(30000 + i), intern: 30000, client: otherLAN.String(), desc: "game"})
					}
				})(t)
				zr.between = func() {
					zr.igd.set(func(f *fakeIGD) {
						if len(f.table) > 20 {
							f.table = nil
						}
					})
				}
				return zr
			},
			req: tcp1234, want: zooWant{method: MethodIGD2, external: 1234, internal: 1234, lease: hour, renew: ReCreated}},
		{family: "unnamed (tailscale corp#23538)", quirk: "loopback external address while Connected, 501 on add",
			setup: igdZoo("v2", loopbackExternal), req: tcp1234,
			want: zooWant{kind: KindNoExternalAddress, summary: "router refused the mapping: UPnP 501, action failed, no external address"}},
		{family: "unnamed (tailscale corp#23538)", quirk: "external address 0.0.0.0 while Connected, mapping accepted",
			setup: igdZoo("v2", unspecifiedExternal), req: tcp1234, want: mapped(MethodIGD2).with(notPublic(""))},
		{family: "unnamed (tailscale corp#23538)", quirk: "loopback external address while Connected, mapping accepted",
			setup: igdZoo("v2", func(f *fakeIGD, cfg *Config) { f.set(func(f *fakeIGD) { f.externalIP = "127.0.0.1" }) }),
			req:   tcp1234, want: mapped(MethodIGD2).with(notPublic("127.0.0.1"))},
		{family: "ISP box", quirk: "SOAP fault without a UPnPError",
			setup: igdZoo("v2", quirks(fakeQuirks{bareFault: "fault"})), req: tcp1234,
			want: zooWant{kind: KindRefused, summary: "router refused the mapping, no UPnP error code (Internal Error)"}},
		{family: "ISP box", quirk: "HTTP 500 with no SOAP body",
			setup: igdZoo("v2", quirks(fakeQuirks{bareFault: "http500"})), req: tcp1234,
			want: zooWant{kind: KindOther, summary: "router answered AddPortMapping with HTTP 500 Internal Server Error, no UPnP fault"}},
	}
}

// permanent checks that the lease is permanent and the quirk is named.
func permanent(code string) func(t *testing.T, zr *zooRouter, l *Lease, err error) {
	return func(t *testing.T, zr *zooRouter, l *Lease, err error) {
		if !l.Permanent() || l.RenewEvery() != reassertEvery {
			t.Errorf("permanent %v, renew every %v; want a permanent mapping reasserted every %v", l.Permanent(), l.RenewEvery(), reassertEvery)
		}
		if st := describeIGD(t, zr.r); !hasQuirk(st, "UPnP "+code) {
			t.Errorf("quirks %q do not name UPnP %s", st.Quirks, code)
		}
	}
}

// zooFound checks that the IGD was found and names itself as given.
func zooFound(name string) func(t *testing.T, zr *zooRouter, l *Lease, err error) {
	return func(t *testing.T, zr *zooRouter, l *Lease, err error) {
		if st := describeIGD(t, zr.r); st.Identity.FriendlyName != name {
			t.Errorf("friendly name %q, want %q", st.Identity.FriendlyName, name)
		}
	}
}
