package expose

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/reach-net/reach/frame"
	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
)

// table is a router's mapping table in memory.
type table struct {
	mu   sync.Mutex
	ext  netip.Addr
	maps map[uint16]upnp.Mapping
	adds int
}

func (t *table) Method() upnp.Method                              { return upnp.MethodIGD2 }
func (t *table) ExternalAddr(context.Context) (netip.Addr, error) { return t.ext, nil }
func (t *table) Add(_ context.Context, m upnp.Mapping) (upnp.Mapping, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.adds++
	t.maps[m.ExternalPort] = m
	return m, nil
}
func (t *table) Delete(_ context.Context, m upnp.Mapping) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.maps[m.ExternalPort]; !ok {
		return upnp.ErrNoSuchMapping
	}
	delete(t.maps, m.ExternalPort)
	return nil
}
func (t *table) count() (mapped, adds int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.maps), t.adds
}

// events records what a session emitted.
type events struct {
	mu  sync.Mutex
	all []Event
	got chan Event
}

func newEvents() *events { return &events{got: make(chan Event, 256)} }

// steps are the steps named name the session emitted, in order.
func (e *events) steps(name string) []*Step {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*Step
	for _, ev := range e.all {
		if st, ok := ev.(*Step); ok && st.Name == name {
			out = append(out, st)
		}
	}
	return out
}

// step is the last step named name the session emitted; nil if none.
func (e *events) step(name string) *Step {
	all := e.steps(name)
	if len(all) == 0 {
		return nil
	}
	return all[len(all)-1]
}

// sawReady reports whether the session emitted Ready.
func (e *events) sawReady() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.all {
		if _, ok := ev.(*Ready); ok {
			return true
		}
	}
	return false
}

func (e *events) on(ev Event) {
	if c, ok := ev.(*Client); ok { // its payload is valid only during the call
		ev = &Client{Event: frame.Event{Kind: c.Kind, Remote: c.Remote}, Protocol: c.Protocol}
	}
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
	e.got <- ev
}

// await returns the first event of type T, failing after a generous bound
// on something that happens in milliseconds.
func await[T Event](t *testing.T, e *events) T {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-e.got:
			if v, ok := ev.(T); ok {
				return v
			}
		case <-timeout:
			var zero T
			t.Fatalf("no %T event", zero)
			return zero
		}
	}
}

func freePort(t *testing.T) uint16 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// lanConfig is a LAN host 127.0.0.1 behind a router at 192.168.1.1 with
// the mapping service tab; probes of the public address are refused (no
// loopback). renew delivers the renewal ticks.
func lanConfig(t *testing.T, tab *table, ev *events, renew chan time.Time) Config {
	return lanConfigAt(t, "127.0.0.1", tab, ev, renew)
}

// lanConfigAt is lanConfig with this host at local.
func lanConfigAt(t *testing.T, localIP string, tab *table, ev *events, renew chan time.Time) Config {
	gw, local := netip.MustParseAddr("192.168.1.1"), netip.MustParseAddr(localIP)
	return Config{
		Port: freePort(t), Lease: time.Hour, OnEvent: ev.on,
		FindGateway: func(context.Context, upnp.Config) (netip.Addr, netip.Addr, error) { return gw, local, nil },
		FindRouter: func(_ context.Context, cfg upnp.Config) (*upnp.Router, error) {
			return &upnp.Router{Gateway: gw, LocalIP: local, Services: []upnp.Mapper{tab}, Missing: map[upnp.Family]error{}, Config: cfg}, nil
		},
		Check: func(_ context.Context, target string, _ probe.CheckConfig) probe.CheckResult {
			return probe.CheckResult{Target: target, Verdict: probe.Refused}
		},
		After: func(time.Duration) <-chan time.Time { return renew },
		// No IPv6 here: a unit test never talks to the machine's real router.
		FindIPv6:     func(context.Context) (probe.IPv6Info, error) { return probe.IPv6Info{}, probe.ErrNoIPv6Route },
		HostFirewall: func(context.Context) (probe.FirewallState, error) { return probe.FirewallState{}, nil },
	}
}

// A reach probe that arrives from a public address while hosting is the
// proof the router's missing loopback could not give; a probe from this
// network's own public address is not.
func TestOutsideProbeVerifies(t *testing.T) {
	tab := &table{ext: netip.MustParseAddr("11.0.0.2"), maps: map[uint16]upnp.Mapping{}}
	ev := newEvents()
	cfg := lanConfig(t, tab, ev, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r := await[*Ready](t, ev); r.Diagnosis.Status != probe.StatusUnverified || r.Mapping == nil {
		t.Fatalf("ready = %+v, want mapped and unverified", r.Diagnosis)
	}
	s.clientEvent(frame.Event{Kind: frame.EventMessage, Remote: "11.0.0.2:5000", Payload: probe.NewProbe()})
	s.clientEvent(frame.Event{Kind: frame.EventMessage, Remote: "11.0.0.1:6000", Payload: probe.NewProbe()})
	v := await[*Verified](t, ev)
	if v.From.String() != "11.0.0.1:6000" || v.Diagnosis.Status != probe.StatusVerified || v.Diagnosis.VerifiedBy != probe.ViaOutside {
		t.Errorf("verified = %+v from %s, want verified by the outside probe from 11.0.0.1", v.Diagnosis, v.From)
	}
	if st := s.Close(ctx, nil); !st.Deleted {
		t.Errorf("stopped = %+v, want the mapping deleted", st)
	}
	if n, _ := tab.count(); n != 0 {
		t.Errorf("%d mappings left on the router", n)
	}
}

// Renewal runs on the injected clock, once per tick, and says how.
func TestRenewOnTheClock(t *testing.T) {
	tab := &table{ext: netip.MustParseAddr("11.0.0.2"), maps: map[uint16]upnp.Mapping{}}
	ev := newEvents()
	tick := make(chan time.Time)
	cfg := lanConfig(t, tab, ev, tick)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Host(ctx) }()
	for i := 0; i < 2; i++ {
		tick <- time.Now()
		if r := await[*Renewed](t, ev); !r.OK || r.Mapping.ExternalPort != cfg.Port {
			t.Errorf("renewal %d = %+v", i, r)
		}
	}
	if _, adds := tab.count(); adds != 3 {
		t.Errorf("%d adds, want 3: the mapping and one per tick", adds)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Host after cancel: %v", err)
	}
	s.Close(ctx, nil)
}

