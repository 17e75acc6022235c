package upnp

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeIGD is an in-process UPnP router on 127.0.0.1: an SSDP responder on a
// UDP port and an HTTP server for the root description and SOAP control.
// It keeps a port-mapping table like miniupnpd, can return faults on
// demand, and counts what it was asked.
type fakeIGD struct {
	t    testing.TB
	udp  *net.UDPConn
	http *httptest.Server

	// variant is "v1" (IGD:1 + WANIPConnection:1), "v2" (IGD:2 +
	// WANIPConnection:2), "ppp" (IGD:1 + WANPPPConnection:1) or "dual" (a
	// DSL router: IGD:1 with a disconnected WANIPConnection:1 at
	// /ctl/IPDown listed first, and the connected WANPPPConnection:1).
	variant string

	ssdpSearches atomic.Int32 // M-SEARCH datagrams received
	descFetches  atomic.Int32 // GETs of the root description

	mu            sync.Mutex
	ssdpSilent    bool                       // receive M-SEARCH but never answer
	preReplies    [][]byte                   // sent from the gateway socket before the real answer
	otherReplies  [][]byte                   // sent from otherSock (another LAN device) first
	otherSock     *net.UDPConn               // 127.0.0.2, if the test asked for one
	controlURL    string                     // overrides the relative control URL
	descHandler   http.HandlerFunc           // overrides the description
	faults        map[string][]int           // action -> fault codes to return, in order
	actions       map[string]int             // action -> times called
	table         []fakeEntry                // the port mappings, in creation order
	onlyPermanent bool                       // answer 725 to a lease other than 0
	hidesLeases   bool                       // report lease 0 for every entry, as many routers do
	samePortOnly  bool                       // answer 724 when external != internal port
	omitFields    map[string]map[string]bool // action -> reply fields left out
	externalIP    string
	loseAdds      int // AddPortMapping requests carried out whose answer never comes
	// brokenAdds AddPortMapping requests are carried out and then
	// answered as broken says (see answerBroken): a web server in front
	// of the UPnP daemon that fails after it acted.
	brokenAdds int
	broken     string
	// pageAll: every SOAP action is answered with HTTP 503 and an HTML
	// page, and none is carried out (the UPnP daemon is down).
	pageAll bool

	quirks fakeQuirks // the router family's oddities (see zoo_test.go)
}

// fakeQuirks are the oddities of real routers the fake can show; the zero
// value is a well-behaved miniupnpd.
type fakeQuirks struct {
	// unicastSilent: M-SEARCH sent to the router itself goes unanswered;
	// only the multicast group (the socket mcast) gets answers.
	unicastSilent bool
	// replyPort: answers leave from this socket's port, not the one the
	// search went to (1900 on a real router).
	replyPort *net.UDPConn
	// onlyST: answer only a search for exactly this target; "ssdp:all"
	// gets the first descriptor only (upnp:rootdevice).
	onlyST string
	// locationHost: the LOCATION names this address (another interface of
	// the router) instead of the one the description is served on.
	locationHost string
	// location overrides the description URL the answers carry.
	location string
	// usn is the uuid the SSDP answer's USN carries; empty means the
	// description's UDN.
	usn string
	// upperCaseOnly: AddPortMapping with a protocol not spelled "TCP" or
	// "UDP" gets 402 Invalid Args.
	upperCaseOnly bool
	// leaseArgs: AddPortMapping with a lease other than 0 gets 402.
	leaseArgs bool
	// rewriteOnRefresh: refreshing an entry sets its internal port to the
	// external port.
	rewriteOnRefresh bool
	// bareFault: AddPortMapping gets a SOAP fault without a UPnPError
	// ("fault") or an HTTP 500 with no body ("http500").
	bareFault string
}

type fakeEntry struct {
	proto       string
	ext, intern uint16
	client      string
	desc        string
	lease       uint32
}

