package upnp

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// silentPort returns a UDP port on 127.0.0.1 that receives and never
// answers: where the PCP and NAT-PMP probes of these tests go.
func silentPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.LocalAddr().(*net.UDPAddr).Port
}

func readCache(t *testing.T, dir string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, cacheFileName))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var f cacheFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.Locations
}

func TestDiscoverFindsIGD(t *testing.T) {
	f := newFakeIGD(t, "v2")
	cfg := f.config()
	cfg.NATPMPPort = silentPort(t)
	d, err := Discover(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d.Gateway != igdLocal || d.LocalIP != igdLocal {
		t.Errorf("gateway, local = %s, %s", d.Gateway, d.LocalIP)
	}
	if d.IGD == nil || d.Best() != Mapper(d.IGD) {
		t.Fatalf("Best = %v, want the IGD (errors %v)", d.Best(), d.Errors)
	}
	if d.PCP != nil || d.NATPMP != nil || d.Errors[MethodPCP] == nil || d.Errors[MethodNATPMP] == nil {
		t.Errorf("silent PCP/NAT-PMP: PCP %v NAT-PMP %v errors %v", d.PCP, d.NATPMP, d.Errors)
	}
	if d.Err() != nil {
		t.Errorf("Err = %v with an IGD found", d.Err())
	}
	if got := readCache(t, cfg.CacheDir)["127.0.0.1"]; got != f.location() {
		t.Errorf("cache holds %q, want %q", got, f.location())
	}
}

func TestDiscoverNothingAnswers(t *testing.T) {
	f := newFakeIGD(t, "v2")
	f.set(func(f *fakeIGD) { f.ssdpSilent = true })
	cfg := f.config()
	cfg.NATPMPPort = silentPort(t)
	d, err := Discover(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d.Best() != nil {
		t.Fatalf("Best = %v with nothing answering", d.Best())
	}
	if !errors.Is(d.Errors[MethodUPnP], ErrNoIGD) || !strings.Contains(d.Errors[MethodUPnP].Error(), "no UPnP IGD answered") {
		t.Errorf("UPnP error = %v", d.Errors[MethodUPnP])
	}
	if !errors.Is(d.Err(), ErrNoMappingService) {
		t.Errorf("Err = %v", d.Err())
	}
}

func TestDiscoverNoGateway(t *testing.T) {
	orig := discoverGateway
	t.Cleanup(func() { discoverGateway = orig })
	discoverGateway = func() (net.IP, error) { return net.IPv4zero, nil }
	if _, err := Discover(context.Background(), Config{Multicast: "off", CacheDir: "off"}); !errors.Is(err, ErrNoGateway) {
		t.Fatalf("err = %v, want ErrNoGateway", err)
	}
}

// The second discovery finds the router through the remembered description
// URL even when SSDP stays silent; without the cache it would not.
func TestDiscoverUsesCache(t *testing.T) {
	f := newFakeIGD(t, "v1")
	cfg := f.config()
	if _, _, err := discoverIGD(context.Background(), cfg, cfg.Gateway, igdLocal); err != nil {
		t.Fatal(err)
	}
	f.set(func(f *fakeIGD) { f.ssdpSilent = true })
	before := f.descFetches.Load()
	igd, _, err := discoverIGD(context.Background(), cfg, cfg.Gateway, igdLocal)
	if err != nil {
		t.Fatalf("cached discovery: %v", err)
	}
	if igd.Location().String() != f.location() || f.descFetches.Load() != before+1 {
		t.Errorf("location %s, description fetches %d -> %d", igd.Location(), before, f.descFetches.Load())
	}

	cfg.CacheDir = "off"
	if _, _, err := discoverIGD(context.Background(), cfg, cfg.Gateway, igdLocal); !errors.Is(err, ErrNoIGD) {
		t.Errorf("with the cache off and SSDP silent: err = %v, want ErrNoIGD", err)
	}
}

// A remembered URL that no longer works (router rebooted onto another HTTP
// port) is replaced by what SSDP finds, or dropped if nothing answers.
func TestDiscoverStaleCache(t *testing.T) {
	f := newFakeIGD(t, "v2")
	cfg := f.config()
	stale := "http://127.0.0.1:1/rootDesc.xml" // port 1: nothing listens
	newDescriptionCache(cfg).Put(cfg.Gateway, stale)
	cfg.cachedHeadStart = time.Hour // the search starts when the remembered URL fails, not later

	var logs testLog
	cfg.Logf = logs.logf
	igd, _, err := discoverIGD(context.Background(), cfg, cfg.Gateway, igdLocal)
	if err != nil {
		t.Fatal(err)
	}
	if igd.Location().String() != f.location() {
		t.Errorf("location = %s", igd.Location())
	}
	if got := readCache(t, cfg.CacheDir)["127.0.0.1"]; got != f.location() {
		t.Errorf("cache holds %q after rediscovery, want %q", got, f.location())
	}

	newDescriptionCache(cfg).Put(cfg.Gateway, stale)
	f.set(func(f *fakeIGD) { f.ssdpSilent = true })
	_, _, err = discoverIGD(context.Background(), cfg, cfg.Gateway, igdLocal)
	if !errors.Is(err, ErrNoIGD) || !strings.Contains(err.Error(), stale) {
		t.Errorf("err = %v, want ErrNoIGD mentioning the stale URL", err)
	}
	if got, ok := readCache(t, cfg.CacheDir)["127.0.0.1"]; ok {
		t.Errorf("stale entry %q kept", got)
	}
	if !logs.contains("forgetting remembered IGD") {
		t.Errorf("no log line about the stale entry: %q", logs.lines)
	}
}

func TestCacheIgnoresCorruptFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, cacheFileName), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newDescriptionCache(Config{CacheDir: dir})
	gw := netip.MustParseAddr("192.168.1.1")
	if got := c.Get(gw); got != "" {
		t.Errorf("Get from a corrupt file = %q", got)
	}
	c.Put(gw, "http://192.168.1.1:5000/rootDesc.xml")
	if got := c.Get(gw); got != "http://192.168.1.1:5000/rootDesc.xml" {
		t.Errorf("Get after Put = %q", got)
	}
	off := newDescriptionCache(Config{CacheDir: "off"})
	off.Put(gw, "http://192.168.1.1/x")
	if got := off.Get(gw); got != "" {
		t.Errorf("disabled cache returned %q", got)
	}
}