// Cut short before hosting, Start returns the context's error and no Ready:
// Ctrl-C is not evidence. Close still removes what was made.
func TestInterruptedStartHasNoVerdict(t *testing.T) {
	tab := &table{ext: netip.MustParseAddr("11.0.0.2"), maps: map[uint16]upnp.Mapping{}}
	ev := newEvents()
	cfg := lanConfig(t, tab, ev, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cfg.Check = func(ctx context.Context, target string, _ probe.CheckConfig) probe.CheckResult {
		cancel() // Ctrl-C while verifying
		<-ctx.Done()
		return probe.CheckResult{Target: target, Verdict: probe.Timeout}
	}
	s, err := Start(ctx, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Start = %v, want context.Canceled", err)
	}
	if st := s.Close(ctx, nil); !st.Mapped || !st.Deleted {
		t.Errorf("stopped = %+v, want the mapping made and deleted", st)
	}
	if ev.sawReady() {
		t.Error("a Ready event after Ctrl-C")
	}
}

// --no-serve looks where the router forwards: a program on 127.0.0.1 only
// is named, and the verdict says the router cannot reach it.
func TestNoServeLoopbackOnly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	tab := &table{ext: netip.MustParseAddr("11.0.0.2"), maps: map[uint16]upnp.Mapping{}}
	ev := newEvents()
	// This host's LAN address is 192.168.1.10 here: nothing listens there.
	cfg := lanConfigAt(t, "192.168.1.10", tab, ev, nil)
	cfg.Port, cfg.NoServe = port, true
	cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr != net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))) {
			return nil, errors.New("connection refused")
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	ctx := context.Background()
	s, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx, nil)
	r := await[*Ready](t, ev)
	if r.Diagnosis.Status != probe.StatusUnreachable || r.Evidence.Listener == nil || !r.Evidence.Listener.OnLoopback {
		t.Errorf("ready = %+v, want unreachable: the program listens only on loopback", r.Diagnosis)
	}
}

// --proto udp serves the framed UDP echo, maps UDP and proves it with a
// UDP probe through a router that loops back.
func TestUDPServedAndVerified(t *testing.T) {
	tab := &table{ext: netip.MustParseAddr("11.0.0.2"), maps: map[uint16]upnp.Mapping{}}
	ev := newEvents()
	cfg := lanConfig(t, tab, ev, nil)
	cfg.Protocol = upnp.UDP
	cfg.CheckUDP = func(ctx context.Context, target string, c probe.CheckConfig) probe.CheckResult {
		_, port, _ := net.SplitHostPort(target)
		return probe.CheckUDP(ctx, net.JoinHostPort("127.0.0.1", port), c) // the router loops back
	}
	ctx := context.Background()
	s, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx, nil)
	r := await[*Ready](t, ev)
	if r.Diagnosis.Status != probe.StatusVerified || r.Mapping == nil || r.Mapping.Protocol != upnp.UDP {
		t.Errorf("ready = %+v (mapping %+v), want a UDP mapping verified by loopback", r.Diagnosis, r.Mapping)
	}
}

// A mapping the router still lists but no longer forwards (seen on some
// ISP boxes) is caught only by a round trip: after a renewal the probe
// fails, the session deletes and re-makes the mapping, probes again and
// says so.
func TestSelfCheckRepairsASilentMapping(t *testing.T) {
	tab := &table{ext: netip.MustParseAddr("11.0.0.2"), maps: map[uint16]upnp.Mapping{}}
	ev := newEvents()
	tick := make(chan time.Time)
	cfg := lanConfig(t, tab, ev, tick)
	var mu sync.Mutex
	silentUntil := 0 // the router stops forwarding until it has seen this many adds
	cfg.Check = func(_ context.Context, target string, _ probe.CheckConfig) probe.CheckResult {
		mu.Lock()
		defer mu.Unlock()
		if _, adds := tab.count(); adds < silentUntil {
			return probe.CheckResult{Target: target, Verdict: probe.Timeout}
		}
		return probe.CheckResult{Target: target, Verdict: probe.Verified, RTTs: []time.Duration{time.Millisecond}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r := await[*Ready](t, ev); r.Diagnosis.VerifiedBy != probe.ViaLoopback {
		t.Fatalf("ready = %+v, want verified by loopback", r.Diagnosis)
	}
	done := make(chan error, 1)
	go func() { done <- s.Host(ctx) }()
	mu.Lock()
	silentUntil = 3 // broken after the renewal (add 2) until made again (add 3)
	mu.Unlock()
	tick <- time.Now()
	await[*Renewed](t, ev)
	sc := await[*SelfCheck](t, ev)
	if !sc.Repaired || !sc.OK {
		t.Errorf("self-check = %+v, want the mapping re-made and echoing again", sc)
	}
	if _, adds := tab.count(); adds != 3 {
		t.Errorf("%d adds, want 3: the mapping, the renewal, the re-made one", adds)
	}
	cancel()
	<-done
	s.Close(ctx, nil)
}
