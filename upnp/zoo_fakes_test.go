package upnp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// The fakes of the router zoo that need more than a switch in fakeQuirks.

// twoWANDevices serves a description with two WANDevices, each with its
// own connection device: the first (a DSL port with no line) lists the
// disconnected WANIPConnection at /ctl/IPDown, the second the connected one.
func (f *fakeIGD) twoWANDevices(w http.ResponseWriter, r *http.Request) {
	wan := func(n int, ctl string) string {
		return fmt.Sprintf(`<device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>
<friendlyName>WAN %[1]d</friendlyName><UDN>uuid:5d3a8f2e-7c1b-4e0a-9f6d-2b8c4a1e3f8%[1]d</UDN>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
<friendlyName>WAN %[1]d connection</friendlyName><UDN>uuid:5d3a8f2e-7c1b-4e0a-9f6d-2b8c4a1e3f9%[1]d</UDN>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>
<serviceId>urn:upnp-org:serviceId:WANIPConn%[1]d</serviceId><SCPDURL>/WANIPCn.xml</SCPDURL>
<controlURL>%[2]s</controlURL><eventSubURL>/evt/%[1]d</eventSubURL></service></serviceList>
</device></deviceList></device>`, n, ctl)
	}
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	fmt.Fprintf(w, `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>0</minor></specVersion>
<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
<friendlyName>Dual WAN router</friendlyName><manufacturer>reach tests</manufacturer>
<UDN>%s</UDN><deviceList>%s%s</deviceList></device></root>`, fakeUUID, wan(1, "/ctl/IPDown"), wan(2, "/ctl/IPConn"))
}

// describedAs serves the fake's usual description changed by edit, with
// Content-Type ctype.
func (f *fakeIGD) describedAs(ctype string, edit func(string) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		fmt.Fprint(w, edit(f.descriptionXML("2", "/ctl/IPConn", "")))
	}
}

// withURLBase serves the description from a server of its own (another
// port of the router) whose URLBase names the control server, with
// control URLs relative to it: resolved against the description's URL
// instead, they reach a server that has no control URLs.
func withURLBase(f *fakeIGD, cfg *Config) {
	desc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := f.descriptionXML("2", "ctl/IPConn", "")
		d = strings.Replace(d, "</specVersion>", "</specVersion>\n<URLBase>"+f.http.URL+"/</URLBase>", 1)
		w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
		fmt.Fprint(w, d)
	}))
	f.t.Cleanup(desc.Close)
	f.set(func(f *fakeIGD) { f.quirks.location = desc.URL + "/igd/rootDesc.xml" })
}

// describe sets the description handler.
func describe(h func(f *fakeIGD) http.HandlerFunc) func(f *fakeIGD, cfg *Config) {
	return func(f *fakeIGD, cfg *Config) {
		f.set(func(f *fakeIGD) { f.descHandler = h(f) })
	}
}

// describeUnending is describe for a description that never ends: the
// fetch gives up after a short wait instead of the default's, so that the
// test ends soon. Only this profile gets it: a short bound on one that
// answers (300 KiB of it, under -race, in parallel) could expire first.
func describeUnending(h func(f *fakeIGD) http.HandlerFunc) func(f *fakeIGD, cfg *Config) {
	return func(f *fakeIGD, cfg *Config) {
		describe(h)(f, cfg)
		cfg.descTimeout = 200 * time.Millisecond
	}
}

