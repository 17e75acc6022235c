package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reach-net/reach/expose"
	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
)

// fakeMapper is a router's mapping table in memory.
type fakeMapper struct {
	method upnp.Method
	ext    netip.Addr

	mu       sync.Mutex
	table    map[uint16]upnp.Mapping
	failAdds int   // the next failAdds calls to Add fail (a rebooted router)
	addErr   error // every Add fails with this
}

func newFakeMapper(ext string) *fakeMapper {
	return &fakeMapper{method: upnp.MethodIGD2, ext: netip.MustParseAddr(ext), table: map[uint16]upnp.Mapping{}}
}

func (f *fakeMapper) Method() upnp.Method { return f.method }
func (f *fakeMapper) ExternalAddr(context.Context) (netip.Addr, error) {
	return f.ext, nil
}

func (f *fakeMapper) Add(_ context.Context, m upnp.Mapping) (upnp.Mapping, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.addErr != nil {
		return upnp.Mapping{}, f.addErr
	}
	if f.failAdds > 0 {
		f.failAdds--
		return upnp.Mapping{}, errors.New("upnp: connection refused")
	}
	f.table[m.ExternalPort] = m
	return m, nil
}

func (f *fakeMapper) Delete(_ context.Context, m upnp.Mapping) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.table[m.ExternalPort]; !ok {
		return upnp.ErrNoSuchMapping
	}
	delete(f.table, m.ExternalPort)
	return nil
}

func (f *fakeMapper) has(port uint16) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.table[port]
	return ok
}

// fakeDeps is a LAN with a router at 192.168.1.1 serving mapper (nil: no
// mapping service). With loopback, a probe of the external address reaches
// this host's port, as through a router that loops back.
func fakeDeps(mapper upnp.Mapper, loopback bool) *deps {
	d := defaultDeps()
	d.FindGateway = func(context.Context, upnp.Config) (netip.Addr, netip.Addr, error) {
		return netip.MustParseAddr("192.168.1.1"), netip.MustParseAddr("127.0.0.1"), nil
	}
	d.FindRouter = func(_ context.Context, cfg upnp.Config) (*upnp.Router, error) {
		r := &upnp.Router{Gateway: netip.MustParseAddr("192.168.1.1"), LocalIP: netip.MustParseAddr("127.0.0.1"),
			Missing: map[upnp.Family]error{}, Config: cfg}
		if mapper != nil {
			r.Services = []upnp.Mapper{mapper}
		} else {
			r.Missing[upnp.FamilyUPnP] = errors.New("no UPnP IGD answered")
		}
		return r, nil
	}
	d.Check = func(ctx context.Context, target string, cfg probe.CheckConfig) probe.CheckResult {
		if !loopback {
			return probe.CheckResult{Target: target, Verdict: probe.Refused, Detail: "connection refused"}
		}
		_, port, _ := net.SplitHostPort(target)
		return probe.Check(ctx, net.JoinHostPort("127.0.0.1", port), cfg)
	}
	d.PublicAddr = func(context.Context, []string) (probe.STUNResult, error) {
		return probe.STUNResult{}, errors.New("stun: off in tests")
	}
	d.Hops = func(context.Context, netip.AddrPort, int) ([]probe.Hop, error) { return nil, nil }
	d.Ledger = nil // tests that need one set their own
	d.FindIPv6 = func(context.Context) (probe.IPv6Info, error) { return probe.IPv6Info{}, probe.ErrNoIPv6Route }
	return d
}

// runExposeCLI starts expose and returns its events as they come.
type exposeRun struct {
	events chan map[string]any
	done   chan cliRun
	cancel context.CancelFunc
	out    *syncBuffer
}

func startExpose(t *testing.T, d *deps, args ...string) *exposeRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	er := &exposeRun{events: make(chan map[string]any, 100), done: make(chan cliRun, 1), cancel: cancel}
	pr, pw := net.Pipe()
	r := cliRun{out: &syncBuffer{}, err: &syncBuffer{}}
	er.out = r.out
	go func() {
		r.code = execute(ctx, &IOStreams{Out: teeWriter{r.out, pw}, ErrOut: r.err}, d, append([]string{"expose", "--json", "--stun", "off"}, args...))
		pw.Close()
		er.done <- r
	}()
	go func() {
		dec := json.NewDecoder(pr)
		for {
			var ev map[string]any
			if err := dec.Decode(&ev); err != nil {
				close(er.events)
				return
			}
			er.events <- ev
		}
	}()
	t.Cleanup(cancel)
	return er
}

