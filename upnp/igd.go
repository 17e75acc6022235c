package upnp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/huin/goupnp"
	"github.com/huin/goupnp/dcps/internetgateway2"
)

// descriptionTimeout bounds fetching and decoding the root description: one
// small HTTP GET from a device one hop away.
const descriptionTimeout = 2 * time.Second

// statusTimeout bounds asking several WAN connection services of one
// router for their status, when it lists more than one: a few SOAP calls
// one hop away.
const statusTimeout = 2 * time.Second

// wanConnection is what WANIPConnection2, WANIPConnection1 and
// WANPPPConnection1 clients from goupnp have in common.
type wanConnection interface {
	GetServiceClient() *goupnp.ServiceClient
	AddPortMappingCtx(ctx context.Context, remoteHost string, extPort uint16, proto string, intPort uint16, intClient string, enabled bool, desc string, lease uint32) error
	DeletePortMappingCtx(ctx context.Context, remoteHost string, extPort uint16, proto string) error
	GetExternalIPAddressCtx(ctx context.Context) (string, error)
	GetSpecificPortMappingEntryCtx(ctx context.Context, remoteHost string, extPort uint16, proto string) (intPort uint16, intClient string, enabled bool, desc string, lease uint32, err error)
	GetGenericPortMappingEntryCtx(ctx context.Context, index uint16) (remoteHost string, extPort uint16, proto string, intPort uint16, intClient string, enabled bool, desc string, lease uint32, err error)
	GetStatusInfoCtx(ctx context.Context) (status, lastErr string, uptime uint32, err error)
}

// IGD is a UPnP Internet Gateway Device's WAN connection service on the
// gateway. It is a Lister. Build it with OpenIGD.
type IGD struct {
	cfg      Config
	gw       netip.Addr
	local    netip.Addr
	method   Method
	location *url.URL
	server   string
	name     string
	service  string
	control  *url.URL
	conn     wanConnection

	ssdpServer string             // SERVER of the SSDP answer; empty if none was used
	announced  string             // the LOCATION announced, when it was repointed
	identity   Identity           // what the description says
	root       *goupnp.RootDevice // the description, for the IPv6 firewall service (pinhole.go)

	mu     sync.Mutex
	quirks []string // what reach worked around on this router, once each
	looked *lookup  // Holds' answer, for the Add that follows it (igd_map.go)
}

// OpenIGD fetches the root description at location (which must be http on
// gw) and picks the router's WAN connection service: WANIPConnection:2,
// then WANIPConnection:1, then WANPPPConnection:1. local is this host's LAN
// address, the internal client of the mappings it adds. It makes one HTTP
// request, plus one GetStatusInfo per service when the router lists several
// (the first connected one is used).
func OpenIGD(ctx context.Context, cfg Config, gw, local netip.Addr, location *url.URL) (*IGD, error) {
	return openIGD(ctx, cfg, gw, local, location, announcement{})
}

// announcement is what the SSDP answer that led to a description said.
type announcement struct {
	// server is its SERVER header; usn its USN.
	server, usn string
	// location is the LOCATION it announced when that named another
	// address than the gateway's and was repointed at the gateway; host is
	// that other address. Both are empty otherwise.
	location, host string
}

