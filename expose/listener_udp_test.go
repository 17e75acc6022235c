package expose

import (
	"context"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
)

// udpBinds is a ListenPacket in front of this host's ports: a bind to an
// address in taken fails with its error, as the kernel's does when a
// program holds the port; every other bind gets a socket (on 127.0.0.1,
// whatever was asked), and the fake counts those still open.
type udpBinds struct {
	mu    sync.Mutex
	taken map[string]error // "addr:port" -> the bind's error
	asked []string
	open  int
}

func (b *udpBinds) listen(network, addr string) (net.PacketConn, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.asked = append(b.asked, network+" "+addr)
	if err, ok := b.taken[addr]; ok {
		return nil, &net.OpError{Op: "listen", Net: network, Err: os.NewSyscallError("bind", err)}
	}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b.open++
	return &countedConn{PacketConn: pc, b: b}, nil
}

func (b *udpBinds) stillOpen() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open
}

type countedConn struct {
	net.PacketConn
	b    *udpBinds
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.b.mu.Lock()
		c.b.open--
		c.b.mu.Unlock()
	})
	return c.PacketConn.Close()
}

// udpOwnConfig is expose --no-serve --proto udp for this host at local
// behind a router with the mapping service tab; binds, if not nil, stands
// for this host's ports. Nothing may be sent to the user's program from
// this host: a TCP connect to the port is refused (a UDP program has no
// TCP listener), and a UDP probe fails the test.
func udpOwnConfig(t *testing.T, local string, tab *table, ev *events, binds *udpBinds) Config {
	cfg := lanConfigAt(t, local, tab, ev, nil)
	cfg.Protocol, cfg.NoServe = upnp.UDP, true
	if binds != nil {
		cfg.ListenPacket = binds.listen
	}
	cfg.Dial = func(context.Context, string, string) (net.Conn, error) {
		return nil, os.NewSyscallError("connect", syscall.ECONNREFUSED)
	}
	cfg.CheckUDP = func(_ context.Context, target string, _ probe.CheckConfig) probe.CheckResult {
		t.Errorf("a UDP probe sent to %s: the user's program is not reach's echo server", target)
		return probe.CheckResult{Target: target, Verdict: probe.NoAnswer}
	}
	return cfg
}

// startReady starts a session of cfg, closed when the test ends, and
// returns its Ready.
func startReady(t *testing.T, cfg Config, ev *events) *Ready {
	t.Helper()
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background(), nil) })
	return await[*Ready](t, ev)
}

