package expose

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reach-net/reach/ledger"
	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
)

// pinholeHost is this host's global IPv6 address in the tests that open
// no real pinhole.
var pinholeHost = netip.MustParseAddr("2001:db8:1::10")

// ipv6Config is lanConfig for a host that also has a global IPv6 address
// behind the same router, IPv6 only.
func ipv6Config(t *testing.T, addr netip.Addr, tab *table, ev *events) Config {
	cfg := lanConfig(t, tab, ev, nil)
	cfg.IPv6 = IPv6Only
	cfg.FindIPv6 = func(context.Context) (probe.IPv6Info, error) {
		return probe.IPv6Info{Address: addr, Global: true, Gateway: netip.IPv6Loopback()}, nil
	}
	return cfg
}

// A pinhole a running reach holds (per the ledger) is not opened again:
// the router would hand this session the same pinhole, and its exit would
// close it under the other. With --ipv6 auto that is a warning (IPv4 goes
// on); with --ipv6 only there is nothing else to expose: ErrExposed, as
// for a mapping a running reach holds. One left by a reach that exited,
// or this process's own entry, does not stop it.
func TestPinholeOfARunningReachIsLeftAlone(t *testing.T) {
	running := func(port uint16) ledger.Entry {
		return ledger.Entry{Kind: "pinhole", Protocol: "tcp", InternalIP: pinholeHost, ExternalPort: port, InternalPort: port,
			Command: "expose", PID: os.Getppid(), Created: time.Now(), Lease: time.Hour}
	}
	for _, tc := range []struct {
		name  string
		entry func(port uint16) ledger.Entry
		opens bool
		auto  bool // --ipv6 auto rather than only
	}{
		{"running, --ipv6 only", running, false, false},
		{"running, --ipv6 auto", running, false, true},
		{"another address", func(port uint16) ledger.Entry {
			return ledger.Entry{Kind: "pinhole", Protocol: "tcp", InternalIP: netip.MustParseAddr("2001:db8:1::11"), ExternalPort: port, InternalPort: port,
				Command: "expose", PID: os.Getppid(), Created: time.Now(), Lease: time.Hour}
		}, true, false},
		{"exited", func(port uint16) ledger.Entry {
			return ledger.Entry{Kind: "pinhole", Protocol: "tcp", InternalIP: pinholeHost, ExternalPort: port, InternalPort: port,
				Command: "expose", PID: os.Getppid(), Started: 1, Created: time.Now(), Lease: time.Hour}
		}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := &table{ext: netip.MustParseAddr("11.0.0.2"), maps: map[uint16]upnp.Mapping{}}
			ev := newEvents()
			cfg := ipv6Config(t, pinholeHost, tab, ev)
			if tc.auto {
				cfg.IPv6 = IPv6Auto
			}
			cfg.Ledger = ledger.Open(t.TempDir())
			if _, err := cfg.Ledger.Add(context.Background(), tc.entry(cfg.Port)); err != nil {
				t.Fatal(err)
			}
			var asked int
			cfg.OpenPinhole = func(context.Context, *upnp.Router, netip.Addr, upnp.Pinhole) (*upnp.PinholeLease, error) {
				asked++
				return nil, errors.New("upnp: no pinhole service in this test")
			}
			ctx := context.Background()
			s, err := Start(ctx, cfg)
			wantErr := !tc.opens && !tc.auto
			if wantErr != errors.Is(err, ErrExposed) || (!wantErr && err != nil) {
				t.Fatalf("Start = %v; want ErrExposed: %v", err, wantErr)
			}
			st := s.Close(ctx, nil)
			if st.Pinhole {
				t.Errorf("stopped = %+v: the session closed a pinhole", st)
			}
			if opened := asked > 0; opened != tc.opens {
				t.Fatalf("OpenPinhole asked %d times; want asked: %v", asked, tc.opens)
			}
			if tc.opens {
				return
			}
			step := ev.step("ipv6")
			switch {
			case wantErr && (step == nil || step.Mark != MarkFail || !strings.Contains(step.Detail, "already exposed by reach pid")):
				t.Errorf("ipv6 step %+v, want a failure naming the reach that exposes the port", step)
			case !wantErr && (step == nil || step.Mark != MarkWarn || !strings.Contains(step.Detail, "already opened by reach pid") ||
				!strings.Contains(step.Detail, "stop it first")):
				t.Errorf("ipv6 step %+v, want a warning naming the reach that holds the pinhole", step)
			}
			if entries, _, _ := cfg.Ledger.List(context.Background()); len(entries) != 1 || entries[0].PID != os.Getppid() {
				t.Errorf("ledger %+v, want the other reach's entry untouched", entries)
			}
		})
	}
}