func newFakeIGD(t testing.TB, variant string) *fakeIGD {
	t.Helper()
	f := &fakeIGD{t: t, variant: variant, faults: map[string][]int{}, actions: map[string]int{},
		omitFields: map[string]map[string]bool{}, externalIP: "11.0.0.2"}
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	f.udp = udp
	mux := http.NewServeMux()
	mux.HandleFunc("/rootDesc.xml", f.serveDescription)
	mux.HandleFunc("/ctl/", f.serveControlOrLose)
	f.http = httptest.NewServer(mux)
	go f.serveSSDP(udp, false)
	t.Cleanup(func() {
		udp.Close()
		f.http.Close()
		if f.otherSock != nil {
			f.otherSock.Close()
		}
	})
	return f
}

// config points a Config at the fake: gateway 127.0.0.1, unicast SSDP to
// the fake's port, no multicast, a private cache directory.
func (f *fakeIGD) config() Config {
	return Config{
		Gateway:    netip.MustParseAddr("127.0.0.1"),
		SSDPPort:   f.udp.LocalAddr().(*net.UDPAddr).Port,
		NATPMPPort: silentPort(f.t), // never the machine's own 5351
		Multicast:  "off",
		CacheDir:   f.t.TempDir(),
		Logf:       f.t.Logf,
	}
}

func (f *fakeIGD) location() string {
	f.mu.Lock()
	loc := f.quirks.location
	f.mu.Unlock()
	if loc == "" {
		loc = f.http.URL + "/rootDesc.xml"
	}
	return loc
}

// fakeUUID is the UDN of the fake's root device.
const fakeUUID = "uuid:5d3a8f2e-7c1b-4e0a-9f6d-2b8c4a1e3f70"

// announced is the LOCATION the fake's SSDP answers carry.
func (f *fakeIGD) announced() string {
	loc := f.location()
	f.mu.Lock()
	host := f.quirks.locationHost
	f.mu.Unlock()
	if host != "" {
		loc = strings.Replace(loc, "127.0.0.1", host, 1)
	}
	return loc
}

// ssdpReply is miniupnpd 2.3's answer to an M-SEARCH (minissdp.c
// SendSSDPResponse), for search target st and description URL loc.
func ssdpReply(st, loc string) []byte {
	return []byte("HTTP/1.1 200 OK\r\n" +
		"CACHE-CONTROL: max-age=120\r\n" +
		"ST: " + st + "\r\n" +
		"USN: uuid:5d3a8f2e-7c1b-4e0a-9f6d-2b8c4a1e3f70::" + st + "\r\n" +
		"EXT:\r\n" +
		"SERVER: Debian/12 UPnP/1.1 MiniUPnPd/2.3.1\r\n" +
		"LOCATION: " + loc + "\r\n" +
		"OPT: \"http://schemas.upnp.org/upnp/1/0/\"; ns=01\r\n" +
		"01-NLS: 1764158400\r\n" +
		"BOOTID.UPNP.ORG: 1764158400\r\n" +
		"CONFIGID.UPNP.ORG: 1337\r\n" +
		"\r\n")
}

// serveSSDP answers the searches that reach conn: the router's own SSDP
// port, or (multicast) the socket standing in for the multicast group.
func (f *fakeIGD) serveSSDP(conn *net.UDPConn, multicast bool) {
	buf := make([]byte, 2048)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		req := string(buf[:n])
		if !strings.HasPrefix(req, "M-SEARCH * HTTP/1.1\r\n") || !strings.Contains(req, `"ssdp:discover"`) {
			continue
		}
		f.ssdpSearches.Add(1)
		st := ""
		for _, line := range strings.Split(req, "\r\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "ST") {
				st = strings.TrimSpace(v)
			}
		}
		f.mu.Lock()
		silent, pre, others, other, q := f.ssdpSilent, f.preReplies, f.otherReplies, f.otherSock, f.quirks
		f.mu.Unlock()
		if silent || (q.unicastSilent && !multicast) {
			continue
		}
		for _, b := range others {
			other.WriteToUDPAddrPort(b, from)
		}
		out := conn
		if q.replyPort != nil {
			out = q.replyPort
		}
		for _, b := range pre {
			out.WriteToUDPAddrPort(b, from)
		}
		switch {
		case q.onlyST == "":
		case st == "ssdp:all":
			st = "upnp:rootdevice" // its first descriptor, and nothing else
		case st != q.onlyST:
			continue
		}
		reply := ssdpReply(st, f.announced())
		if q.usn != "" {
			reply = []byte(strings.ReplaceAll(string(reply), fakeUUID, q.usn))
		}
		out.WriteToUDPAddrPort(reply, from)
	}
}