// openIGD is OpenIGD for a description found through SSDP. A description
// repointed at the gateway (ann.host set) is used only if it describes the
// device that answered the search (its UDN is the USN's uuid): then control
// URLs on the other address it announced are repointed at the gateway too.
func openIGD(ctx context.Context, cfg Config, gw, local netip.Addr, location *url.URL, ann announcement) (*IGD, error) {
	gw = gw.Unmap()
	if _, err := checkLocation(location.String(), gw); err != nil {
		return nil, fmt.Errorf("upnp: refusing IGD description: %v", err)
	}
	hc := cfg.httpClient()
	root, server, err := fetchDescription(ctx, hc, location, orDefault(cfg.descTimeout, descriptionTimeout))
	if err != nil {
		return nil, err
	}
	g := &IGD{cfg: cfg, gw: gw, local: local.Unmap(), location: location, server: server, name: root.Device.FriendlyName,
		ssdpServer: ann.server, announced: ann.location}
	if ann.host != "" {
		uuid := usnUUID(ann.usn)
		if uuid == "" || !hasUDN(root, uuid) {
			return nil, fmt.Errorf("upnp: the IGD on %s announced its description at %s; the description at %s is of another device (%q, not %q): refusing both",
				gw, ann.location, location, root.Device.UDN, uuid)
		}
		repointControlURLs(root, ann.host, gw)
		g.note("announces its description at %s, another address of its own: reach uses %s", ann.location, location)
	}
	g.identity = identify(root)
	g.root = root

	var found []wanConnection
	var offHost []string
	collect := func(conns []wanConnection) {
		for _, c := range conns {
			sc := c.GetServiceClient()
			u := sc.Service.ControlURL.URL
			if err := checkControlURL(&u, gw); err != nil {
				offHost = append(offHost, err.Error())
				continue
			}
			sc.SOAPClient.EndpointURL = u // repointed, if it was
			found = append(found, c)
		}
	}
	if cs, err := internetgateway2.NewWANIPConnection2ClientsFromRootDevice(root, location); err == nil {
		collect(asConns(cs))
	}
	if cs, err := internetgateway2.NewWANIPConnection1ClientsFromRootDevice(root, location); err == nil {
		collect(asConns(cs))
	}
	if cs, err := internetgateway2.NewWANPPPConnection1ClientsFromRootDevice(root, location); err == nil {
		collect(asConns(cs))
	}
	if len(found) == 0 {
		if len(offHost) > 0 {
			return nil, fmt.Errorf("upnp: IGD at %s: refusing its control URL: %s", location, strings.Join(offHost, "; "))
		}
		return nil, fmt.Errorf("upnp: device at %s (%q, %s) has no WANIPConnection or WANPPPConnection service: %w",
			location, root.Device.FriendlyName, root.Device.DeviceType, ErrNoIGD)
	}
	soapc := soapHTTPClient(hc)
	for _, c := range found {
		c.GetServiceClient().SOAPClient.HTTPClient = soapc
	}
	g.conn = found[0]
	if len(found) > 1 {
		g.conn = pickConnected(ctx, found)
	}
	sc := g.conn.GetServiceClient()
	u := sc.Service.ControlURL.URL
	g.control = &u
	g.service = sc.Service.ServiceType
	g.method = igdMethod(root.Device.DeviceType, g.service)
	return g, nil
}

// pickConnected returns the first connection service whose WAN side is
// up: a DSL router lists a WANIPConnection that is down next to the
// WANPPPConnection that carries the traffic, and a mapping on the wrong one
// does nothing. If none says "Connected", the first one (in order of
// preference) is used and its own errors will tell.
func pickConnected(ctx context.Context, conns []wanConnection) wanConnection {
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	for _, c := range conns {
		if st, _, _, err := c.GetStatusInfoCtx(ctx); err == nil && st == "Connected" {
			return c
		}
	}
	return conns[0]
}

func asConns[T wanConnection](cs []T) []wanConnection {
	out := make([]wanConnection, len(cs))
	for i, c := range cs {
		out[i] = c
	}
	return out
}

// igdMethod tells IGD v1 from v2 by the root device type; a root that is
// not an IGD (an IGD embedded in another device) goes by the service.
func igdMethod(deviceType, serviceType string) Method {
	switch {
	case strings.HasPrefix(deviceType, igdDeviceURN+"2"):
		return MethodIGD2
	case strings.HasPrefix(deviceType, igdDeviceURN):
		return MethodIGD1
	case serviceType == internetgateway2.URN_WANIPConnection_2:
		return MethodIGD2
	}
	return MethodIGD1
}

// checkControlURL accepts a SOAP control URL only if it is http on the
// gateway's IP: reach will POST port-mapping requests there.
func checkControlURL(u *url.URL, gw netip.Addr) error {
	host, err := netip.ParseAddr(u.Hostname())
	if err != nil || host.Unmap() != gw || u.Scheme != "http" {
		return fmt.Errorf("control URL %q is not http on the gateway %s", u, gw)
	}
	return nil
}

// Method reports MethodIGD2 or MethodIGD1, from the root device type.
func (g *IGD) Method() Method { return g.method }

// Gateway is the router's LAN address.
func (g *IGD) Gateway() netip.Addr { return g.gw }

// LocalIP is this host's LAN address, the internal client of its mappings.
func (g *IGD) LocalIP() netip.Addr { return g.local }

// Location is the URL of the root description.
func (g *IGD) Location() *url.URL { u := *g.location; return &u }