// pcpPinholes is a PCP server on ::1 that grants the first MAP and
// answers NO_RESOURCES (8) to every later one: a renewal fails.
func pcpPinholes(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	var mu sync.Mutex
	maps := 0
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
			if n < 60 || buf[1] != 1 {
				continue
			}
			mu.Lock()
			maps++
			code, lifetime := byte(0), binary.BigEndian.Uint32(buf[4:])
			if maps > 1 {
				code, lifetime = 8, 0
			}
			mu.Unlock()
			b := make([]byte, 60)
			b[0], b[1], b[3] = 2, 0x80|buf[1], code
			binary.BigEndian.PutUint32(b[4:], lifetime)
			binary.BigEndian.PutUint32(b[8:], 1000) // epoch
			copy(b[24:42], buf[24:42])              // nonce, protocol, internal port
			copy(b[42:44], buf[40:42])              // external port: the internal one
			copy(b[44:60], buf[8:24])               // external address: the client's own
			c.WriteToUDPAddrPort(b, from)
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// clock is an injected After: it records each wait asked and hands out a
// channel the test fires.
type clock struct {
	mu    sync.Mutex
	waits []time.Duration
	chans []chan time.Time
	asked chan struct{}
}

func newClock() *clock { return &clock{asked: make(chan struct{}, 16)} }

func (c *clock) after(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.chans = append(c.chans, ch)
	c.mu.Unlock()
	c.asked <- struct{}{}
	return ch
}

// next waits for the next After call and returns its wait and channel.
func (c *clock) next(t *testing.T, i int) (time.Duration, chan time.Time) {
	t.Helper()
	select {
	case <-c.asked:
	case <-time.After(10 * time.Second):
		t.Fatalf("no wait %d asked of the clock", i)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waits[i], c.chans[i]
}

// A failed pinhole renewal is retried when its event says: the wait the
// session asks of its clock next is the event's RetryIn, 30 s, not a
// whole renewal period.
func TestPinholeRenewRetriesWhenItSays(t *testing.T) {
	tab := &table{ext: netip.MustParseAddr("11.0.0.2"), maps: map[uint16]upnp.Mapping{}}
	ev := newEvents()
	cfg := ipv6Config(t, netip.IPv6Loopback(), tab, ev)
	cfg.Router.NATPMPPort, cfg.Router.CacheDir = pcpPinholes(t), "off"
	clk := newClock()
	cfg.After = clk.after
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.pinhole == nil || s.pinhole.Method() != upnp.PinholePCP {
		t.Fatalf("no PCP pinhole: %+v", s.ev.IPv6)
	}
	done := make(chan error, 1)
	go func() { done <- s.Host(ctx) }()
	every, tick := clk.next(t, 0)
	if every != 5*time.Minute {
		t.Errorf("first renewal in %v, want 5m (half the hour's lease, at most 5m)", every)
	}
	tick <- time.Now()
	r := await[*Renewed](t, ev)
	if r.OK || !r.IPv6 || r.RetryIn != 30*time.Second {
		t.Errorf("renewal = %+v, want a failed IPv6 renewal retried in 30s", r)
	}
	if retry, _ := clk.next(t, 1); retry != r.RetryIn {
		t.Errorf("the session waits %v before the retry; its event said %v", retry, r.RetryIn)
	}
	cancel()
	<-done
	s.Close(context.Background(), nil)
}
