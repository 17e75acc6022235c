package upnp

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseSSDPResponse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
		want    Device
	}{
		{
			name: "miniupnpd 2.3.1 IGD v2",
			in:   string(ssdpReply("urn:schemas-upnp-org:device:InternetGatewayDevice:2", "http://192.168.1.1:5000/rootDesc.xml")),
			want: Device{
				ST:       "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
				USN:      "uuid:5d3a8f2e-7c1b-4e0a-9f6d-2b8c4a1e3f70::urn:schemas-upnp-org:device:InternetGatewayDevice:2",
				Server:   "Debian/12 UPnP/1.1 MiniUPnPd/2.3.1",
				Location: "http://192.168.1.1:5000/rootDesc.xml",
			},
		},
		{
			name: "lowercase headers, bare LF, extra spaces",
			in:   "HTTP/1.1 200 OK\ncache-control: max-age=1800\nlocation:   http://192.168.1.1:49152/desc.xml  \nst: upnp:rootdevice\nusn: uuid:abc::upnp:rootdevice\nserver: Linux UPnP/1.0 Foo/1\n\n",
			want: Device{ST: "upnp:rootdevice", USN: "uuid:abc::upnp:rootdevice", Server: "Linux UPnP/1.0 Foo/1", Location: "http://192.168.1.1:49152/desc.xml"},
		},
		{name: "no location", in: "HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\n\r\n", wantErr: "without LOCATION"},
		{name: "not OK", in: "HTTP/1.1 404 Not Found\r\nLOCATION: http://x/\r\n\r\n", wantErr: "status"},
		{name: "a request, not an answer", in: "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n\r\n", wantErr: "malformed"},
		{name: "garbage", in: "\x00\x01\x02", wantErr: "malformed"},
		{name: "empty", in: "", wantErr: "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSSDPResponse([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestDeviceIsIGD(t *testing.T) {
	for _, tt := range []struct {
		d    Device
		want bool
	}{
		{Device{ST: "urn:schemas-upnp-org:device:InternetGatewayDevice:1"}, true},
		{Device{ST: "upnp:rootdevice", USN: "uuid:x::urn:schemas-upnp-org:device:InternetGatewayDevice:2"}, true},
		{Device{ST: "urn:schemas-upnp-org:device:MediaServer:1", USN: "uuid:y::urn:schemas-upnp-org:device:MediaServer:1"}, false},
	} {
		if got := tt.d.IsIGD(); got != tt.want {
			t.Errorf("%+v IsIGD = %v, want %v", tt.d, got, tt.want)
		}
	}
}

func TestCheckLocation(t *testing.T) {
	gw := netip.MustParseAddr("192.168.1.1")
	for _, tt := range []struct {
		loc string
		ok  bool
	}{
		{"http://192.168.1.1:5000/rootDesc.xml", true},
		{"http://192.168.1.1/desc.xml", true},
		{"http://192.168.1.20:5000/rootDesc.xml", false}, // another LAN host
		{"http://203.0.113.9/rootDesc.xml", false},       // off the LAN
		{"http://router.lan:5000/rootDesc.xml", false},   // a name could resolve anywhere
		{"https://192.168.1.1:5000/rootDesc.xml", false},
		{"file:///etc/passwd", false},
		{"http://[::1", false},
	} {
		_, err := checkLocation(tt.loc, gw)
		if (err == nil) != tt.ok {
			t.Errorf("checkLocation(%q) err = %v, want ok=%v", tt.loc, err, tt.ok)
		}
	}
}

func TestSearchSSDPFindsGatewayIGD(t *testing.T) {
	f := newFakeIGD(t, "v2")
	cfg := f.config()
	res, err := searchSSDP(context.Background(), cfg, cfg.Gateway, cfg.Gateway)
	if err != nil {
		t.Fatal(err)
	}
	if res.Location.String() != f.location() {
		t.Errorf("location = %s, want %s", res.Location, f.location())
	}
	if res.IGD.Server != "Debian/12 UPnP/1.1 MiniUPnPd/2.3.1" {
		t.Errorf("server = %q", res.IGD.Server)
	}
}

// A LAN with a second UPnP device (a mesh access point announcing itself
// as an IGD) and a gateway whose first answer points its location at
// another host: both are ignored, the gateway's real IGD is used, and the
// other device is listed.
func TestSearchSSDPIgnoresOtherHosts(t *testing.T) {
	f := newFakeIGD(t, "v1")
	var logs testLog
	cfg := f.config()
	cfg.Logf = logs.logf
	st := "urn:schemas-upnp-org:device:InternetGatewayDevice:1"
	f.addOtherDevice(ssdpReply(st, "http://127.0.0.2:5000/rootDesc.xml"))
	f.set(func(f *fakeIGD) {
		f.preReplies = [][]byte{
			ssdpReply(st, "http://127.0.0.3:80/rootDesc.xml"),
			ssdpReply(st, "http://evil.example/rootDesc.xml"),
			[]byte("not http at all"),
		}
	})
	res, err := searchSSDP(context.Background(), cfg, cfg.Gateway, cfg.Gateway)
	if err != nil {
		t.Fatal(err)
	}
	if res.Location.String() != f.location() {
		t.Errorf("location = %s, want the gateway's %s", res.Location, f.location())
	}
	if len(res.Others) == 0 || res.Others[0].Addr != netip.MustParseAddr("127.0.0.2") {
		t.Errorf("others = %+v, want the device at 127.0.0.2", res.Others)
	}
	if !logs.contains("not on the gateway") || !logs.contains("does not name an IP address") {
		t.Errorf("log does not say why the bad locations were ignored: %q", logs.lines)
	}
}

func TestSearchSSDPSilentGateway(t *testing.T) {
	f := newFakeIGD(t, "v2")
	f.set(func(f *fakeIGD) { f.ssdpSilent = true })
	cfg := f.config()
	_, err := searchSSDP(context.Background(), cfg, cfg.Gateway, cfg.Gateway)
	if !errors.Is(err, ErrNoIGD) {
		t.Fatalf("err = %v, want ErrNoIGD", err)
	}
	// The search is sent again once after ssdpResendAfter: 2 targets x 2 rounds.
	if n := f.ssdpSearches.Load(); n != 4 {
		t.Errorf("fake saw %d M-SEARCH datagrams, want 4 (v1+v2, sent twice)", n)
	}
}

// Cancelling ends a search that would otherwise wait a minute on a silent
// router: the error is the cancellation, not "no IGD" at the timeout.
func TestSearchSSDPCanceled(t *testing.T) {
	f := newFakeIGD(t, "v2")
	f.set(func(f *fakeIGD) { f.ssdpSilent = true })
	cfg := f.config()
	cfg.ssdpTimeout = time.Minute
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := searchSSDP(ctx, cfg, cfg.Gateway, cfg.Gateway)
		done <- err
	}()
	for f.ssdpSearches.Load() == 0 { // the search is under way
		time.Sleep(time.Millisecond)
	}
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrNoIGD) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestSSDPDestinations(t *testing.T) {
	gw := netip.MustParseAddr("192.168.1.1")
	d, err := ssdpDestinations(Config{}, gw)
	if err != nil || len(d) != 2 || d[0].String() != "192.168.1.1:1900" || d[1].String() != "239.255.255.250:1900" {
		t.Errorf("default destinations = %v, %v", d, err)
	}
	d, err = ssdpDestinations(Config{Multicast: "off", SSDPPort: 1901}, gw)
	if err != nil || len(d) != 1 || d[0].String() != "192.168.1.1:1901" {
		t.Errorf("unicast-only destinations = %v, %v", d, err)
	}
	if _, err := ssdpDestinations(Config{Multicast: "239.255.255.250"}, gw); err == nil {
		t.Error("multicast address without a port accepted")
	}
}

// Answers of the real miniupnpd 2.3.1 (IGD v2) in the lab, captured with
// a unicast M-SEARCH for each IGD version.
func TestParseSSDPResponseCaptured(t *testing.T) {
	for _, v := range []string{"1", "2"} {
		b, err := os.ReadFile("testdata/miniupnpd-2.3.1-reply-to-igd" + v + "-search.ssdp")
		if err != nil {
			t.Fatal(err)
		}
		d, err := parseSSDPResponse(b)
		if err != nil {
			t.Fatal(err)
		}
		if d.ST != igdDeviceURN+v || !d.IsIGD() || d.Location != "http://192.168.1.1:5000/rootDesc.xml" ||
			!strings.Contains(d.Server, "MiniUPnPd/2.3.1") || !strings.HasPrefix(d.USN, "uuid:") {
			t.Errorf("IGD:%s search: parsed %+v", v, d)
		}
		if _, err := checkLocation(d.Location, netip.MustParseAddr("192.168.1.1")); err != nil {
			t.Errorf("the real router's location refused: %v", err)
		}
	}
}
