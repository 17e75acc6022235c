package expose

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/reach-net/reach/ledger"
	"github.com/reach-net/reach/upnp"
)

// pmpTable is a NAT-PMP router: it cannot say which mappings it holds.
type pmpTable struct{ *table }

func (pmpTable) Method() upnp.Method { return upnp.MethodNATPMP }

// igdTable is a UPnP router that answers whether it holds a mapping.
type igdTable struct{ *table }

func (t igdTable) Holds(_ context.Context, m upnp.Mapping) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.maps[m.ExternalPort]
	return ok && e.Protocol == m.Protocol && e.InternalIP == m.InternalIP && e.InternalPort == m.InternalPort, nil
}

// earlierMap is the ledger's entry of a reach map that exited after
// mapping port to this host (127.0.0.1) with lease, created ago.
func earlierMap(port uint16, lease, ago time.Duration) ledger.Entry {
	return ledger.Entry{Gateway: netip.MustParseAddr("192.168.1.1"), Protocol: "tcp", ExternalPort: port,
		InternalIP: netip.MustParseAddr("127.0.0.1"), InternalPort: port, Method: "nat-pmp", Lease: lease,
		Command: "map", PID: 1 << 30, Created: time.Now().Add(-ago)}
}

// A reach map session keeps, when cut short, a mapping the router held
// before it started: UPnP says so, NAT-PMP and PCP only through the
// ledger (an earlier reach map's entry whose lease still runs). It
// records what it holds, its own lease from now, so that the next map
// and reach unmap find it; a mapping it made itself it removes and
// forgets.
func TestMapSessionKeepsWhatTheRouterHeld(t *testing.T) {
	mine := func(port uint16) upnp.Mapping {
		return upnp.Mapping{Protocol: upnp.TCP, ExternalPort: port, InternalIP: netip.MustParseAddr("127.0.0.1"), InternalPort: port, Lease: time.Hour}
	}
	for _, tc := range []struct {
		name   string
		upnp   bool
		before func(port uint16) []ledger.Entry
		other  bool   // the router's mapping forwards to another internal port
		held   string // in the map step's detail when held; "" when not
	}{
		{name: "upnp holds it", upnp: true, held: "(it was there before reach started)"},
		{name: "upnp holds another port's", upnp: true, other: true},
		{name: "nat-pmp, an earlier map's lease runs", before: func(p uint16) []ledger.Entry {
			return []ledger.Entry{earlierMap(p, time.Hour, 10*time.Minute)}
		}, held: "(an earlier reach map made it at "},
		{name: "nat-pmp, an earlier map's permanent mapping", before: func(p uint16) []ledger.Entry {
			return []ledger.Entry{earlierMap(p, 0, 48*time.Hour)}
		}, held: "(an earlier reach map made it at "},
		{name: "nat-pmp, the earlier map's lease ran out", before: func(p uint16) []ledger.Entry {
			return []ledger.Entry{earlierMap(p, time.Hour, 2*time.Hour)}
		}},
		{name: "nat-pmp, an earlier map to another port", before: func(p uint16) []ledger.Entry {
			e := earlierMap(p, time.Hour, 10*time.Minute)
			e.InternalPort = p + 1
			return []ledger.Entry{e}
		}},
		{name: "nat-pmp, an earlier map on another router", before: func(p uint16) []ledger.Entry {
			e := earlierMap(p, time.Hour, 10*time.Minute)
			e.Gateway = netip.MustParseAddr("192.168.2.1")
			return []ledger.Entry{e}
		}},
		{name: "nat-pmp, no ledger entry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := &table{ext: netip.MustParseAddr("11.0.0.2"), maps: map[uint16]upnp.Mapping{}}
			ev := newEvents()
			cfg := lanConfig(t, tab, ev, nil)
			var svc upnp.Mapper = pmpTable{tab}
			if tc.upnp {
				svc = igdTable{tab}
			}
			onRouter(&cfg, svc)
			cfg.MapOnly, cfg.RequireMapping, cfg.Command, cfg.IPv6 = true, true, "map", IPv6Off
			cfg.Lease = 2 * time.Hour
			cfg.Ledger = ledger.Open(t.TempDir())
			m := mine(cfg.Port)
			if tc.other {
				m.InternalPort++
			}
			tab.Add(context.Background(), m) // the router's mapping, before map starts
			if tc.before != nil {
				for _, e := range tc.before(cfg.Port) {
					cfg.Ledger.Add(context.Background(), e)
				}
			}
			step, st := startAndClose(t, cfg, ev)
			entries, _, _ := cfg.Ledger.List(context.Background())
			if tc.held == "" {
				if !st.Mapped || !st.Deleted || st.Kept {
					t.Errorf("stopped = %+v, want the mapping deleted", st)
				}
				if mapped, _ := tab.count(); mapped != 0 {
					t.Errorf("the router still holds %d mappings", mapped)
				}
				if strings.Contains(step.Detail, "before") {
					t.Errorf("map step %q says the mapping was there before", step.Detail)
				}
				for _, e := range entries {
					if e.PID == selfPID() {
						t.Errorf("the ledger still lists this session's entry %+v", e)
					}
				}
				return
			}
			if !st.Mapped || !st.Kept || st.Deleted {
				t.Errorf("stopped = %+v, want the mapping kept", st)
			}
			if mapped, _ := tab.count(); mapped != 1 {
				t.Errorf("the router holds %d mappings, want the one held before", mapped)
			}
			if !strings.Contains(step.Detail, tc.held) || strings.Contains(step.Detail, "kept on exit") {
				t.Errorf("map step %q, want it to say %q (and no exit: map's mapping outlives it)", step.Detail, tc.held)
			}
			// The entry is this map's now, its lease from now: the next map
			// finds it, and reach unmap forgets it.
			if len(entries) != 1 || entries[0].Command != "map" || entries[0].PID != selfPID() || entries[0].Lease != 2*time.Hour ||
				time.Since(entries[0].Created) > time.Minute {
				t.Errorf("ledger = %+v, want one entry of this map with its 2h lease from now", entries)
			}
		})
	}
}

