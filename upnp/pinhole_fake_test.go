package upnp

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeFirewall is an in-process IGDv2 router with WANIPv6FirewallControl:1
// serving the same port on 127.0.0.1 (where the description is found) and
// ::1 (the router's IPv6 address): its pinhole actions check the request
// as miniupnpd 2.3.1 does (upnpsoap.c PinholeVerification): the sender's
// address, as text, must equal InternalClient, and the port be >= 1024.
type fakeFirewall struct {
	t    *testing.T
	port int

	mu        sync.Mutex
	pinholes  map[uint16]fakePinhole
	nextID    uint16
	calls     map[string]int
	senders   []string // remote address of each pinhole action
	disabled  bool     // GetFirewallStatus: FirewallEnabled false; actions 702
	noInbound bool     // InboundPinholeAllowed false; actions 703
	// brokenAdds AddPinhole requests are carried out and then answered
	// as broken says (see answerBroken).
	brokenAdds int
	broken     string
	// unknownFault is the fault for a UniqueID the fake does not hold:
	// 704 when zero; miniupnpd 2.3.1 answers 402. deleteFault, when not
	// zero, answers every DeletePinhole.
	unknownFault int
	deleteFault  int
	ln6          net.Listener
}

type fakePinhole struct {
	client string
	port   uint16
	proto  uint16
	lease  uint32
}

var loopback6 = netip.IPv6Loopback()

