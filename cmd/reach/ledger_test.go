package main

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reach-net/reach/ledger"
	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
)

// tableLister is a UPnP router whose list is its table.
type tableLister struct{ *fakeMapper }

func (l tableLister) Mappings(context.Context) ([]upnp.Mapping, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []upnp.Mapping
	for _, m := range l.table {
		out = append(out, m)
	}
	return out, nil
}

// Holds is the router's answer to "do you forward m's port to m's
// internal address and port".
func (l tableLister) Holds(_ context.Context, m upnp.Mapping) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.table[m.ExternalPort]
	return ok && e.Protocol == m.Protocol && e.InternalIP == m.InternalIP && e.InternalPort == m.InternalPort, nil
}

func leftover(port uint16, pid int) ledger.Entry {
	return ledger.Entry{Gateway: netip.MustParseAddr("192.168.1.1"), Protocol: "tcp", ExternalPort: port,
		InternalIP: netip.MustParseAddr("127.0.0.1"), InternalPort: port, Method: "upnp-igd2", Command: "expose", PID: pid}
}

// A mapping left by an expose whose process is gone is removed by the next
// command that talks to the router, which says so; a running reach's
// mapping is listed with its pid and never taken over.
func TestLedgerHealsLeftoversAndRefusesTakeOver(t *testing.T) {
	m := newFakeMapper("11.0.0.2")
	d := fakeDeps(tableLister{m}, false)
	d.Ledger = ledger.Open(t.TempDir())
	m.Add(context.Background(), upnp.Mapping{Protocol: upnp.TCP, ExternalPort: 4000, InternalIP: netip.MustParseAddr("127.0.0.1"), InternalPort: 4000})
	d.Ledger.Add(context.Background(), leftover(4000, 1<<30)) // no such process: killed long ago
	m.Add(context.Background(), upnp.Mapping{Protocol: upnp.TCP, ExternalPort: 4001, InternalIP: netip.MustParseAddr("127.0.0.1"), InternalPort: 4001})
	d.Ledger.Add(context.Background(), leftover(4001, 1)) // pid 1 runs
	other := netip.MustParseAddr("192.168.1.77")
	m.Add(context.Background(), upnp.Mapping{Protocol: upnp.TCP, ExternalPort: 4002, InternalIP: other, InternalPort: 4002})
	elsewhere := leftover(4002, 1<<30) // made from this host when it had another address
	elsewhere.InternalIP = other
	d.Ledger.Add(context.Background(), elsewhere)

	// Pinholes of exited reaches: an expose's is a leftover (it closes by
	// itself), a map's was left open on purpose.
	for _, cmd := range []string{"expose", "map"} {
		ph := leftover(5000, 1<<30)
		ph.Kind, ph.Command, ph.InternalIP, ph.Lease, ph.Created = "pinhole", cmd, netip.MustParseAddr("2001:db8::10"), time.Hour, time.Now()
		if cmd == "map" {
			ph.ExternalPort, ph.InternalPort = 5001, 5001
		}
		d.Ledger.Add(context.Background(), ph)
	}

	r := runCLI(context.Background(), d, "mappings")
	if r.code != exitOK || !strings.Contains(r.err.String(), "removed 4000/tcp left by reach expose (pid 1073741824, exited)") {
		t.Fatalf("mappings did not heal the leftover: exit %d\n%s", r.code, r.err)
	}
	if !strings.Contains(r.err.String(), "[2001:db8::10]:5000/tcp left by reach expose") || strings.Contains(r.err.String(), ":5001") {
		t.Errorf("heal should name the exited expose's pinhole and say nothing of the map's:\n%s", r.err)
	}
	if m.has(4000) {
		t.Error("the leftover mapping is still on the router")
	}
	if !m.has(4002) || strings.Contains(r.err.String(), "4002") {
		t.Errorf("heal touched a mapping to another address (%s), which may be another host's now:\n%s", other, r.err)
	}
	for _, want := range []string{"[2001:db8::10]:5000/tcp", "reach (left over)", "[2001:db8::10]:5001/tcp", "reach map"} {
		if !strings.Contains(r.out.String(), want) {
			t.Errorf("mappings does not list the ledger's pinholes (%q):\n%s", want, r.out)
		}
	}
	if !strings.Contains(r.out.String(), "reach (running, pid 1)") {
		t.Errorf("mappings does not mark the running reach's mapping:\n%s", r.out)
	}

	r = runCLI(context.Background(), d, "expose", "--port", "4001", "--stun", "off", "--no-serve")
	if r.code != exitNo || !strings.Contains(r.err.String(), "already exposed by reach pid 1") {
		t.Errorf("expose took over a running reach's port: exit %d\n%s", r.code, r.err)
	}
	if !m.has(4001) {
		t.Error("the running reach's mapping was removed")
	}
}

