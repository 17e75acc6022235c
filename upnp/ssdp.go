package upnp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

const (
	ssdpDefaultPort      = 1900
	ssdpDefaultMulticast = "239.255.255.250:1900"

	// ssdpTimeout bounds the whole search. The router is one hop away and
	// miniupnpd answers in ~55 ms; an IGD silent after two rounds and 600 ms
	// is treated as absent, which keeps discovery well under a second.
	ssdpTimeout = 600 * time.Millisecond
	// ssdpResendAfter is when the M-SEARCH is sent a second time, in case
	// the first datagram (or its answer) was lost on Wi-Fi.
	ssdpResendAfter = 200 * time.Millisecond
	// ssdpMaxDatagram caps one read: SSDP replies fit in one Ethernet
	// frame; anything longer is truncated and then fails to parse.
	ssdpMaxDatagram = 2048
	// ssdpMaxOthers caps how many other devices are remembered, so a
	// flood of replies cannot grow memory.
	ssdpMaxOthers = 32
	// ssdpRepointGrace is how long an IGD answer that names another
	// address of the gateway waits for a direct answer before it is used:
	// a router answers all the search targets of one round within a few
	// milliseconds of each other.
	ssdpRepointGrace = 100 * time.Millisecond
	// ssdpMaxLogged caps the "ignored" log lines of one search, so a flood
	// of bad datagrams cannot flood the log.
	ssdpMaxLogged = 8
)

// igdDeviceURN is what an Internet Gateway Device's ST or USN contains,
// whatever its version.
const igdDeviceURN = "urn:schemas-upnp-org:device:InternetGatewayDevice:"

// igdSearchTargets are searched for in each round: v1 and v2, since some
// v2 routers ignore a v1 search and old ones know nothing of v2.
var igdSearchTargets = []string{igdDeviceURN + "1", igdDeviceURN + "2"}

// Device is a UPnP device that answered the search: the gateway's IGD, or
// another device on the LAN (a mesh access point, a printer, a NAS).
type Device struct {
	// Addr is the address the answer came from.
	Addr netip.Addr
	// ST and USN say what kind of device or service it is.
	ST  string
	USN string
	// Server is its SERVER header (OS, UPnP version, product).
	Server string
	// Location is the URL of its description, as it announced it.
	Location string
}

// IsIGD reports whether the device calls itself an Internet Gateway Device.
func (d Device) IsIGD() bool {
	return strings.Contains(d.ST, igdDeviceURN) || strings.Contains(d.USN, igdDeviceURN)
}

// ssdpResult is what a search found: the gateway's IGD and the others.
type ssdpResult struct {
	IGD      Device
	Location *url.URL
	Others   []Device
	// Repointed is the host the IGD named in its LOCATION when that was
	// not the gateway's address and Location was repointed at the gateway.
	Repointed string
}

// announcement is what the IGD's answer said, for openIGD.
func (r ssdpResult) announcement() announcement {
	a := announcement{server: r.IGD.Server, usn: r.IGD.USN}
	if r.Repointed != "" {
		a.location, a.host = r.IGD.Location, r.Repointed
	}
	return a
}

// parseSSDPResponse parses one M-SEARCH answer (an HTTP response in a UDP
// datagram). Addr is left zero: the caller knows where it came from.
func parseSSDPResponse(b []byte) (Device, error) {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil)
	if err != nil {
		return Device{}, fmt.Errorf("upnp: malformed SSDP answer: %w", err)
	}
	resp.Body.Close() // a bytes.Reader: nothing to leak; SSDP has no body
	if resp.StatusCode != http.StatusOK {
		return Device{}, fmt.Errorf("upnp: SSDP answer with status %q", resp.Status)
	}
	d := Device{
		ST:       strings.TrimSpace(resp.Header.Get("ST")),
		USN:      strings.TrimSpace(resp.Header.Get("USN")),
		Server:   strings.TrimSpace(resp.Header.Get("Server")),
		Location: strings.TrimSpace(resp.Header.Get("Location")),
	}
	if d.Location == "" {
		return Device{}, errors.New("upnp: SSDP answer without LOCATION")
	}
	return d, nil
}

// checkLocation parses a description URL and accepts it only if it is
// plain http on the gateway's own IP address: a URL naming another host
// would make reach fetch (and later POST to) something that is not the
// router.
func checkLocation(loc string, gw netip.Addr) (*url.URL, error) {
	u, err := url.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("unparsable location %q: %w", loc, err)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("location %q is not http", loc)
	}
	host, err := netip.ParseAddr(u.Hostname())
	if err != nil {
		return nil, fmt.Errorf("location %q does not name an IP address", loc)
	}
	if host.Unmap().WithZone("") != gw.WithZone("") {
		return nil, fmt.Errorf("location %q is on %s, not on the gateway %s", loc, host, gw)
	}
	return u, nil
}