func TestFindGateway(t *testing.T) {
	orig := discoverGateway
	t.Cleanup(func() { discoverGateway = orig })

	gw, local, err := FindGateway(context.Background(), Config{Gateway: netip.MustParseAddr("::ffff:127.0.0.1")})
	if err != nil || gw != igdLocal || local != igdLocal {
		t.Errorf("override: %s, %s, %v", gw, local, err)
	}
	gw, local, err = FindGateway(context.Background(), Config{Gateway: igdLocal, LocalIP: netip.MustParseAddr("192.168.1.10")})
	if err != nil || local != netip.MustParseAddr("192.168.1.10") {
		t.Errorf("LocalIP override: %s, %s, %v", gw, local, err)
	}
	discoverGateway = func() (net.IP, error) { return net.IPv4(127, 0, 0, 1), nil }
	if gw, local, err = FindGateway(context.Background(), Config{}); err != nil || gw != igdLocal || local != igdLocal {
		t.Errorf("from routing table: %s, %s, %v", gw, local, err)
	}
	for _, tt := range []struct {
		name string
		fn   func() (net.IP, error)
	}{
		{"unspecified", func() (net.IP, error) { return net.IPv4zero, nil }},
		{"no route", func() (net.IP, error) { return nil, errors.New("no gateway found") }},
		{"nil", func() (net.IP, error) { return nil, nil }},
	} {
		discoverGateway = tt.fn
		_, _, err := FindGateway(context.Background(), Config{})
		if !errors.Is(err, ErrNoGateway) || strings.Contains(err.Error(), "--") {
			t.Errorf("%s: err = %v, want ErrNoGateway, naming no flag", tt.name, err)
		}
	}
}