// A mapping that was there before expose started is renewed but kept on
// exit; one expose made is removed, and recorded only while it lives.
func TestExposeKeepsAMappingItFound(t *testing.T) {
	m := newFakeMapper("11.0.0.2")
	d := fakeDeps(tableLister{m}, true)
	d.Ledger = ledger.Open(t.TempDir())
	port := freePort(t)
	m.Add(context.Background(), upnp.Mapping{Protocol: upnp.TCP, ExternalPort: uint16(port), InternalIP: netip.MustParseAddr("127.0.0.1"), InternalPort: uint16(port)})
	er := startExpose(t, d, "--port", strconv.Itoa(port))
	er.next(t, "ready")
	got := er.stop(t)
	if stopped := lastEvent(t, got.out.String(), "stopped"); stopped["mapping_kept"] != true || stopped["mapping_deleted"] != false {
		t.Errorf("stopped = %v, want the mapping kept", stopped)
	}
	if !m.has(uint16(port)) {
		t.Error("expose removed a mapping it did not make")
	}

	other := freePort(t)
	er = startExpose(t, d, "--port", strconv.Itoa(other))
	er.next(t, "ready")
	if entries, _, _ := d.Ledger.List(context.Background()); len(entries) != 1 || entries[0].ExternalPort != uint16(other) {
		t.Errorf("ledger while hosting = %+v, want the one mapping expose made", entries)
	}
	er.stop(t)
	if entries, _, _ := d.Ledger.List(context.Background()); len(entries) != 0 || m.has(uint16(other)) {
		t.Errorf("after exit: ledger %+v, mapping left %v", entries, m.has(uint16(other)))
	}
}

// unmap says "removed" only when the router's list no longer has it.
func TestUnmapReadsBack(t *testing.T) {
	m := newFakeMapper("11.0.0.2")
	d := fakeDeps(tableLister{m}, false)
	m.Add(context.Background(), upnp.Mapping{Protocol: upnp.TCP, ExternalPort: 4100, InternalIP: netip.MustParseAddr("127.0.0.1"), InternalPort: 7000})
	r := runCLI(context.Background(), d, "unmap", "--port", "4100", "--json")
	if r.code != exitOK || !strings.Contains(r.out.String(), `"removed":true`) || !strings.Contains(r.out.String(), `"checked":true`) || m.has(4100) {
		t.Errorf("unmap of this host's mapping to another internal port: exit %d out %s err %s", r.code, r.out, r.err)
	}
}