// multicastGroup opens a socket on 127.0.0.1 that plays the SSDP multicast
// group (answers come from it, as from the router's multicast socket) and
// returns the Config.Multicast address that sends searches to it.
func (f *fakeIGD) multicastGroup() string {
	f.t.Helper()
	return f.serveOn(true)
}

// serveOn opens another SSDP socket of the router on 127.0.0.1 and serves
// searches on it; it returns its address.
func (f *fakeIGD) serveOn(multicast bool) string {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Close() })
	go f.serveSSDP(c, multicast)
	return c.LocalAddr().String()
}

// otherPort opens a socket for answers from another port than the one
// searched.
func (f *fakeIGD) otherPort() *net.UDPConn {
	f.t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Close() })
	return c
}

// addOtherDevice makes a second responder on 127.0.0.2 that answers every
// search with reply, as another UPnP device on the LAN would.
func (f *fakeIGD) addOtherDevice(reply []byte) {
	f.t.Helper()
	sock, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		f.t.Skipf("cannot bind 127.0.0.2 for a second responder: %v", err)
	}
	f.mu.Lock()
	f.otherSock = sock
	f.otherReplies = append(f.otherReplies, reply)
	f.mu.Unlock()
}

// serveControlOrLose carries out a SOAP action and answers it, or, for an
// AddPortMapping while loseAdds > 0, carries it out and never answers: the
// reply is lost, as on a router that stalls after acting. While brokenAdds
// > 0 an AddPortMapping is carried out and answered as broken says; with
// pageAll no action is carried out, each gets an error page.
func (f *fakeIGD) serveControlOrLose(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	down := f.pageAll
	f.mu.Unlock()
	if down {
		errorPage(w, http.StatusServiceUnavailable)
		return
	}
	rec := httptest.NewRecorder()
	f.serveControl(rec, r)
	f.mu.Lock()
	how := ""
	if isAction(r, "AddPortMapping") {
		switch {
		case f.loseAdds > 0:
			f.loseAdds--
			how = "hang"
		case f.brokenAdds > 0:
			f.brokenAdds--
			how = f.broken
		}
	}
	f.mu.Unlock()
	answerBroken(w, r, rec, how)
}

// isAction reports whether r is a SOAP request for action.
func isAction(r *http.Request, action string) bool {
	return strings.HasSuffix(strings.Trim(r.Header.Get("SOAPACTION"), `"`), "#"+action)
}

// answerBroken answers a request a fake router has carried out (its
// answer is in rec) the way how says: "page" (HTTP 500 with an HTML page,
// no SOAP fault), "empty" (HTTP 500, no body), "drop" (the connection
// closes), "hang" (no answer until the client gives up), or "" (rec, as
// it is).
func answerBroken(w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder, how string) {
	switch how {
	case "page":
		errorPage(w, http.StatusInternalServerError)
	case "empty":
		w.WriteHeader(http.StatusInternalServerError)
	case "drop":
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
	case "hang":
		<-r.Context().Done()
	default:
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}
}