func newFakeFirewall(t *testing.T) *fakeFirewall {
	t.Helper()
	f := &fakeFirewall{t: t, pinholes: map[uint16]fakePinhole{}, nextID: 1, calls: map[string]int{}}
	ln6, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	f.port, f.ln6 = ln6.Addr().(*net.TCPAddr).Port, ln6
	ln4, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", f.port))
	if err != nil {
		ln6.Close()
		t.Skipf("port %d taken on 127.0.0.1: %v", f.port, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/rootDesc.xml", f.serveDescription)
	mux.HandleFunc("/ctl/IP6FCtl", f.serveFirewallOrBreak)
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln6)
	go srv.Serve(ln4)
	t.Cleanup(func() { srv.Close() })
	return f
}

// serveFirewallOrBreak is serveFirewall, with a broken answer while
// brokenAdds > 0.
func (f *fakeFirewall) serveFirewallOrBreak(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	f.serveFirewall(rec, r)
	f.mu.Lock()
	how := ""
	if f.brokenAdds > 0 && isAction(r, "AddPinhole") {
		f.brokenAdds--
		how = f.broken
	}
	f.mu.Unlock()
	answerBroken(w, r, rec, how)
}

// breakAdds makes the next n AddPinhole requests carried out and then
// answered as how says (see answerBroken).
func (f *fakeFirewall) breakAdds(n int, how string) {
	f.set(func(f *fakeFirewall) { f.brokenAdds, f.broken = n, how })
}

// closeIPv6 stops serving on ::1: a connection to the router's IPv6
// address is refused, as on a router whose UPnP server listens on IPv4
// only.
func (f *fakeFirewall) closeIPv6() { f.ln6.Close() }

func (f *fakeFirewall) set(fn func(f *fakeFirewall)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeFirewall) count(action string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[action]
}

func (f *fakeFirewall) held() map[uint16]fakePinhole {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[uint16]fakePinhole{}
	for k, v := range f.pinholes {
		out[k] = v
	}
	return out
}

func (f *fakeFirewall) serveDescription(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	fmt.Fprint(w, `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>1</minor></specVersion>
<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:2</deviceType>
<friendlyName>Fake IPv6 router</friendlyName><UDN>uuid:5d3a8f2e-7c1b-4e0a-9f6d-2b8c4a1e3f80</UDN>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:2</deviceType>
<UDN>uuid:5d3a8f2e-7c1b-4e0a-9f6d-2b8c4a1e3f81</UDN>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:2</deviceType>
<UDN>uuid:5d3a8f2e-7c1b-4e0a-9f6d-2b8c4a1e3f82</UDN>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:2</serviceType>
<serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId><SCPDURL>/WANIPCn.xml</SCPDURL>
<controlURL>/ctl/IPConn</controlURL><eventSubURL>/evt/IPConn</eventSubURL></service>
<service><serviceType>urn:schemas-upnp-org:service:WANIPv6FirewallControl:1</serviceType>
<serviceId>urn:upnp-org:serviceId:WANIPv6Firewall1</serviceId><SCPDURL>/WANIP6FC.xml</SCPDURL>
<controlURL>/ctl/IP6FCtl</controlURL><eventSubURL>/evt/IP6FCtl</eventSubURL></service>
</serviceList></device></deviceList></device></deviceList></device></root>`)
}

const fwURN = "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1"

func (f *fakeFirewall) serveFirewall(w http.ResponseWriter, r *http.Request) {
	_, action, _ := strings.Cut(strings.Trim(r.Header.Get("SOAPACTION"), `"`), "#")
	args, err := soapArgs(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		soapFault(w, 402, "Invalid Args")
		return
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	sender := "::" // miniupnpd's clientaddr_v6 of an IPv4 client
	if a, err := netip.ParseAddr(host); err == nil && a.Is6() && !a.Is4In6() {
		sender = a.String()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[action]++
	if action == "GetFirewallStatus" {
		soapReply(w, action, "FirewallEnabled", boolText(!f.disabled), "InboundPinholeAllowed", boolText(!f.noInbound))
		return
	}
	f.senders = append(f.senders, sender)
	switch {
	case f.disabled:
		soapFault(w, 702, "FirewallDisabled")
		return
	case f.noInbound:
		soapFault(w, 703, "InboundPinholeNotAllowed")
		return
	}
	num := func(k string) int { n, _ := strconv.Atoi(args[k]); return n }
	verify := func(client string, port int) bool {
		if sender != client || port < 1024 {
			soapFault(w, 606, "Action not authorized")
			return false
		}
		return true
	}
	switch action {
	case "AddPinhole":
		lease := num("LeaseTime")
		if lease < 1 || lease > 86400 {
			soapFault(w, 402, "Invalid Args")
			return
		}
		if !verify(args["InternalClient"], num("InternalPort")) {
			return
		}
		p := fakePinhole{client: args["InternalClient"], port: uint16(num("InternalPort")), proto: uint16(num("Protocol")), lease: uint32(lease)}
		for id, old := range f.pinholes { // the same pinhole: extended, same UniqueID
			if old.client == p.client && old.port == p.port && old.proto == p.proto {
				f.pinholes[id] = p
				soapReply(w, action, "UniqueID", strconv.Itoa(int(id)))
				return
			}
		}
		id := f.nextID
		f.nextID++
		f.pinholes[id] = p
		soapReply(w, action, "UniqueID", strconv.Itoa(int(id)))
	case "UpdatePinhole", "DeletePinhole", "CheckPinholeWorking":
		id := uint16(num("UniqueID"))
		p, ok := f.pinholes[id]
		switch {
		case action == "DeletePinhole" && f.deleteFault != 0:
			soapFault(w, f.deleteFault, "Refused")
			return
		case !ok && f.unknownFault != 0:
			soapFault(w, f.unknownFault, "Invalid Args")
			return
		case !ok:
			soapFault(w, 704, "NoSuchEntry")
			return
		}
		if !verify(p.client, int(p.port)) {
			return
		}
		switch action {
		case "CheckPinholeWorking":
			soapFault(w, 709, "NoTrafficReceived")
			return
		case "DeletePinhole":
			delete(f.pinholes, id)
		default:
			p.lease = uint32(num("NewLeaseTime"))
			f.pinholes[id] = p
		}
		soapReply(w, action)
	default:
		soapFault(w, 401, "Invalid Action")
	}
}

func boolText(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func soapReply(w http.ResponseWriter, action string, kv ...string) {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, "<%s>%s</%s>", kv[i], kv[i+1], kv[i])
	}
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	fmt.Fprintf(w, `<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:%[1]sResponse xmlns:u="%[2]s">%[3]s</u:%[1]sResponse></s:Body></s:Envelope>`,
		action, fwURN, b.String())
}

func soapFault(w http.ResponseWriter, code int, desc string) {
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, `<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>%d</errorCode><errorDescription>%s</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`,
		code, desc)
}

// router is the fake found over IPv4, as FindRouter would give it, with
// PCP at pcpPort.
func (f *fakeFirewall) router(t *testing.T, pcpPort int) *Router {
	t.Helper()
	cfg := Config{Gateway: loopback, NATPMPPort: pcpPort, CacheDir: "off", Logf: t.Logf}
	loc, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d/rootDesc.xml", f.port))
	g, err := OpenIGD(t.Context(), cfg, loopback, loopback, loc)
	if err != nil {
		t.Fatal(err)
	}
	return &Router{Gateway: loopback, LocalIP: loopback, Services: []Mapper{g}, Config: cfg}
}

// closedUDP6Port returns a port on ::1 nothing listens on: PCP there gets
// ICMP port unreachable at once.
func closedUDP6Port(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	return port
}

// fakePCP6 is a PCP server on ::1 that opens IPv6 firewall pinholes as
// miniupnpd does (pcpserver.c CreatePCPMap_FW): the client address must be
// the sender's (else ADDRESS_MISMATCH), the external port is the internal
// one, the external address the client's own.
type fakePCP6 struct {
	conn *net.UDPConn
	port int

	mu           sync.Mutex
	pinholes     map[string][12]byte // "proto/port" -> nonce
	reqs         [][]byte
	refuseDelete bool // NOT_AUTHORIZED to lifetime 0, as miniupnpd 2.3.1 with nftables
}

func newFakePCP6(t *testing.T) *fakePCP6 {
	t.Helper()
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	f := &fakePCP6{conn: c, port: c.LocalAddr().(*net.UDPAddr).Port, pinholes: map[string][12]byte{}}
	done := make(chan struct{})
	t.Cleanup(func() { c.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1100)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			req := append([]byte(nil), buf[:n]...)
			c.WriteToUDPAddrPort(f.answer(req, from.Addr()), from)
		}
	}()
	return f
}