// diagnose's "healed" lists what was removed, not the ledger's warnings.
func TestDiagnoseHealedListsRemovalsOnly(t *testing.T) {
	d := fakeDeps(newFakeMapper("11.0.0.2"), false)
	d.Hops = func(context.Context, netip.AddrPort, int) ([]probe.Hop, error) { return nil, nil }
	dir := t.TempDir()
	d.Ledger = ledger.Open(dir)
	if err := os.WriteFile(filepath.Join(dir, "ledger.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(context.Background(), d, "diagnose", "--json", "--stun", "off")
	var rep struct {
		Healed []string `json:"healed"`
	}
	if err := json.Unmarshal([]byte(r.out.String()), &rep); err != nil {
		t.Fatalf("diagnose --json: %v\n%s", err, r.out)
	}
	if len(rep.Healed) != 0 {
		t.Errorf("healed lists %q; the ledger's warning is not a removal", rep.Healed)
	}
}

// mappings --json lists the pinholes whose lease still runs, from the
// ledger, after the mappings.
func TestMappingsJSONListsPinholes(t *testing.T) {
	m := newFakeMapper("11.0.0.2")
	d := fakeDeps(tableLister{m}, false)
	d.Ledger = ledger.Open(t.TempDir())
	live := leftover(5000, 1)
	live.Kind, live.InternalIP, live.Lease, live.Created = "pinhole", netip.MustParseAddr("2001:db8::10"), time.Hour, time.Now()
	d.Ledger.Add(context.Background(), live)
	gone := live
	gone.ExternalPort, gone.InternalPort, gone.Created = 5002, 5002, time.Now().Add(-2*time.Hour) // its lease ran out
	d.Ledger.Add(context.Background(), gone)
	r := runCLI(context.Background(), d, "mappings", "--json")
	var out struct {
		Pinholes []pinholeJSON `json:"pinholes"`
	}
	if err := json.Unmarshal([]byte(r.out.String()), &out); err != nil {
		t.Fatalf("output %q: %v", r.out, err)
	}
	if len(out.Pinholes) != 1 || out.Pinholes[0].Address != "[2001:db8::10]:5000" || out.Pinholes[0].Owner != "reach (running, pid 1)" || out.Pinholes[0].Until == "" {
		t.Errorf("pinholes = %+v, want only the running reach's [2001:db8::10]:5000", out.Pinholes)
	}
}

// diagnose --via also has the relay probe the IPv6 pinholes reach holds
// open for this host's global address, from the ledger.
func TestDiagnoseViaProbesPinholes(t *testing.T) {
	d := fakeDeps(tableLister{newFakeMapper("11.0.0.2")}, false)
	d.Hops = func(context.Context, netip.AddrPort, int) ([]probe.Hop, error) { return nil, nil }
	v6 := netip.MustParseAddr("2001:db8::10")
	d.FindIPv6 = func(context.Context) (probe.IPv6Info, error) {
		return probe.IPv6Info{Address: v6, Global: true, Gateway: netip.MustParseAddr("fe80::1")}, nil
	}
	d.Ledger = ledger.Open(t.TempDir())
	ph := leftover(5000, 1) // pid 1 runs
	ph.Kind, ph.InternalIP, ph.Lease, ph.Created = "pinhole", v6, time.Hour, time.Now()
	d.Ledger.Add(context.Background(), ph)
	other := ph // another host's address: not this host's pinhole to probe
	other.InternalIP, other.ExternalPort, other.InternalPort = netip.MustParseAddr("2001:db8::99"), 5001, 5001
	d.Ledger.Add(context.Background(), other)
	var asked []netip.AddrPort
	d.CheckVia = func(_ context.Context, srv probe.TURNServer, target netip.AddrPort, proto string, _ probe.ViaConfig) probe.ViaResult {
		asked = append(asked, target)
		return probe.ViaResult{Relay: srv.String(), Target: target, Proto: proto, Verdict: probe.Verified, Detail: "echoed"}
	}
	r := runCLI(context.Background(), d, "diagnose", "--json", "--stun", "off", "--via", "turn:reach:secret@127.0.0.1:3478")
	var rep struct {
		Outside []outsideJSON `json:"outside"`
	}
	if err := json.Unmarshal([]byte(r.out.String()), &rep); err != nil {
		t.Fatalf("diagnose --json: %v\n%s", err, r.out)
	}
	want := netip.MustParseAddrPort("[2001:db8::10]:5000")
	if len(asked) != 1 || asked[0] != want {
		t.Errorf("the relay was asked to probe %v, want only %s", asked, want)
	}
	if len(rep.Outside) != 1 || rep.Outside[0].Target != want.String() || rep.Outside[0].Verdict != "verified" {
		t.Errorf("outside = %+v, want %s verified", rep.Outside, want)
	}
}