// ControlURL is where SOAP actions are posted.
func (g *IGD) ControlURL() *url.URL { u := *g.control; return &u }

// ServiceType is the URN of the WAN connection service in use.
func (g *IGD) ServiceType() string { return g.service }

// Server is the HTTP Server header of the description (OS, UPnP version,
// product); empty if the router sent none.
func (g *IGD) Server() string { return g.server }

// FriendlyName is the router's name from its description.
func (g *IGD) FriendlyName() string { return g.name }

// SSDPServer is the SERVER header of the SSDP answer the IGD was found
// by; empty when it was found through the remembered description URL.
func (g *IGD) SSDPServer() string { return g.ssdpServer }

// AnnouncedLocation is the description URL the router announced when it
// named another address of its own and reach asked the gateway instead;
// empty otherwise.
func (g *IGD) AnnouncedLocation() string { return g.announced }

// Identity is what the root description says about the device.
func (g *IGD) Identity() Identity {
	id := g.identity
	id.Services = append([]DescribedService(nil), id.Services...)
	return id
}

// Quirks lists, in plain words, what reach has worked around on this
// router so far (a repointed description, permanent leases only, an
// internal port the router rewrote), each once.
func (g *IGD) Quirks() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.quirks...)
}

// note records a quirk of the router (once) and logs it.
func (g *IGD) note(format string, args ...any) {
	q := fmt.Sprintf(format, args...)
	g.mu.Lock()
	for _, old := range g.quirks {
		if old == q {
			g.mu.Unlock()
			return
		}
	}
	g.quirks = append(g.quirks, q)
	g.mu.Unlock()
	g.cfg.logf("upnp: router %s %s", g.gw, q)
}

// ConnectionStatus is the WAN connection's state (GetStatusInfo).
type ConnectionStatus struct {
	// Status is e.g. "Connected", "Disconnected", "Unconfigured".
	Status string
	// LastError is e.g. "ERROR_NONE".
	LastError string
	// Uptime is how long the WAN connection has been up.
	Uptime time.Duration
}

// ConnectionStatus asks the router whether its WAN side is connected.
func (g *IGD) ConnectionStatus(ctx context.Context) (ConnectionStatus, error) {
	st, lastErr, up, err := g.conn.GetStatusInfoCtx(ctx)
	if err != nil {
		return ConnectionStatus{}, g.actionError("GetStatusInfo", err)
	}
	return ConnectionStatus{Status: st, LastError: lastErr, Uptime: time.Duration(up) * time.Second}, nil
}

// actionError wraps a failed SOAP action for a caller outside a mapping
// operation: "upnp: gateway 192.168.1.1: ...".
func (g *IGD) actionError(action string, err error) error {
	return fmt.Errorf("upnp: gateway %s: %w", g.gw, g.stepErr(action, err))
}

// stepErr describes a failed SOAP action, without the package prefix: a
// typed *SOAPError for a UPnP fault, an *HTTPError for an HTTP error
// status without one; for a transport or parse error, the action and
// control URL.
func (g *IGD) stepErr(action string, err error) error {
	if err == nil {
		return nil
	}
	if se := soapErrorFrom(err, action); se != nil {
		return se
	}
	if he := httpErrorFrom(err, action); he != nil {
		return he
	}
	var numErr *strconv.NumError
	if errors.As(err, &numErr) || strings.Contains(err.Error(), "soap boolean") {
		return fmt.Errorf("%s at %s: the router's reply is missing a field or has a malformed one: %w", action, g.control, err)
	}
	msg := fmt.Sprintf("%s at %s: %v", action, g.control, err)
	if cause := transportCause(err); cause != nil {
		return &wrapped{msg: msg, err: cause} // goupnp does not wrap: keep its text, match the cause
	}
	return fmt.Errorf("%s at %s: %w", action, g.control, err)
}

// transportCause recognizes, in a goupnp transport error (which does not
// wrap what it carries), a request cut short: context.Canceled or
// context.DeadlineExceeded; nil otherwise.
func transportCause(err error) error {
	switch msg := err.Error(); {
	case errors.Is(err, context.Canceled) || strings.Contains(msg, "context canceled"):
		return context.Canceled
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(msg, "context deadline exceeded") ||
		strings.Contains(msg, "Timeout exceeded") || strings.Contains(msg, "i/o timeout"):
		return context.DeadlineExceeded
	}
	return nil
}