// expose --no-serve --proto udp finds the user's UDP program without
// sending it anything: it binds the port itself and closes each socket at
// once. A port held on the LAN address (or on all addresses) is the
// program listening where the router forwards; held on 127.0.0.1 only,
// out of the router's reach; free everywhere, nothing listens yet. When
// the binds cannot tell (held on another address, or an error other than
// "in use"), reach claims neither.
func TestNoServeUDPLooksForTheProgram(t *testing.T) {
	for _, tc := range []struct {
		name     string
		taken    map[string]error // keyed by address, the port added
		listener *probe.ListenerEvidence
		mark     Mark
		step     string // in the serve step's detail
		status   probe.Status
		headline string // in the verdict; "" to skip
		not      string // never in the serve step or the verdict
	}{
		{name: "held on the LAN address", taken: map[string]error{"192.168.1.10": syscall.EADDRINUSE},
			listener: &probe.ListenerEvidence{OnLAN: true}, mark: MarkOK, step: "your program listens on UDP 192.168.1.10:",
			status: probe.StatusUnverified, headline: "mapped at 11.0.0.2:", not: "nothing listens"},
		{name: "held on Windows' WSAEADDRINUSE", taken: map[string]error{"192.168.1.10": syscall.Errno(10048)},
			listener: &probe.ListenerEvidence{OnLAN: true}, mark: MarkOK, step: "your program listens on UDP 192.168.1.10:",
			status: probe.StatusUnverified, not: "nothing listens"},
		{name: "held on 127.0.0.1 only", taken: map[string]error{"127.0.0.1": syscall.EADDRINUSE},
			listener: &probe.ListenerEvidence{OnLoopback: true}, mark: MarkFail, step: "your program listens only on UDP 127.0.0.1:",
			status: probe.StatusUnreachable, headline: "your program listens only on 127.0.0.1:", not: "nothing listens"},
		{name: "free everywhere", listener: &probe.ListenerEvidence{}, mark: MarkWarn, step: "nothing listens on UDP 192.168.1.10:",
			status: probe.StatusUnreachable, headline: "nothing listens on port"},
		{name: "held on another address", taken: map[string]error{"0.0.0.0": syscall.EADDRINUSE},
			mark: MarkWarn, step: "a program holds UDP port", status: probe.StatusUnverified, not: "nothing listens"},
		{name: "not allowed to bind", taken: map[string]error{"192.168.1.10": syscall.EACCES},
			mark: MarkWarn, step: "cannot tell whether your program listens on UDP 192.168.1.10:", status: probe.StatusUnverified, not: "nothing listens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := &table{ext: netip.MustParseAddr("11.0.0.2"), maps: map[uint16]upnp.Mapping{}}
			ev := newEvents()
			binds := &udpBinds{taken: map[string]error{}}
			cfg := udpOwnConfig(t, "192.168.1.10", tab, ev, binds)
			port := strconv.Itoa(int(cfg.Port))
			for a, err := range tc.taken {
				binds.taken[net.JoinHostPort(a, port)] = err
			}
			r := startReady(t, cfg, ev)
			if n := binds.stillOpen(); n != 0 {
				t.Errorf("%d sockets of the look still hold the port (binds %q)", n, binds.asked)
			}
			for _, a := range binds.asked {
				if !strings.HasPrefix(a, "udp4 ") || !strings.HasSuffix(a, ":"+port) {
					t.Errorf("bind %q: want UDP on port %s", a, port)
				}
			}
			switch l := r.Evidence.Listener; {
			case tc.listener == nil && l != nil:
				t.Errorf("listener = %+v, want no evidence: the binds cannot tell", *l)
			case tc.listener != nil && (l == nil || *l != *tc.listener):
				t.Errorf("listener = %v, want %+v", l, *tc.listener)
			}
			st := ev.step("serve")
			if st == nil || st.Mark != tc.mark || !strings.Contains(st.Detail, tc.step) {
				t.Errorf("serve step = %+v, want %s with %q", st, tc.mark, tc.step)
			}
			d := r.Diagnosis
			if d.Status != tc.status || !strings.Contains(d.Headline, tc.headline) {
				t.Errorf("verdict %s %q, want %s with %q", d.Status, d.Headline, tc.status, tc.headline)
			}
			if tc.not != "" && (strings.Contains(d.Headline, tc.not) || st != nil && strings.Contains(st.Detail, tc.not)) {
				t.Errorf("serve step %q, verdict %q: want no %q", st.Detail, d.Headline, tc.not)
			}
		})
	}
}