type teeWriter struct {
	a, b interface{ Write([]byte) (int, error) }
}

func (t teeWriter) Write(p []byte) (int, error) {
	t.a.Write(p)
	return t.b.Write(p)
}

func (er *exposeRun) next(t *testing.T, kind string) map[string]any {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-er.events:
			if !ok {
				t.Fatalf("expose ended before a %q event; output:\n%s", kind, er.out)
			}
			if ev["event"] == kind {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %q event; output:\n%s", kind, er.out)
		}
	}
}

func (er *exposeRun) stop(t *testing.T) cliRun {
	t.Helper()
	er.cancel()
	for range er.events {
	}
	return <-er.done
}

func TestExposeVerifiesThroughLoopbackAndCleansUp(t *testing.T) {
	m := newFakeMapper("11.0.0.2")
	port := freePort(t)
	er := startExpose(t, fakeDeps(m, true), "--port", strconv.Itoa(port))
	ready := er.next(t, "ready")
	if ready["verified"] != true || ready["external_ip"] != "11.0.0.2" || ready["method"] != "upnp-igd2" || ready["nat"] != "public" {
		t.Errorf("ready = %v", ready)
	}
	if ready["external_port"] != float64(port) || ready["internal_port"] != float64(port) || ready["lease_s"] != float64(600) {
		t.Errorf("ready ports/lease = %v", ready)
	}
	if !m.has(uint16(port)) {
		t.Fatal("no mapping on the router while hosting")
	}
	// The hosted server answers a client like the tutorial's.
	r := runCLI(context.Background(), offlineDeps(t), "send", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), "hola")
	if r.out.String() != "hola\n" {
		t.Errorf("hosted server echo %q", r.out)
	}
	got := er.stop(t)
	if got.code != exitOK {
		t.Errorf("expose exited %d after Ctrl-C, want 0; err %s", got.code, got.err)
	}
	if m.has(uint16(port)) {
		t.Error("mapping left on the router after exit")
	}
	if stopped := lastEvent(t, got.out.String(), "stopped"); stopped["mapping_deleted"] != true || stopped["mapped"] != true {
		t.Errorf("stopped event = %v, want mapped and mapping_deleted", stopped)
	}
}

func TestExposeWithoutLoopbackSaysCheckFromOutside(t *testing.T) {
	m := newFakeMapper("11.0.0.2")
	port := freePort(t)
	er := startExpose(t, fakeDeps(m, false), "--port", strconv.Itoa(port))
	ready := er.next(t, "ready")
	if ready["verified"] != false {
		t.Fatalf("verified without a round trip: %v", ready)
	}
	if a := fmt.Sprint(ready["advice"]); !strings.Contains(a, "reach check 11.0.0.2:"+strconv.Itoa(port)) {
		t.Errorf("advice does not tell to check from outside: %q", a)
	}
	if ready["status"] != "unverified" || !strings.Contains(fmt.Sprint(ready["causes"]), "does not loop back") {
		t.Errorf("ready = %v, want status unverified with loopback among the causes", ready)
	}
	got := er.stop(t)
	if step := lastEvent(t, got.out.String(), "step"); step["step"] != "verify" || step["mark"] != "warn" || step["ok"] != false {
		t.Errorf("verify step = %v, want mark warn and ok false", step)
	}
}

func TestExposeRenewsAndRecreatesLostMapping(t *testing.T) {
	m := newFakeMapper("11.0.0.2")
	port := freePort(t)
	er := startExpose(t, fakeDeps(m, true), "--port", strconv.Itoa(port), "--lease", "1s")
	er.next(t, "ready")
	r1 := er.next(t, "renew")
	if r1["ok"] != true {
		t.Errorf("first renewal failed: %v", r1)
	}
	// The router reboots: the table is gone and the first Add fails.
	m.mu.Lock()
	m.table = map[uint16]upnp.Mapping{}
	m.failAdds = 1
	m.mu.Unlock()
	r2 := er.next(t, "renew")
	if r2["ok"] != true || !strings.Contains(fmt.Sprint(r2["detail"]), "re-created") {
		t.Errorf("mapping not re-created after the router lost it: %v", r2)
	}
	if !m.has(uint16(port)) {
		t.Error("mapping missing after re-creation")
	}
	er.stop(t)
	if m.has(uint16(port)) {
		t.Error("mapping left after exit")
	}
}

