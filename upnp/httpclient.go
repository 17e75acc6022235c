package upnp

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/huin/goupnp"
)

const (
	// httpDialTimeout bounds the TCP connect to the router: it is one hop
	// away, a second is plenty even for a busy one.
	httpDialTimeout = 1 * time.Second
	// httpHeaderTimeout bounds the wait for the router's response headers
	// after sending a request; cheap routers take a few hundred ms per SOAP
	// action, never seconds.
	httpHeaderTimeout = 2 * time.Second
	// httpRequestTimeout bounds a whole request, body included, so a device
	// that trickles its body cannot hold us.
	httpRequestTimeout = 4 * time.Second
	// maxResponseBytes caps a description or SOAP body: real IGD root
	// descriptions are 2-10 KiB, SOAP replies under 2 KiB.
	maxResponseBytes = 256 << 10
)

// Connection reuse and header limits of the UPnP HTTP client.
const (
	// httpIdleConns: one router, a description and a control URL; a few
	// kept-alive connections save the handshake of each SOAP call.
	httpIdleConns = 4
	// httpIdleTimeout drops kept-alive connections a long-running expose
	// would otherwise hold between renewals (minutes apart).
	httpIdleTimeout = 30 * time.Second
	// httpMaxHeaderBytes caps response headers: a router's are a few
	// hundred bytes.
	httpMaxHeaderBytes = 16 << 10
)

// NewHTTPClient returns the hardened client reach uses for all UPnP HTTP:
// short timeouts, no proxy from the environment, no redirects, bodies capped
// at 256 KiB (reading further fails with ErrResponseTooLarge).
func NewHTTPClient() *http.Client { return newHTTPClient(netip.Addr{}) }

// newHTTPClient is NewHTTPClient with every connection made from local
// (zero means the address the kernel picks): a router that opens IPv6
// pinholes only for the address that asks must see the request come from
// the pinhole's address.
func newHTTPClient(local netip.Addr) *http.Client {
	dialer := &net.Dialer{Timeout: httpDialTimeout}
	if local.IsValid() {
		dialer.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
	}
	tr := &http.Transport{
		Proxy:                  nil, // the router is on the LAN: never via a proxy
		DialContext:            dialer.DialContext,
		ResponseHeaderTimeout:  httpHeaderTimeout,
		MaxIdleConns:           httpIdleConns,
		IdleConnTimeout:        httpIdleTimeout,
		DisableCompression:     true,
		MaxResponseHeaderBytes: httpMaxHeaderBytes,
	}
	return &http.Client{
		Transport: &cappedTransport{next: tr, limit: maxResponseBytes},
		Timeout:   httpRequestTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			return fmt.Errorf("upnp: router redirected %s to %s: refusing to follow", via[0].URL, req.URL)
		},
	}
}

// cappedTransport wraps every response body in a reader that fails once the
// body exceeds limit bytes.
type cappedTransport struct {
	next  http.RoundTripper
	limit int64
}

// RoundTrip performs req and caps the response body.
func (t *cappedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.limit {
		resp.Body.Close()
		return nil, fmt.Errorf("upnp: %s announces a %d-byte body (limit %d): %w", req.URL, resp.ContentLength, t.limit, ErrResponseTooLarge)
	}
	resp.Body = &cappedBody{rc: resp.Body, left: t.limit, url: req.URL.String()}
	return resp, nil
}

// cappedBody reads at most left bytes, then fails with ErrResponseTooLarge.
type cappedBody struct {
	rc   io.ReadCloser
	left int64
	url  string
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One more byte tells a body of exactly the limit from a longer one.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("upnp: body from %s exceeds %d bytes: %w", b.url, maxResponseBytes, ErrResponseTooLarge)
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }

var (
	defaultClientOnce sync.Once
	defaultClient     *http.Client
)

// packageClient returns the shared hardened client and, the first time,
// installs it as goupnp.HTTPClientDefault so that nothing inside goupnp can
// fall back to http.DefaultClient (no timeout, no size limit).
func packageClient() *http.Client {
	defaultClientOnce.Do(func() {
		defaultClient = NewHTTPClient()
		goupnp.HTTPClientDefault = defaultClient
	})
	return defaultClient
}

// httpClient returns cfg.HTTPClient or the package's hardened client.
func (c *Config) httpClient() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return packageClient()
}

// SilenceLibraryLogs discards goupnp's log lines. goupnp writes through the
// standard library's global logger (only from its own SSDP code, which reach
// does not use), so this sets the global log output to io.Discard: call it
// from main, and only if the program itself does not log through package
// log.
func SilenceLibraryLogs() {
	log.SetOutput(io.Discard)
}