// searchSSDP sends M-SEARCH for an IGD unicast to the gateway and (unless
// cfg.Multicast is "off") to the multicast group, from one socket, and
// returns the first IGD answer from the gateway's address with a usable
// location. Answers from any source port count: some routers reply from
// an ephemeral port. The socket is bound to local (when valid), which on
// Linux also sends the multicast out of local's interface rather than a
// VPN's or a container bridge's.
func searchSSDP(ctx context.Context, cfg Config, gw, local netip.Addr) (ssdpResult, error) {
	ctx, cancel := context.WithTimeout(ctx, orDefault(cfg.ssdpTimeout, ssdpTimeout))
	defer cancel()

	network := "udp4"
	if gw.Is6() {
		network = "udp6"
	}
	var laddr *net.UDPAddr
	if local.IsValid() && local.Is4() == gw.Is4() {
		laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
	}
	conn, err := net.ListenUDP(network, laddr)
	if err != nil {
		return ssdpResult{}, fmt.Errorf("upnp: open SSDP socket: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()

	dests, err := ssdpDestinations(cfg, gw)
	if err != nil {
		return ssdpResult{}, err
	}
	send := func() error {
		var sent int
		var lastErr error
		for _, dst := range dests {
			for _, st := range igdSearchTargets {
				if _, err := conn.WriteToUDPAddrPort(mSearch(dst, st), dst); err != nil {
					lastErr = err
					continue
				}
				sent++
			}
		}
		if sent == 0 {
			return fmt.Errorf("upnp: send M-SEARCH to %s: %w", gw, lastErr)
		}
		return nil
	}
	if err := send(); err != nil {
		return ssdpResult{}, err
	}
	start := time.Now()
	resendAt := start.Add(ssdpResendAfter)

	var res, fallback ssdpResult
	var fallbackBy time.Time // when to settle for fallback
	seen := map[string]bool{}
	logged := 0
	logf := func(format string, args ...any) {
		if logged < ssdpMaxLogged {
			logged++
			cfg.logf(format, args...)
		}
	}
	buf := make([]byte, ssdpMaxDatagram)
	for {
		if err := ctx.Err(); err != nil {
			if errors.Is(err, context.Canceled) {
				return res, fmt.Errorf("upnp: SSDP search on %s: %w", gw, err)
			}
			if fallback.Location != nil {
				fallback.Others = res.Others
				return fallback, nil
			}
			return res, fmt.Errorf("%w (no answer to M-SEARCH sent to %s in %v)", ErrNoIGD, gw, time.Since(start).Round(time.Millisecond))
		}
		if fallback.Location != nil && !time.Now().Before(fallbackBy) {
			fallback.Others = res.Others
			return fallback, nil
		}
		wait, _ := ctx.Deadline()
		if !resendAt.IsZero() && resendAt.Before(wait) {
			wait = resendAt
		}
		if fallback.Location != nil && fallbackBy.Before(wait) {
			wait = fallbackBy
		}
		conn.SetReadDeadline(wait)
		if ctx.Err() != nil {
			continue // cancelled before the deadline above was set: end at the top
		}
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if !resendAt.IsZero() && ctx.Err() == nil && !time.Now().Before(resendAt) {
					resendAt = time.Time{}
					if err := send(); err != nil {
						return res, err
					}
				}
				continue
			}
			return res, fmt.Errorf("upnp: read SSDP answers: %w", err)
		}
		src := from.Addr().Unmap()
		d, err := parseSSDPResponse(buf[:n])
		if err != nil {
			logf("upnp: ignored SSDP datagram from %s: %v", from, trimPrefix(err))
			continue
		}
		d.Addr = src
		if src != gw || !d.IsIGD() {
			key := src.String() + " " + d.USN + " " + d.Location
			if !seen[key] && len(res.Others) < ssdpMaxOthers {
				seen[key] = true
				res.Others = append(res.Others, d)
				logf("upnp: ignored %s at %s (%s): not the gateway's IGD", d.ST, src, d.Server)
			}
			continue
		}
		loc, err := checkLocation(d.Location, gw)
		if err != nil {
			// The answer came from the gateway: a LOCATION on another IP
			// address is the router naming another interface of its own.
			// Unless a direct answer follows soon, ask the gateway itself
			// (openIGD checks that it is the same device).
			if fallback.Location == nil {
				if u, other, rerr := repointLocation(d.Location, gw); rerr == nil {
					fallback = ssdpResult{IGD: d, Location: u, Repointed: other}
					fallbackBy = time.Now().Add(ssdpRepointGrace)
					logf("upnp: IGD answer from %s: %v; will ask the gateway at %s unless another answer comes", from, err, u)
					continue
				}
			}
			logf("upnp: ignored IGD answer from %s: %v", from, err)
			continue
		}
		res.IGD, res.Location = d, loc
		return res, nil
	}
}

// ssdpDestinations lists where M-SEARCH goes: the gateway itself, then the
// multicast group unless disabled or of the other address family.
func ssdpDestinations(cfg Config, gw netip.Addr) ([]netip.AddrPort, error) {
	port := cfg.SSDPPort
	if port == 0 {
		port = ssdpDefaultPort
	}
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("upnp: SSDP port %d out of range", port)
	}
	dests := []netip.AddrPort{netip.AddrPortFrom(gw, uint16(port))}
	mc := cfg.Multicast
	switch mc {
	case "off":
		return dests, nil
	case "":
		mc = ssdpDefaultMulticast
	}
	group, err := netip.ParseAddrPort(mc)
	if err != nil {
		return nil, fmt.Errorf("upnp: SSDP multicast address %q: %w; use host:port, or \"off\"", mc, err)
	}
	if group.Addr().Is4() == gw.Is4() {
		dests = append(dests, group)
	}
	return dests, nil
}

// mSearch builds an M-SEARCH request for search target st sent to dst.
func mSearch(dst netip.AddrPort, st string) []byte {
	return []byte("M-SEARCH * HTTP/1.1\r\n" +
		"HOST: " + dst.String() + "\r\n" +
		"MAN: \"ssdp:discover\"\r\n" +
		"MX: 1\r\n" +
		"ST: " + st + "\r\n" +
		"USER-AGENT: reach UPnP/1.1\r\n" +
		"\r\n")
}