// An expose keeps, on exit, a mapping an earlier reach map made through
// NAT-PMP or PCP whose lease still runs (the ledger's evidence), and
// leaves that map's entry as it was. An expose's own leftover entry for
// the port (one the heal could not remove) makes it the expose's to
// remove, whatever the router says.
func TestExposeKeepsAnEarlierMapsMapping(t *testing.T) {
	for _, tc := range []struct {
		name    string
		command string // the earlier entry's
		kept    bool
	}{
		{"an earlier map's over nat-pmp", "map", true},
		{"a leftover expose's over upnp", "expose", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := &table{ext: netip.MustParseAddr("11.0.0.2"), maps: map[uint16]upnp.Mapping{}}
			ev := newEvents()
			cfg := lanConfig(t, tab, ev, nil)
			var svc upnp.Mapper = pmpTable{tab}
			if tc.command == "expose" {
				svc = healFails{igdTable{tab}, new(bool)}
			}
			onRouter(&cfg, svc)
			cfg.IPv6, cfg.NoServe = IPv6Off, true
			cfg.Ledger = ledger.Open(t.TempDir())
			tab.Add(context.Background(), upnp.Mapping{Protocol: upnp.TCP, ExternalPort: cfg.Port, InternalIP: netip.MustParseAddr("127.0.0.1"), InternalPort: cfg.Port, Lease: time.Hour})
			before := earlierMap(cfg.Port, time.Hour, 10*time.Minute)
			before.Command = tc.command
			before.Method = string(svc.Method())
			cfg.Ledger.Add(context.Background(), before)
			step, st := startAndClose(t, cfg, ev)
			if st.Kept != tc.kept || st.Deleted == tc.kept {
				t.Errorf("stopped = %+v, want kept: %v", st, tc.kept)
			}
			if said := strings.Contains(step.Detail, "kept on exit"); said != tc.kept {
				t.Errorf("map step %q; want it to say kept on exit: %v", step.Detail, tc.kept)
			}
			if !tc.kept {
				return
			}
			if !strings.Contains(step.Detail, "(an earlier reach map made it at ") {
				t.Errorf("map step %q does not say an earlier reach map made it", step.Detail)
			}
			if mapped, _ := tab.count(); mapped != 1 {
				t.Errorf("the router holds %d mappings, want the earlier map's", mapped)
			}
			entries, _, _ := cfg.Ledger.List(context.Background())
			if len(entries) != 1 || entries[0].PID != before.PID || !entries[0].Created.Equal(before.Created) {
				t.Errorf("ledger = %+v, want the earlier map's entry as it was", entries)
			}
		})
	}
}

// healFails is a router whose first Delete, the heal's, gets no answer.
type healFails struct {
	igdTable
	failed *bool
}

func (h healFails) Delete(ctx context.Context, m upnp.Mapping) error {
	if !*h.failed {
		*h.failed = true
		return context.DeadlineExceeded
	}
	return h.igdTable.Delete(ctx, m)
}

// onRouter makes cfg's router (192.168.1.1, this host 127.0.0.1) offer
// svc alone.
func onRouter(cfg *Config, svc upnp.Mapper) {
	gw, local := netip.MustParseAddr("192.168.1.1"), netip.MustParseAddr("127.0.0.1")
	cfg.FindRouter = func(_ context.Context, rc upnp.Config) (*upnp.Router, error) {
		return &upnp.Router{Gateway: gw, LocalIP: local, Services: []upnp.Mapper{svc}, Missing: map[upnp.Family]error{}, Config: rc}, nil
	}
}

// startAndClose starts a session of cfg, whose events go to ev, and closes
// it as Ctrl-C would: it returns the map step and what Close did.
func startAndClose(t *testing.T, cfg Config, ev *events) (*Step, *Stopped) {
	t.Helper()
	ctx := context.Background()
	s, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	step := mapStep(t, ev)
	return step, s.Close(ctx, nil)
}

// mapStep is the last map step the session emitted.
func mapStep(t *testing.T, ev *events) *Step {
	t.Helper()
	step := ev.step("map")
	if step == nil {
		t.Fatal("no map step")
	}
	return step
}

func selfPID() int {
	pid, _ := ledger.Self()
	return pid
}
