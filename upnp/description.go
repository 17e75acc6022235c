package upnp

import (
	"bufio"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/huin/goupnp"
)

// Identity is what a router's root description says about the device, for
// a report that lets the next unknown router become a known one.
type Identity struct {
	// DeviceType is the root device's URN, e.g.
	// "urn:schemas-upnp-org:device:InternetGatewayDevice:2".
	DeviceType string
	// FriendlyName, Manufacturer, ModelName and ModelNumber are as the
	// description gives them; empty when it has none.
	FriendlyName, Manufacturer, ModelName, ModelNumber string
	// Services lists every service of every device in the description, in
	// document order.
	Services []DescribedService
}

// DescribedService is one service a description lists.
type DescribedService struct {
	// Type is the service URN, e.g.
	// "urn:schemas-upnp-org:service:WANPPPConnection:1".
	Type string
	// ControlURL is its control URL, resolved (and repointed at the
	// gateway when the device announced another address of its own).
	ControlURL string
}

// fetchDescription GETs and decodes a root device description with hc, the
// way goupnp.DeviceByURLCtx does, but with the caller's client (so the
// timeouts and size cap apply), within timeout, keeping the HTTP Server
// header, whatever Content-Type it is served with, and reading the 8-bit
// charsets some routers declare.
func fetchDescription(ctx context.Context, hc *http.Client, loc *url.URL, timeout time.Duration) (*goupnp.RootDevice, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
	if err != nil {
		return nil, "", fmt.Errorf("upnp: description URL %s: %w", loc, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("upnp: fetch IGD description %s: %w", loc, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("upnp: fetch IGD description %s: HTTP %s", loc, resp.Status)
	}
	root := new(goupnp.RootDevice)
	dec := xml.NewDecoder(resp.Body)
	dec.DefaultSpace = goupnp.DeviceXMLNamespace
	dec.CharsetReader = charsetReader
	if err := dec.Decode(root); err != nil {
		if errors.Is(err, ErrResponseTooLarge) || ctx.Err() != nil {
			return nil, "", fmt.Errorf("upnp: IGD description %s: %w", loc, errors.Join(err, ctx.Err()))
		}
		return nil, "", fmt.Errorf("upnp: IGD description %s is not valid UPnP XML: %w", loc, err)
	}
	base := loc
	if root.URLBaseStr != "" {
		if base, err = url.Parse(strings.TrimSpace(root.URLBaseStr)); err != nil {
			return nil, "", fmt.Errorf("upnp: IGD description %s: bad URLBase %q: %w", loc, root.URLBaseStr, err)
		}
	}
	root.SetURLBase(base)
	return root, resp.Header.Get("Server"), nil
}

// charsetReader reads the charsets routers declare besides UTF-8:
// ISO-8859-1 (and its superset windows-1252, read as ISO-8859-1) and
// US-ASCII; any other goes to goupnp's reader if the program set one.
func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(charset)) {
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "windows-1252", "cp1252", "us-ascii", "ascii":
		return &latin1Reader{r: bufio.NewReader(input)}, nil
	}
	if goupnp.CharsetReaderDefault != nil {
		return goupnp.CharsetReaderDefault(charset, input)
	}
	return nil, fmt.Errorf("unsupported charset %q", charset)
}

// latin1Reader turns ISO-8859-1 bytes into UTF-8.
type latin1Reader struct {
	r       *bufio.Reader
	pending []byte
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(l.pending) > 0 {
			c := copy(p[n:], l.pending)
			l.pending, n = l.pending[c:], n+c
			continue
		}
		b, err := l.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if b < utf8.RuneSelf {
			p[n] = b
			n++
			continue
		}
		l.pending = utf8.AppendRune(nil, rune(b))
	}
	return n, nil
}

// identify reads the identity and the services of a description.
func identify(root *goupnp.RootDevice) Identity {
	d := root.Device
	id := Identity{DeviceType: strings.TrimSpace(d.DeviceType), FriendlyName: strings.TrimSpace(d.FriendlyName),
		Manufacturer: strings.TrimSpace(d.Manufacturer), ModelName: strings.TrimSpace(d.ModelName), ModelNumber: strings.TrimSpace(d.ModelNumber)}
	root.Device.VisitServices(func(s *goupnp.Service) {
		id.Services = append(id.Services, DescribedService{Type: strings.TrimSpace(s.ServiceType), ControlURL: s.ControlURL.URL.String()})
	})
	return id
}

// hasUDN reports whether root or one of its embedded devices is uuid.
func hasUDN(root *goupnp.RootDevice, uuid string) bool {
	found := false
	root.Device.VisitDevices(func(d *goupnp.Device) {
		found = found || strings.EqualFold(strings.TrimSpace(d.UDN), uuid)
	})
	return found
}

// usnUUID is the "uuid:..." part of an SSDP USN; empty if it has none.
func usnUUID(usn string) string {
	u, _, _ := strings.Cut(strings.TrimSpace(usn), "::")
	if !strings.HasPrefix(strings.ToLower(u), "uuid:") {
		return ""
	}
	return u
}

// repointLocation is loc with its host replaced by gw (port and path
// kept), for an IGD that answered from the gateway's address but named
// another address of its own (another interface) as its LOCATION. It
// returns the host it replaced; only plain http is repointed.
func repointLocation(loc string, gw netip.Addr) (*url.URL, string, error) {
	u, err := url.Parse(loc)
	if err != nil {
		return nil, "", fmt.Errorf("unparsable location %q: %w", loc, err)
	}
	if u.Scheme != "http" {
		return nil, "", fmt.Errorf("location %q is not http", loc)
	}
	if _, err := netip.ParseAddr(u.Hostname()); err != nil {
		return nil, "", fmt.Errorf("location %q does not name an IP address", loc)
	}
	host := u.Hostname()
	u.Host = hostPort(gw, u.Port())
	return u, host, nil
}

// repointControlURLs moves every control URL of root on host (the other
// address the device announced) to gw, same port and path.
func repointControlURLs(root *goupnp.RootDevice, host string, gw netip.Addr) {
	root.Device.VisitServices(func(s *goupnp.Service) {
		u := &s.ControlURL.URL
		if u.Scheme == "http" && strings.EqualFold(u.Hostname(), host) {
			u.Host = hostPort(gw, u.Port())
		}
	})
}

// hostPort is gw with port for a URL's Host ("[v6]:port" for IPv6); no
// port gives the bare address.
func hostPort(gw netip.Addr, port string) string {
	h := gw.WithZone("").String()
	if port == "" {
		if gw.Is6() {
			return "[" + h + "]"
		}
		return h
	}
	return net.JoinHostPort(h, port)
}