func TestExposeWithoutMappingServiceStillHosts(t *testing.T) {
	port := freePort(t)
	er := startExpose(t, fakeDeps(nil, false), "--port", strconv.Itoa(port))
	ready := er.next(t, "ready")
	if ready["method"] != "none" || ready["verified"] != false {
		t.Errorf("ready = %v", ready)
	}
	advice := fmt.Sprint(ready["advice"])
	for _, want := range []string{"http://192.168.1.1/", "forward the port by hand", "external port " + strconv.Itoa(port) + " TCP -> 127.0.0.1 port " + strconv.Itoa(port)} {
		if !strings.Contains(advice, want) {
			t.Errorf("manual forwarding advice lacks %q: %s", want, advice)
		}
	}
	r := runCLI(context.Background(), offlineDeps(t), "send", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), "still here")
	if r.code != exitOK {
		t.Errorf("server not hosted without a mapping: exit %d", r.code)
	}
	if got := er.stop(t); got.code != exitOK {
		t.Errorf("exit %d", got.code)
	}

	r = runCLI(context.Background(), fakeDeps(nil, false), "expose", "--port", strconv.Itoa(port), "--require-mapping", "--stun", "off")
	if r.code != exitNo {
		t.Errorf("--require-mapping without a service: exit %d, want 1", r.code)
	}
}

func TestExposeRouterRefusalIsExplained(t *testing.T) {
	m := newFakeMapper("11.0.0.2")
	m.addErr = &upnp.SOAPError{Code: 606, Action: "AddPortMapping"}
	r := runCLI(context.Background(), fakeDeps(m, false), "expose", "--port", strconv.Itoa(freePort(t)), "--require-mapping", "--stun", "off")
	if r.code != exitNo {
		t.Fatalf("exit %d, want 1", r.code)
	}
	if !strings.Contains(r.err.String(), "606") || !strings.Contains(r.err.String(), "settings do not allow this host") || strings.Contains(r.err.String(), "turn on UPnP") {
		t.Errorf("refusal not explained: %s", r.err)
	}
}

func TestMapAndUnmap(t *testing.T) {
	m := newFakeMapper("11.0.0.2")
	d := fakeDeps(m, false)
	r := runCLI(context.Background(), d, "map", "--port", "1234", "--external-port", "4321")
	if r.code != exitOK || strings.TrimSpace(r.out.String()) != "11.0.0.2:4321" {
		t.Fatalf("map: exit %d out %q err %s", r.code, r.out, r.err)
	}
	if !m.has(4321) {
		t.Fatal("map made no mapping")
	}
	r = runCLI(context.Background(), d, "unmap", "--port", "4321", "--internal-port", "1234")
	if r.code != exitOK || m.has(4321) {
		t.Fatalf("unmap: exit %d, still mapped %v; err %s", r.code, m.has(4321), r.err)
	}
	r = runCLI(context.Background(), d, "unmap", "--port", "4321")
	if r.code != exitOK || !strings.Contains(r.err.String(), "nothing to remove") {
		t.Errorf("unmap of a missing mapping: exit %d err %s", r.code, r.err)
	}
}

// lastEvent decodes the last JSON line of out whose "event" is kind.
func lastEvent(t *testing.T, out, kind string) map[string]any {
	t.Helper()
	var last map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("stdout line is not JSON: %q", line)
		}
		if ev["event"] == kind {
			last = ev
		}
	}
	if last == nil {
		t.Fatalf("no %q event in:\n%s", kind, out)
	}
	return last
}

// Behind another NAT the router may loop back the probe, but the internet
// still cannot reach its external address: no "reachable".
func TestExposeBehindAnotherNATIsNotVerified(t *testing.T) {
	m := newFakeMapper("192.168.0.2")
	port := freePort(t)
	er := startExpose(t, fakeDeps(m, true), "--port", strconv.Itoa(port))
	ready := er.next(t, "ready")
	if ready["verified"] != false || ready["nat"] != "double-nat" {
		t.Errorf("ready = %v, want verified false and nat double-nat", ready)
	}
	if d, _ := ready["detail"].(string); !strings.Contains(d, "double NAT") {
		t.Errorf("detail does not say why: %q", d)
	}
	if e := fmt.Sprint(ready["evidence"]); !strings.Contains(e, "came back through this router, but 192.168.0.2 is private") {
		t.Errorf("evidence does not say why the loopback echo does not count: %s", e)
	}
	er.stop(t)
}