// errorPage answers with an HTTP error status and an HTML page, as the
// web server of many routers does when the UPnP daemon behind it fails:
// no SOAP fault.
func errorPage(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!DOCTYPE html>\n<html><head><title>%d %s</title></head><body><h1>%s</h1><p>The server could not handle the request.<br></p></body></html>\n",
		status, http.StatusText(status), http.StatusText(status))
}

func (f *fakeIGD) set(fn func(f *fakeIGD)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// failNext makes the next call of action answer UPnP fault code.
func (f *fakeIGD) failNext(action string, code int) {
	f.set(func(f *fakeIGD) { f.faults[action] = append(f.faults[action], code) })
}

func (f *fakeIGD) calls(action string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.actions[action]
}

func (f *fakeIGD) entries() []fakeEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeEntry(nil), f.table...)
}

func (f *fakeIGD) addEntry(e fakeEntry) {
	f.set(func(f *fakeIGD) { f.table = append(f.table, e) })
}

// serviceType is the WAN connection service of the variant.
func (f *fakeIGD) serviceType() string {
	switch f.variant {
	case "v2":
		return "urn:schemas-upnp-org:service:WANIPConnection:2"
	case "ppp", "dual":
		return "urn:schemas-upnp-org:service:WANPPPConnection:1"
	}
	return "urn:schemas-upnp-org:service:WANIPConnection:1"
}

func (f *fakeIGD) serveDescription(w http.ResponseWriter, r *http.Request) {
	f.descFetches.Add(1)
	f.mu.Lock()
	h, ctl := f.descHandler, f.controlURL
	f.mu.Unlock()
	if h != nil {
		h(w, r)
		return
	}
	if ctl == "" {
		ctl = "/ctl/IPConn"
	}
	v := "1"
	if f.variant == "v2" {
		v = "2"
	}
	down := ""
	if f.variant == "dual" {
		down = `<service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>
<serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId><SCPDURL>/WANIPCn.xml</SCPDURL>
<controlURL>/ctl/IPDown</controlURL><eventSubURL>/evt/IPDown</eventSubURL></service>`
	}
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	w.Header().Set("Server", "Debian/12 UPnP/1.1 MiniUPnPd/2.3.1")
	fmt.Fprint(w, f.descriptionXML(v, ctl, down))
}

// descriptionXML is the fake's root description: IGD version v, the WAN
// connection service at control URL ctl, after the services in before.
func (f *fakeIGD) descriptionXML(v, ctl, before string) string {
	return fmt.Sprintf(`<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0" configId="1337">
<specVersion><major>1</major><minor>1</minor></specVersion>
<device>
<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:%[1]s</deviceType>
<friendlyName>Fake router</friendlyName>
<manufacturer>reach tests</manufacturer>
<UDN>uuid:5d3a8f2e-7c1b-4e0a-9f6d-2b8c4a1e3f70</UDN>
<serviceList><service>
<serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType>
<serviceId>urn:upnp-org:serviceId:L3Forwarding1</serviceId>
<SCPDURL>/L3F.xml</SCPDURL><controlURL>/ctl/L3F</controlURL><eventSubURL>/evt/L3F</eventSubURL>
</service></serviceList>
<deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANDevice:%[1]s</deviceType>
<friendlyName>WANDevice</friendlyName>
<UDN>uuid:5d3a8f2e-7c1b-4e0a-9f6d-2b8c4a1e3f71</UDN>
<deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:%[1]s</deviceType>
<friendlyName>WANConnectionDevice</friendlyName>
<UDN>uuid:5d3a8f2e-7c1b-4e0a-9f6d-2b8c4a1e3f72</UDN>
<serviceList>%[4]s<service>
<serviceType>%[2]s</serviceType>
<serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>
<SCPDURL>/WANIPCn.xml</SCPDURL><controlURL>%[3]s</controlURL><eventSubURL>/evt/IPConn</eventSubURL>
</service></serviceList>
</device></deviceList>
</device></deviceList>
</device>
</root>
`, v, f.serviceType(), ctl, before)
}
