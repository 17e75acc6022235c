package expose

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
)

// relays are TURN servers outside, and the targets each was asked to
// probe, in order; answer gives a relay's result for a target.
type relays struct {
	mu     sync.Mutex
	asked  []string // "relay proto target"
	answer func(srv probe.TURNServer, target netip.AddrPort) probe.ViaResult
}

func (r *relays) check(_ context.Context, srv probe.TURNServer, target netip.AddrPort, proto string, _ probe.ViaConfig) probe.ViaResult {
	r.mu.Lock()
	r.asked = append(r.asked, srv.Host+" "+proto+" "+target.String())
	r.mu.Unlock()
	res := r.answer(srv, target)
	res.Relay, res.Target, res.Proto = srv.String(), target, proto
	return res
}

func turnServer(t *testing.T, host string) probe.TURNServer {
	t.Helper()
	srv, err := probe.ParseTURN("turn:reach:secret@" + host + ":3478")
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

var (
	viaEcho      = probe.ViaResult{Verdict: probe.Verified, RTT: 3 * time.Millisecond, Detail: "probe echoed through the relay"}
	viaTimeout   = probe.ViaResult{Verdict: probe.Timeout, Failure: probe.ViaPeerTimeout, Detail: "the relay's TCP connection got no answer within 2s"}
	viaNoFamily6 = probe.ViaResult{Failure: probe.ViaFamilyUnsupported, Code: 440, Detail: "the TURN server 11.0.0.9:3478 has no IPv6 relay address (440 Address Family not Supported)"}
)

// With --via, the TURN relays outside also probe the IPv6 pinhole, at
// [address]:port, after the IPv4 side: an echo from a relay verifies the
// IPv6 path; a relay that cannot relay IPv6 is a step, not evidence, and
// the next relay is asked; a probe that does not come back is kept as
// what the relay saw, and verifies nothing. With --ipv6 only, where no
// IPv4 mapping is made, the relay is asked all the same.
func TestViaProbesTheIPv6Pinhole(t *testing.T) {
	v4 := func(_ probe.TURNServer, target netip.AddrPort) bool { return target.Addr().Is4() }
	for _, tc := range []struct {
		name     string
		mode     string
		via      []string // the relays' hosts
		answer   func(srv probe.TURNServer, target netip.AddrPort) probe.ViaResult
		asked    []string // "relay proto target", the port added to each target
		verified bool
		probes   []probe.Verdict // the IPv6 evidence's relay probes
		steps    []string        // in the turn steps, in order
	}{
		{
			name: "--ipv6 only, the relay echoes", mode: IPv6Only, via: []string{"11.0.0.1"},
			answer:   func(probe.TURNServer, netip.AddrPort) probe.ViaResult { return viaEcho },
			asked:    []string{"11.0.0.1 tcp [::1]"},
			verified: true, probes: []probe.Verdict{probe.Verified},
			steps: []string{"probe echoed from the TURN relay 11.0.0.1:3478 through the IPv6 pinhole [::1]:"},
		},
		{
			name: "a relay without IPv6, then one with", mode: IPv6Only, via: []string{"11.0.0.9", "11.0.0.1"},
			answer: func(srv probe.TURNServer, _ netip.AddrPort) probe.ViaResult {
				if srv.Host == "11.0.0.9" {
					return viaNoFamily6
				}
				return viaEcho
			},
			asked:    []string{"11.0.0.9 tcp [::1]", "11.0.0.1 tcp [::1]"},
			verified: true, probes: []probe.Verdict{probe.Verified},
			steps: []string{"IPv6: turn:reach:***@11.0.0.9:3478: the TURN server 11.0.0.9:3478 has no IPv6 relay address", "through the IPv6 pinhole [::1]:"},
		},
		{
			name: "IPv4 first, then the pinhole", mode: IPv6Auto, via: []string{"11.0.0.1"},
			answer: func(srv probe.TURNServer, target netip.AddrPort) probe.ViaResult {
				if v4(srv, target) {
					return viaTimeout
				}
				return viaEcho
			},
			asked:    []string{"11.0.0.1 tcp 11.0.0.2", "11.0.0.1 tcp [::1]"},
			verified: true, probes: []probe.Verdict{probe.Verified},
			steps: []string{"from the TURN relay 11.0.0.1:3478: the relay's TCP connection", "through the IPv6 pinhole [::1]:"},
		},
		{
			name: "no echo through the pinhole", mode: IPv6Only, via: []string{"11.0.0.1"},
			answer: func(probe.TURNServer, netip.AddrPort) probe.ViaResult { return viaTimeout },
			asked:  []string{"11.0.0.1 tcp [::1]"},
			probes: []probe.Verdict{probe.Timeout},
			steps:  []string{"IPv6: from the TURN relay 11.0.0.1:3478: the relay's TCP connection got no answer"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := &table{ext: netip.MustParseAddr("11.0.0.2"), maps: map[uint16]upnp.Mapping{}}
			ev := newEvents()
			cfg := ipv6Config(t, netip.IPv6Loopback(), tab, ev)
			cfg.IPv6 = tc.mode
			cfg.Router.NATPMPPort, cfg.Router.CacheDir = pcpPinholes(t), "off"
			r := &relays{answer: tc.answer}
			cfg.CheckVia = r.check
			for _, h := range tc.via {
				cfg.Via = append(cfg.Via, turnServer(t, h))
			}
			ready := startReady(t, cfg, ev)
			port := ":" + strconv.Itoa(int(cfg.Port))
			var want []string
			for _, a := range tc.asked {
				want = append(want, a+port)
			}
			if strings.Join(r.asked, "\n") != strings.Join(want, "\n") {
				t.Errorf("the relays were asked\n%s\nwant\n%s", strings.Join(r.asked, "\n"), strings.Join(want, "\n"))
			}
			v6 := ready.Diagnosis.IPv6
			if v6 == nil || v6.Verified != tc.verified {
				t.Fatalf("IPv6 verdict %+v, want verified: %v", v6, tc.verified)
			}
			if tc.verified && !strings.Contains(v6.Headline, "TURN relay") {
				t.Errorf("IPv6 verdict %q, want it verified by the TURN relay", v6.Headline)
			}
			var got []probe.Verdict
			for _, p := range ready.Evidence.IPv6.Probes {
				if p.Via != probe.ViaTURN || p.Target.String() != "[::1]"+port {
					t.Errorf("IPv6 probe %+v, want one from the TURN relay to [::1]%s", p, port)
				}
				got = append(got, p.Verdict)
			}
			if len(got) != len(tc.probes) || len(got) > 0 && got[0] != tc.probes[0] {
				t.Errorf("IPv6 relay probes %v, want %v", got, tc.probes)
			}
			var turn []string
			for _, st := range ev.steps("turn") {
				turn = append(turn, st.Detail)
			}
			if len(turn) != len(tc.steps) {
				t.Fatalf("turn steps %q, want %d", turn, len(tc.steps))
			}
			for i, w := range tc.steps {
				if !strings.Contains(turn[i], w) {
					t.Errorf("turn step %d %q, want %q", i, turn[i], w)
				}
			}
		})
	}
}

// Ctrl-C while a relay probes the pinhole ends Start with the context's
// error and no Ready: Ctrl-C is not evidence.
func TestInterruptedIPv6RelayProbeHasNoVerdict(t *testing.T) {
	tab := &table{ext: netip.MustParseAddr("11.0.0.2"), maps: map[uint16]upnp.Mapping{}}
	ev := newEvents()
	cfg := ipv6Config(t, netip.IPv6Loopback(), tab, ev)
	cfg.Router.NATPMPPort, cfg.Router.CacheDir = pcpPinholes(t), "off"
	cfg.Via = []probe.TURNServer{turnServer(t, "11.0.0.1")}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	asked := 0
	cfg.CheckVia = func(ctx context.Context, _ probe.TURNServer, target netip.AddrPort, _ string, _ probe.ViaConfig) probe.ViaResult {
		asked++
		cancel() // Ctrl-C while the relay probes
		<-ctx.Done()
		return probe.ViaResult{Target: target, Failure: probe.ViaCanceled, Detail: "check canceled"}
	}
	s, err := Start(ctx, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Start = %v, want context.Canceled", err)
	}
	s.Close(context.Background(), nil)
	if asked != 1 {
		t.Errorf("the relay was asked %d times, want once", asked)
	}
	if ev.sawReady() {
		t.Error("a Ready event after Ctrl-C")
	}
}