// With --no-serve the user's own program listens: the probe through the
// router reaches it, which proves the forward but not an echo.
func TestExposeNoServeProvesTheForward(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // the tutorial's server: accepts, reads, never answers
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	m := newFakeMapper("11.0.0.2")
	er := startExpose(t, fakeDeps(m, true), "--port", strconv.Itoa(port), "--no-serve")
	ready := er.next(t, "ready")
	if ready["verified"] != false || ready["method"] != "upnp-igd2" {
		t.Errorf("ready = %v, want mapped and not verified (no echo)", ready)
	}
	if d, _ := ready["detail"].(string); ready["status"] != "open" || !strings.Contains(d, "reaches your program") {
		t.Errorf("ready = %v, want status open: the forward reaches the program", ready)
	}
	if got := er.stop(t); got.code != exitOK || m.has(uint16(port)) {
		t.Errorf("exit %d, mapping left %v", got.code, m.has(uint16(port)))
	}
}

// The verdict line of expose as a person reads it, drawn by probe.Decide
// from the evidence of each setup: a TURN relay whose connection was
// accepted says open, never "not reachable"; silence from the user's own
// UDP program is not verified, never "not reachable"; under carrier-grade
// NAT the line carries what IPv6 showed, once.
func TestExposeVerdictLines(t *testing.T) {
	pub := netip.MustParseAddr("11.0.0.2")
	v6 := netip.MustParseAddr("2001:db8:1::10")
	relay := func(v probe.Verdict, detail string) probe.ProbeEvidence {
		return probe.ProbeEvidence{Target: netip.AddrPortFrom(pub, 1234), Via: probe.ViaTURN, Verdict: v, Detail: detail}
	}
	from6 := probe.ProbeEvidence{Target: netip.AddrPortFrom(v6, 1234), Via: probe.ViaOutside, Verdict: probe.Verified,
		From: netip.MustParseAddrPort("[2001:db8:fe::1]:5000")}
	home := func(mod func(e *probe.Evidence)) probe.Evidence {
		e := probe.Evidence{Port: 1234, LocalIP: netip.MustParseAddr("192.168.1.10"), Gateway: netip.MustParseAddr("192.168.1.1"),
			Looked: true, STUNAsked: true, STUN: pub, ExternalAddr: pub,
			Services: []probe.ServiceEvidence{{Method: "upnp-igd2", ExternalAddr: pub}},
			Mapping:  &probe.MappingEvidence{Made: true, Method: "upnp-igd2", ExternalPort: 1234}}
		mod(&e)
		return e
	}
	cgnat := func(e *probe.Evidence) {
		shared := netip.MustParseAddr("100.64.3.4")
		e.Services = []probe.ServiceEvidence{{Method: "upnp-igd2", ExternalAddr: shared}}
		e.ExternalAddr, e.Mapping = shared, nil
	}
	for _, tc := range []struct {
		name      string
		ev        probe.Evidence
		colour    string // the verdict line's
		line, not []string
		rest      []string // under it, on stderr
		once      string   // printed exactly once, anywhere
	}{
		{
			name: "reach's server, the relay connected, then its data connection failed",
			ev: home(func(e *probe.Evidence) {
				e.Probes = []probe.ProbeEvidence{relay(probe.Open, "the relay connected to 11.0.0.2:1234, then failed to join our data connection to it: EOF")}
			}),
			colour: sgrYellow,
			line:   []string{"open from outside, not verified: a TURN relay reached 11.0.0.2:1234"},
			not:    []string{"not reachable"},
			rest:   []string{"possible causes:", "another device", "reach mappings"},
		},
		{
			name: "your own UDP program, silent to the relay",
			ev: home(func(e *probe.Evidence) {
				e.Protocol, e.OwnProgram = "udp", true
				e.Probes = []probe.ProbeEvidence{relay(probe.NoAnswer, "the relay sent 4 UDP probes to 11.0.0.2:1234; no echo came back")}
			}),
			colour: sgrYellow,
			line:   []string{"not verified", "silence proves nothing by itself"},
			not:    []string{"not reachable"},
			rest:   []string{"possible causes:", "does not answer reach's probe", "your program's own client"},
		},
		{
			name: "carrier-grade NAT, verified over IPv6",
			ev: home(func(e *probe.Evidence) {
				cgnat(e)
				e.IPv6 = &probe.IPv6Evidence{Address: v6, Global: true, Pinhole: true, Method: "pcp", Probes: []probe.ProbeEvidence{from6}}
			}),
			colour: sgrYellow,
			line:   []string{"not reachable over IPv4 (carrier-grade NAT); reachable over IPv6 at [2001:db8:1::10]:1234 (verified"},
			rest:   []string{"-> people with IPv6 can connect now, to [2001:db8:1::10]:1234"},
			once:   "reachable over IPv6 at",
		},
		{
			name: "carrier-grade NAT, IPv6 pinhole open, not verified",
			ev: home(func(e *probe.Evidence) {
				cgnat(e)
				e.IPv6 = &probe.IPv6Evidence{Address: v6, Global: true, Pinhole: true, Method: "pcp"}
			}),
			colour: sgrRed,
			line:   []string{"not reachable over IPv4 (carrier-grade NAT); IPv6: pinhole open at [2001:db8:1::10]:1234 (pcp), not verified"},
			once:   "reach check '[2001:db8:1::10]:1234'",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			ios := &IOStreams{Out: &out, ErrOut: &errOut, ColorOut: true}
			r := newExposeRenderer(ios, &exposeOptions{})
			r.ready(&expose.Ready{Diagnosis: probe.Decide(tc.ev), Evidence: tc.ev, Port: 1234, Protocol: upnp.Protocol(tc.ev.Protocol), Serving: !tc.ev.OwnProgram})
			line, _, _ := strings.Cut(out.String(), "\n")
			if !strings.HasPrefix(line, tc.colour) {
				t.Errorf("verdict line %q, want it coloured %q", line, tc.colour)
			}
			for _, w := range tc.line {
				if !strings.Contains(line, w) {
					t.Errorf("verdict line %q lacks %q", line, w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(line, w) {
					t.Errorf("verdict line %q says %q", line, w)
				}
			}
			for _, w := range tc.rest {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("lines under the verdict lack %q:\n%s", w, errOut.String())
				}
			}
			if all := out.String() + errOut.String(); tc.once != "" && strings.Count(all, tc.once) != 1 {
				t.Errorf("%q printed %d times, want once:\n%s", tc.once, strings.Count(all, tc.once), all)
			}
		})
	}
}