func (f *fakePCP6) answer(req []byte, from netip.Addr) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	client := netip.AddrFrom16([16]byte(req[8:24]))
	if req[1] != 1 || len(req) < 60 {
		return pcpTestReply(req, 0, 0, 0, netip.Addr{})
	}
	if client != from.WithZone("") {
		return pcpTestReply(req, byte(PCPAddressMismatch), 0, 0, netip.Addr{})
	}
	lifetime := binary.BigEndian.Uint32(req[4:])
	key := fmt.Sprintf("%d/%d", req[36], binary.BigEndian.Uint16(req[40:]))
	nonce := [12]byte(req[24:36])
	if old, ok := f.pinholes[key]; ok && old != nonce {
		return pcpTestReply(req, byte(PCPNotAuthorized), 0, 0, netip.Addr{})
	}
	if lifetime == 0 && f.refuseDelete {
		return pcpTestReply(req, byte(PCPNotAuthorized), 0, 0, netip.Addr{})
	}
	if lifetime == 0 {
		delete(f.pinholes, key)
		return pcpTestReply(req, 0, 0, 0, client)
	}
	f.pinholes[key] = nonce
	return pcpTestReply(req, 0, max(120, min(lifetime, 7200)), binary.BigEndian.Uint16(req[40:]), client)
}

func (f *fakePCP6) held() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pinholes)
}

func (f *fakePCP6) requests() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.reqs...)
}