// A real UDP program bound to all addresses (as ":port" binds in Go, and
// IPAddress.Any in C#) holds the port on the LAN address too: the look
// finds it, and sends it nothing.
func TestNoServeUDPFindsARealProgram(t *testing.T) {
	prog, err := net.ListenPacket("udp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	tab := &table{ext: netip.MustParseAddr("11.0.0.2"), maps: map[uint16]upnp.Mapping{}}
	ev := newEvents()
	cfg := udpOwnConfig(t, "127.0.0.1", tab, ev, nil) // the real binds
	cfg.Port = uint16(prog.LocalAddr().(*net.UDPAddr).Port)
	r := startReady(t, cfg, ev)
	if l := r.Evidence.Listener; l == nil || !l.OnLAN {
		t.Errorf("listener = %v, want the program found on the LAN address", l)
	}
	if st := ev.step("serve"); st == nil || st.Mark != MarkOK {
		t.Errorf("serve step = %+v, want the program found", st)
	}
	if strings.Contains(r.Diagnosis.Headline, "nothing listens") {
		t.Errorf("verdict %q with the program listening", r.Diagnosis.Headline)
	}
}

// With --via, a UDP program of the user's own is still asked through the
// TURN relay, though no loopback probe is sent: an answer that is not
// reach's echo shows the port open from outside, and silence is judged
// as silence, not as "nothing listens".
func TestNoServeUDPAsksTheRelay(t *testing.T) {
	for _, tc := range []struct {
		name   string
		res    probe.ViaResult
		status probe.Status
		not    string
	}{
		{"the program answers", probe.ViaResult{Verdict: probe.Open, Failure: probe.ViaNoEcho, Detail: "a reply that is not reach's echo came back through the relay"},
			probe.StatusOpen, "not reachable"},
		{"the program is silent", probe.ViaResult{Verdict: probe.NoAnswer, Failure: probe.ViaNoEcho, Detail: "no answer through the relay"},
			probe.StatusUnverified, "not reachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := &table{ext: netip.MustParseAddr("11.0.0.2"), maps: map[uint16]upnp.Mapping{}}
			ev := newEvents()
			binds := &udpBinds{taken: map[string]error{}}
			cfg := udpOwnConfig(t, "192.168.1.10", tab, ev, binds)
			binds.taken[net.JoinHostPort("192.168.1.10", strconv.Itoa(int(cfg.Port)))] = syscall.EADDRINUSE
			relay, err := probe.ParseTURN("turn:reach:secret@11.0.0.1:3478")
			if err != nil {
				t.Fatal(err)
			}
			cfg.Via = []probe.TURNServer{relay}
			var asked []string
			cfg.CheckVia = func(_ context.Context, _ probe.TURNServer, target netip.AddrPort, proto string, _ probe.ViaConfig) probe.ViaResult {
				asked = append(asked, proto+" "+target.String())
				res := tc.res
				res.Target, res.Proto = target, proto
				return res
			}
			r := startReady(t, cfg, ev)
			want := "udp 11.0.0.2:" + strconv.Itoa(int(cfg.Port))
			if len(asked) != 1 || asked[0] != want {
				t.Fatalf("the relay was asked %q, want %q", asked, want)
			}
			if st := ev.step("verify"); st == nil || !strings.Contains(st.Detail, "asking the TURN relay") {
				t.Errorf("verify step = %+v, want it to say the relay is asked", st)
			}
			if st := ev.step("turn"); st == nil {
				t.Error("no turn step")
			}
			d := r.Diagnosis
			if d.Status != tc.status || strings.Contains(d.Headline, tc.not) || strings.Contains(d.Headline, "nothing listens") {
				t.Errorf("verdict %s %q, want %s", d.Status, d.Headline, tc.status)
			}
			var via []probe.ProbeEvidence
			for _, p := range r.Evidence.Probes {
				if p.Via == probe.ViaTURN {
					via = append(via, p)
				}
				if p.Via == probe.ViaLoopback {
					t.Errorf("a loopback probe %+v: the user's program does not echo", p)
				}
			}
			if len(via) != 1 || via[0].Verdict != tc.res.Verdict {
				t.Errorf("relay evidence %+v, want one probe with %s", via, tc.res.Verdict)
			}
		})
	}
}

// While hosting, expose --no-serve --proto udp looks again for a program
// that did not hold the port yet, the same way, and says when it has
// come up.
func TestNoServeUDPProgramComesUp(t *testing.T) {
	tab := &table{ext: netip.MustParseAddr("11.0.0.2"), maps: map[uint16]upnp.Mapping{}}
	ev := newEvents()
	binds := &udpBinds{taken: map[string]error{}}
	cfg := udpOwnConfig(t, "192.168.1.10", tab, ev, binds)
	clk := newClock()
	cfg.After = clk.after
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background(), nil)
	if r := await[*Ready](t, ev); r.Evidence.Listener == nil || r.Evidence.Listener.OnLAN {
		t.Fatalf("listener = %v, want nothing listening yet", r.Evidence.Listener)
	}
	done := make(chan error, 1)
	go func() { done <- s.Host(ctx) }()
	clk.next(t, 0) // the renewal
	_, poll := clk.next(t, 1)
	binds.mu.Lock()
	binds.taken[net.JoinHostPort("192.168.1.10", strconv.Itoa(int(cfg.Port)))] = syscall.EADDRINUSE
	binds.mu.Unlock()
	poll <- time.Now()
	l := await[*Listening](t, ev)
	if l.Addr.String() != net.JoinHostPort("192.168.1.10", strconv.Itoa(int(cfg.Port))) || strings.Contains(l.Diagnosis.Headline, "nothing listens") {
		t.Errorf("listening = %+v, want the program on 192.168.1.10 and a verdict without \"nothing listens\"", l)
	}
	if n := binds.stillOpen(); n != 0 {
		t.Errorf("%d sockets of the look still hold the port", n)
	}
	cancel()
	<-done
}
