package main

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
)

// blockingMapper never answers Add until the context ends.
type blockingMapper struct{ *fakeMapper }

func (b blockingMapper) Add(ctx context.Context, _ upnp.Mapping) (upnp.Mapping, error) {
	<-ctx.Done()
	return upnp.Mapping{}, ctx.Err()
}

// Ctrl-C cuts a one-shot command short with exit 130.
func TestOneShotCommandsExit130OnCtrlC(t *testing.T) {
	for _, args := range [][]string{
		{"map", "--port", "1234", "--timeout", "10s"},
		{"check", "127.0.0.1:1234"},
	} {
		t.Run(args[0], func(t *testing.T) {
			d := fakeDeps(blockingMapper{newFakeMapper("11.0.0.2")}, false)
			d.Check = func(ctx context.Context, target string, _ probe.CheckConfig) probe.CheckResult {
				<-ctx.Done()
				return probe.CheckResult{Target: target, Verdict: probe.Timeout}
			}
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			if r := runCLI(ctx, d, args...); r.code != exitInterrupted {
				t.Errorf("exit %d, want 130; stderr %s", r.code, r.err)
			}
		})
	}
}

// fakeLister is a UPnP router's table with one mapping of this host and
// one of another device.
type fakeLister struct{ *fakeMapper }

func (f fakeLister) Mappings(context.Context) ([]upnp.Mapping, error) {
	return []upnp.Mapping{
		{Protocol: upnp.TCP, ExternalPort: 1234, InternalIP: netip.MustParseAddr("127.0.0.1"), InternalPort: 1234, Description: "reach 1234", Lease: time.Hour, Enabled: true},
		{Protocol: upnp.UDP, ExternalPort: 5555, InternalIP: netip.MustParseAddr("192.168.1.20"), InternalPort: 5555, Description: "console", Enabled: true},
	}, nil
}

func TestMappingsMarksThisHosts(t *testing.T) {
	d := fakeDeps(fakeLister{newFakeMapper("11.0.0.2")}, false)
	r := runCLI(context.Background(), d, "mappings", "--json")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	var got struct {
		Mappings []struct {
			ExternalPort int    `json:"external_port"`
			InternalIP   string `json:"internal_ip"`
			Ours         bool
			LeaseS       int `json:"lease_s"`
		}
	}
	if err := json.Unmarshal([]byte(r.out.String()), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Mappings) != 2 || !got.Mappings[0].Ours || got.Mappings[1].Ours || got.Mappings[0].LeaseS != 3600 {
		t.Errorf("mappings = %+v, want 1234 ours with 3600 s left, 5555 not ours", got.Mappings)
	}
	r = runCLI(context.Background(), d, "mappings")
	if !strings.Contains(r.out.String(), "*  1234") || !strings.Contains(r.out.String(), "192.168.1.20:5555") {
		t.Errorf("table:\n%s", r.out)
	}
}

// diagnose's JSON is what support tickets carry: the CLI.md fields.
func TestDiagnoseJSON(t *testing.T) {
	d := fakeDeps(newFakeMapper("11.0.0.2"), false)
	d.PublicAddr = func(context.Context, []string) (probe.STUNResult, error) {
		return probe.STUNResult{Server: "stun.test:3478", Addr: netip.MustParseAddrPort("11.0.0.2:40000")}, nil
	}
	d.Hops = func(context.Context, netip.AddrPort, int) ([]probe.Hop, error) {
		return []probe.Hop{{TTL: 1, Addr: netip.MustParseAddr("192.168.1.1")}, {TTL: 2, Addr: netip.MustParseAddr("11.0.0.1"), Target: true}}, nil
	}
	r := runCLI(context.Background(), d, "diagnose", "--json", "--stun", "stun.test:3478")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(r.out.String()), &rep); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"local_ip", "gateway", "services", "public_ip", "nat", "advice", "evidence", "hops"} {
		if _, ok := rep[f]; !ok {
			t.Errorf("report lacks %q: %s", f, r.out)
		}
	}
	if rep["nat"] != "public" || rep["public_ip"] != "11.0.0.2" || rep["gateway"] != "192.168.1.1" {
		t.Errorf("report = %s", r.out)
	}
	svcs, _ := rep["services"].([]any)
	if len(svcs) != 1 || svcs[0].(map[string]any)["external_ip"] != "11.0.0.2" {
		t.Errorf("services = %v", rep["services"])
	}
}

// A host without a default route (a cloud VM's private network, a cable
// unplugged) still hosts the server, and says why nothing is mapped.
func TestExposeWithoutGatewayStillHosts(t *testing.T) {
	d := fakeDeps(nil, false)
	d.FindRouter = func(context.Context, upnp.Config) (*upnp.Router, error) { return nil, upnp.ErrNoGateway }
	d.FindGateway = func(context.Context, upnp.Config) (netip.Addr, netip.Addr, error) {
		return netip.Addr{}, netip.MustParseAddr("127.0.0.1"), upnp.ErrNoGateway
	}
	port := freePort(t)
	er := startExpose(t, d, "--port", strconv.Itoa(port))
	ready := er.next(t, "ready")
	if ready["nat"] != "no-gateway" || ready["method"] != "none" || ready["verified"] != false {
		t.Errorf("ready = %v, want nat no-gateway, method none, not verified", ready)
	}
	r := runCLI(context.Background(), offlineDeps(t), "send", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), "hi")
	if r.code != exitOK || r.out.String() != "hi\n" {
		t.Errorf("server not hosted without a gateway: exit %d, out %q", r.code, r.out)
	}
	if got := er.stop(t); got.code != exitOK {
		t.Errorf("exit %d after Ctrl-C, want 0", got.code)
	}
	if r := runCLI(context.Background(), d, "expose", "--port", strconv.Itoa(freePort(t)), "--require-mapping", "--stun", "off"); r.code != exitNo {
		t.Errorf("--require-mapping without a gateway: exit %d, want 1", r.code)
	}
}

// lostReplyLister makes the mapping but its answer never arrives.
type lostReplyLister struct{ fakeLister }

func (l lostReplyLister) Add(ctx context.Context, m upnp.Mapping) (upnp.Mapping, error) {
	l.fakeMapper.Add(ctx, m)
	return upnp.Mapping{}, context.DeadlineExceeded
}

// A request that timed out may have been carried out: reach removes what
// it may have made instead of leaving a stray mapping.
func TestMapUndoesAnUnansweredRequest(t *testing.T) {
	m := newFakeMapper("11.0.0.2")
	r := runCLI(context.Background(), fakeDeps(lostReplyLister{fakeLister{m}}, false), "map", "--port", "1234")
	if r.code != exitNo {
		t.Errorf("exit %d, want 1", r.code)
	}
	if m.has(1234) {
		t.Error("the mapping made by the unanswered request is still on the router")
	}
}