// A TURN relay whose connection to the port was accepted, then failed
// before the echo: check --via says open (exit 3), and expose --via's ready
// says status open with the candidates, never unreachable.
func TestViaOpenIsOpen(t *testing.T) {
	const bindFail = "the relay connected to %s, then failed to join our data connection to it: EOF"
	checkVia := func(_ context.Context, srv probe.TURNServer, target netip.AddrPort, proto string, _ probe.ViaConfig) probe.ViaResult {
		return probe.ViaResult{Relay: srv.String(), Target: target, Proto: proto, Verdict: probe.Open, Failure: probe.ViaTURNError,
			Detail: fmt.Sprintf(bindFail, target), Cause: "the TURN server refused or dropped the second connection; the port is open, the echo unchecked",
			Err: errors.New("EOF")}
	}
	relay := "turn:reach:secret@127.0.0.1:3478" // never dialed: CheckVia is a fake

	d := offlineDeps(t)
	d.CheckVia = checkVia
	r := runCLI(context.Background(), d, "check", "--via", relay, "127.0.0.1:1234")
	if r.code != exitPartial || !strings.HasPrefix(r.out.String(), "open: 127.0.0.1:1234") || strings.Contains(r.out.String()+r.err.String(), "not reachable") {
		t.Errorf("check --via: exit %d, out %q, err %q; want exit 3 and an open verdict", r.code, r.out, r.err)
	}

	m := newFakeMapper("11.0.0.2")
	d = fakeDeps(m, false)
	d.CheckVia = checkVia
	er := startExpose(t, d, "--port", strconv.Itoa(freePort(t)), "--via", relay)
	ready := er.next(t, "ready")
	detail, _ := ready["detail"].(string)
	causes, _ := ready["causes"].([]any)
	if ready["status"] != "open" || ready["verified"] != false || !strings.Contains(detail, "open from outside, not verified") ||
		strings.Contains(detail, "not reachable") || len(causes) < 2 {
		t.Errorf("expose --via ready = %v, want status open, not verified, with candidate causes", ready)
	}
	er.stop(t)
}