// descriptionProfiles are the routers whose description is odd.
func descriptionProfiles() []zooProfile {
	latin1 := func(f *fakeIGD) http.HandlerFunc {
		return f.describedAs(`text/xml; charset="ISO-8859-1"`, func(d string) string {
			d = strings.Replace(d, `<?xml version="1.0"?>`, `<?xml version="1.0" encoding="ISO-8859-1"?>`, 1)
			return strings.Replace(d, "Fake router", "Routeur Bo\xeete", 1)
		})
	}
	return []zooProfile{
		{family: "router with URLBase", quirk: "relative control URLs resolved against URLBase",
			setup: igdZoo("v2", withURLBase), req: tcp1234, want: mapped(MethodIGD2)},
		{family: "ISP box", quirk: "description in ISO-8859-1",
			setup: igdZoo("v2", describe(latin1)), req: tcp1234, want: mapped(MethodIGD2).with(zooFound("Routeur Boîte"))},
		{family: "ISP box", quirk: "description served as application/octet-stream",
			setup: igdZoo("v2", describe(func(f *fakeIGD) http.HandlerFunc {
				return f.describedAs("application/octet-stream", func(d string) string { return "\xef\xbb\xbf\r\n" + d })
			})),
			req: tcp1234, want: mapped(MethodIGD2).with(zooFound("Fake router"))},
		{family: "ISP box", quirk: "description that never finishes",
			setup: igdZoo("v2", describeUnending(func(f *fakeIGD) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					fmt.Fprint(w, `<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0">`)
					w.(http.Flusher).Flush()
					<-r.Context().Done()
				}
			})),
			req: tcp1234, want: noIGD(func(t *testing.T, err error) {
				if Kind(err) != KindUnanswered {
					t.Errorf("why UPnP was not found: %v (kind %s), want a timeout", err, Kind(err))
				}
			})},
		{family: "ISP box", quirk: "huge description",
			setup: igdZoo("v2", describe(func(f *fakeIGD) http.HandlerFunc {
				return f.describedAs("text/xml", func(d string) string {
					return strings.Replace(d, "<device>", "<device><!--"+strings.Repeat("x", 300<<10)+"-->", 1)
				})
			})),
			req: tcp1234, want: noIGD(func(t *testing.T, err error) {
				if !errors.Is(err, ErrResponseTooLarge) {
					t.Errorf("why UPnP was not found: %v, want ErrResponseTooLarge", err)
				}
			})},
		{family: "ISP box", quirk: "malformed description XML",
			setup: igdZoo("v2", describe(func(f *fakeIGD) http.HandlerFunc {
				return f.describedAs("text/xml", func(d string) string { return strings.Replace(d, "</friendlyName>", "</friendlyNam>", 1) })
			})),
			req: tcp1234, want: noIGD(errHas("not valid UPnP XML"))},
	}
}

// mikrotikZoo is a NAT-PMP router that refuses a map request suggesting
// external port 0 (it cannot pick one itself) and keeps a table.
func mikrotikZoo(t *testing.T) *zooRouter {
	var mu sync.Mutex
	table := map[uint16]uint16{} // internal -> external, UDP only
	f := newFakeGateway(t, func(req []byte) []fakeReply {
		if len(req) < 2 || req[0] != 0 {
			return nil
		}
		if req[1] == 0 {
			return one(natpmpReply(0, 0, 11, 0, 0, 2))
		}
		if len(req) < 12 || req[1] != 1 {
			return one(natpmpReply(req[1], uint16(NATPMPUnsupportedOpcode)))
		}
		internal, external, life := binary.BigEndian.Uint16(req[4:]), binary.BigEndian.Uint16(req[6:]), binary.BigEndian.Uint32(req[8:])
		mu.Lock()
		defer mu.Unlock()
		switch {
		case life == 0: // delete; RFC 6886 has the client send external port 0
			delete(table, internal)
			return one(natpmpReply(1, 0, natpmpMapBody(internal, 0, 0)...))
		case external == 0:
			return one(natpmpReply(1, uint16(NATPMPOutOfResources), natpmpMapBody(internal, 0, 0)...))
		}
		table[internal] = external
		return one(natpmpReply(1, 0, natpmpMapBody(internal, external, min(life, 3600))...))
	})
	r, err := FindRouter(t.Context(), Config{Gateway: loopback, LocalIP: loopback, NATPMPPort: f.port, Only: string(FamilyNATPMP), CacheDir: "off", Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	return &zooRouter{r: r, held: func() []Mapping {
		mu.Lock()
		defer mu.Unlock()
		var out []Mapping
		for in, ext := range table {
			out = append(out, Mapping{Protocol: UDP, ExternalPort: ext, InternalPort: in})
		}
		return out
	}}
}