// Once the IGD answered, a router that silently drops NAT-PMP/PCP does not
// hold discovery up, unless every service is wanted (diagnose).
func TestDiscoverStopsWaitingForSilentPMPAfterIGD(t *testing.T) {
	f := newFakeIGD(t, "v2")
	cfg := f.config()
	cfg.NATPMPPort = silentPort(t)
	cfg.probeTimeout = time.Hour // only the IGD's answer can end the probes
	d, err := Discover(t.Context(), cfg)
	if err != nil || d.IGD == nil {
		t.Fatalf("Discover: %v, IGD %v", err, d.IGD)
	}
	for _, m := range []Method{MethodPCP, MethodNATPMP} {
		if !errors.Is(d.Errors[m], context.Canceled) {
			t.Errorf("%s probe ended with %v, want it cut short once the IGD answered", m, d.Errors[m])
		}
	}
	cfg.AllServices = true
	cfg.probeTimeout = 0
	d, err = Discover(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(d.Errors[MethodPCP], ErrPCPNoReply) || !errors.Is(d.Errors[MethodNATPMP], ErrNATPMPNoReply) {
		t.Errorf("with AllServices the probes must run to their end: %v", d.Errors)
	}
}

// --method limits discovery to that protocol.
func TestDiscoverOnly(t *testing.T) {
	f := newFakeIGD(t, "v2")
	cfg := f.config()
	cfg.NATPMPPort = silentPort(t)
	cfg.Only = "pcp"
	d, err := Discover(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d.IGD != nil || f.ssdpSearches.Load() != 0 {
		t.Errorf("--method pcp searched for UPnP: IGD %v, %d M-SEARCH", d.IGD, f.ssdpSearches.Load())
	}
	if _, probed := d.Errors[MethodNATPMP]; probed {
		t.Errorf("--method pcp probed NAT-PMP: %v", d.Errors)
	}
	if !errors.Is(d.Errors[MethodPCP], ErrPCPNoReply) {
		t.Errorf("PCP error %v, want no reply", d.Errors[MethodPCP])
	}
}

// With the router remembered, a mapping needs no search at all; diagnose
// still searches, to list the other UPnP devices on the LAN. The head
// start is an hour, so the search can only start once the remembered
// router has answered: what is asserted is the order, not a race.
func TestDiscoverCachedSearchesOnlyForDiagnose(t *testing.T) {
	f := newFakeIGD(t, "v1")
	f.addOtherDevice(ssdpReply("urn:schemas-upnp-org:device:InternetGatewayDevice:1", "http://127.0.0.2:5000/rootDesc.xml"))
	cfg := f.config()
	if _, err := Discover(t.Context(), cfg); err != nil { // remembers the router
		t.Fatal(err)
	}
	cfg.cachedHeadStart = time.Hour
	searches := f.ssdpSearches.Load()
	d, err := Discover(t.Context(), cfg)
	if err != nil || d.IGD == nil {
		t.Fatalf("cached Discover: %v", err)
	}
	if n := f.ssdpSearches.Load(); n != searches {
		t.Errorf("%d M-SEARCH sent with the router remembered, want none", n-searches)
	}
	cfg.AllServices = true
	d, err = Discover(t.Context(), cfg)
	if err != nil || d.IGD == nil {
		t.Fatalf("cached Discover for diagnose: %v", err)
	}
	if len(d.Others) == 0 || d.Others[0].Addr != netip.MustParseAddr("127.0.0.2") {
		t.Errorf("others = %+v, want the device at 127.0.0.2 listed for diagnose", d.Others)
	}
}

// A remembered router that does not answer holds the search up only for
// the head start: here the remembered URL never answers, so only the end
// of the head start can start the search that finds the router.
func TestDiscoverSearchesAfterHeadStart(t *testing.T) {
	f := newFakeIGD(t, "v2")
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(hang.Close)
	cfg := f.config()
	cfg.cachedHeadStart = time.Millisecond
	var logs testLog
	cfg.Logf = logs.logf
	newDescriptionCache(cfg).Put(cfg.Gateway, hang.URL+"/rootDesc.xml")
	igd, _, err := discoverIGD(t.Context(), cfg, cfg.Gateway, igdLocal)
	if err != nil {
		t.Fatal(err)
	}
	if igd.Location().String() != f.location() || f.ssdpSearches.Load() == 0 {
		t.Errorf("found %s after %d M-SEARCH, want the searched router", igd.Location(), f.ssdpSearches.Load())
	}
	// The remembered fetch was cut short by the search winning; had the
	// search waited for it, it would have failed on its own and been
	// forgotten.
	if logs.contains("forgetting remembered IGD") {
		t.Errorf("the search waited for the remembered router to fail: %s", logs.String())
	}
}
