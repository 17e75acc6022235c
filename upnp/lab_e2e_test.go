package upnp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reach-net/reach/lab"
	"github.com/reach-net/reach/upnp"
)

// End-to-end tests against the real miniupnpd in a lab (network namespaces
// made by the test; nothing reaches the real network). The test binary
// doubles as the client: started inside the PC's namespace with labHelper
// set, it runs one scenario against the router and prints a JSON report.
const labHelper = "REACH_UPNP_LAB_HELPER"

// labTimeout bounds one helper run: discovery (<1 s) and a few SOAP calls
// to a router one veth hop away.
const labTimeout = 20 * time.Second

func TestMain(m *testing.M) {
	if mode := os.Getenv(labHelper); mode != "" {
		os.Exit(runLabHelper(mode, os.Args[len(os.Args)-1]))
	}
	os.Exit(m.Run())
}

// labReport is what the helper prints.
type labReport struct {
	Gateway, Local  string
	Method          string
	Location        string
	Control         string
	Server          string
	Status          string
	External        string
	Others          int
	PCP, NATPMP     bool
	Errors          map[string]string
	Granted         *upnp.Mapping
	Mappings        []upnp.Mapping
	ConflictHolder  string // who holds the port in the conflict step
	NotOursHolder   string // who holds the port in the delete-refused step
	DeletedOwn      bool
	DeleteAgainGone bool // a second delete says ErrNoSuchMapping
	AddFault        int  // "refused": the UPnP error code of the refused Add
	AddErr          string
	MapKindUPnP     string  // "refused": Kind of Map's error through UPnP only
	MapKindAuto     string  // "refused": Kind of Map's error with every service tried
	LeaseFree       uint16  // "full": the free port Map offered next to dev2's
	LeaseMoved      uint16  // "full": the port Map took with AnyPort
	LeaseRenew      string  // "full": how Renew kept it
	LeaseReleased   bool    // "full": Release removed it from the router's list
	DiscoverMs      float64 // how long Discover took (evidence, not asserted)
	AddMs           float64 // how long the first Add took, read-back included
	Step            string
	Err             string
}

// runLabHelper runs scenario mode ("add PORT" or "full PORT") inside a
// namespace, against the real default gateway, with multicast on.
func runLabHelper(mode, arg string) int {
	port, _ := strconv.Atoi(arg)
	ctx, cancel := context.WithTimeout(context.Background(), labTimeout)
	defer cancel()
	rep := labReport{Errors: map[string]string{}}
	fail := func(step string, err error) int {
		rep.Step, rep.Err = step, err.Error()
		json.NewEncoder(os.Stdout).Encode(rep)
		return 1
	}
	cfg := upnp.Config{CacheDir: "off", Logf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }}
	if mode == "restart" {
		return runRestartHelper(ctx, cfg, port)
	}
	if strings.HasPrefix(mode, "pinhole") {
		return runPinholeHelper(ctx, cfg, mode, arg)
	}
	start := time.Now()
	d, err := upnp.Discover(ctx, cfg)
	rep.DiscoverMs = float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		return fail("discover", err)
	}
	rep.Gateway, rep.Local, rep.Others = d.Gateway.String(), d.LocalIP.String(), len(d.Others)
	rep.PCP, rep.NATPMP = d.PCP != nil, d.NATPMP != nil
	for m, err := range d.Errors {
		rep.Errors[string(m)] = err.Error()
	}
	if d.IGD == nil {
		return fail("igd", d.Err())
	}
	g := d.IGD
	rep.Method, rep.Location, rep.Control, rep.Server = string(g.Method()), g.Location().String(), g.ControlURL().String(), g.Server()
	if st, err := g.ConnectionStatus(ctx); err == nil {
		rep.Status = st.Status
	}
	ext, err := g.ExternalAddr(ctx)
	if err != nil {
		return fail("external", err)
	}
	rep.External = ext.String()
	m := upnp.Mapping{Protocol: upnp.TCP, InternalPort: uint16(port), Lease: time.Hour, Description: "reach lab " + mode}
	if mode == "refused" {
		var se *upnp.SOAPError
		_, err := g.Add(ctx, m)
		if !errors.As(err, &se) {
			return fail("add", fmt.Errorf("want a UPnP fault from a router behind another NAT, got %v", err))
		}
		rep.AddFault, rep.AddErr = se.Code, err.Error()
		r, err := upnp.FindRouter(ctx, cfg)
		if err != nil {
			return fail("find router", err)
		}
		_, err = upnp.Map(ctx, r, upnp.MapRequest{Mapping: m, Family: upnp.FamilyUPnP})
		rep.MapKindUPnP = string(upnp.Kind(err))
		_, err = upnp.Map(ctx, r, upnp.MapRequest{Mapping: m})
		rep.MapKindAuto = string(upnp.Kind(err))
		json.NewEncoder(os.Stdout).Encode(rep)
		return 0
	}
	start = time.Now()
	got, err := g.Add(ctx, m)
	rep.AddMs = float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		return fail("add", err)
	}
	rep.Granted = &got
	if mode == "full" {
		// The port DEV2 holds (its helper ran "add" with port+1).
		held := upnp.Mapping{Protocol: upnp.TCP, InternalPort: uint16(port + 1)}
		var ce *upnp.ConflictError
		if _, err := g.Add(ctx, held); errors.As(err, &ce) {
			rep.ConflictHolder = ce.Holder.InternalIP.String()
		} else {
			return fail("conflict", fmt.Errorf("adding a port another host holds: %v", err))
		}
		var no *upnp.NotOursError
		if err := g.Delete(ctx, held); errors.As(err, &no) && errors.Is(err, upnp.ErrNotOurs) {
			rep.NotOursHolder = no.Holder.InternalIP.String()
		} else {
			return fail("delete-not-ours", fmt.Errorf("deleting another host's mapping: %v", err))
		}
		if rep.Mappings, err = g.Mappings(ctx); err != nil {
			return fail("mappings", err)
		}
		if _, err := g.Add(ctx, m); err != nil { // a refresh of our own mapping
			return fail("refresh", err)
		}
		if err := g.Delete(ctx, m); err != nil {
			return fail("delete", err)
		}
		rep.DeletedOwn = true
		rep.DeleteAgainGone = errors.Is(g.Delete(ctx, m), upnp.ErrNoSuchMapping)
		if err := labLease(ctx, cfg, port, &rep); err != nil {
			return fail("lease", err)
		}
	}
	json.NewEncoder(os.Stdout).Encode(rep)
	return 0
}

// labLease maps the port DEV2 holds through a Lease: the conflict offers
// a free port, AnyPort takes it, Renew keeps it and Release removes it.
func labLease(ctx context.Context, cfg upnp.Config, port int, rep *labReport) error {
	r, err := upnp.FindRouter(ctx, cfg)
	if err != nil {
		return err
	}
	req := upnp.MapRequest{Mapping: upnp.Mapping{Protocol: upnp.TCP, ExternalPort: uint16(port + 1), InternalPort: uint16(port), Lease: time.Hour}, Family: upnp.FamilyUPnP}
	var ce *upnp.ConflictError
	if _, err := upnp.Map(ctx, r, req); !errors.As(err, &ce) {
		return fmt.Errorf("map over dev2's port: %v, want a conflict", err)
	}
	rep.LeaseFree = ce.Free
	req.AnyPort = true
	l, err := upnp.Map(ctx, r, req)
	if err != nil {
		return err
	}
	rep.LeaseMoved = l.Mapping().ExternalPort
	rn, err := l.Renew(ctx)
	if err != nil {
		return err
	}
	rep.LeaseRenew = string(rn.How)
	if err := l.Release(ctx); err != nil {
		return err
	}
	list, err := r.Services[0].(upnp.Lister).Mappings(ctx)
	rep.LeaseReleased = err == nil
	for _, m := range list {
		rep.LeaseReleased = rep.LeaseReleased && m.ExternalPort != rep.LeaseMoved
	}
	return nil
}

// runHelper runs the helper in host and decodes its report.
func runHelper(t *testing.T, l *lab.Lab, host, mode string, port int) labReport {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), labTimeout+5*time.Second)
	defer cancel()
	cmd := l.Command(ctx, host, exe, "-test.run=^$", strconv.Itoa(port))
	cmd.Env = append(os.Environ(), labHelper+"="+mode)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	var rep labReport
	if err := json.NewDecoder(bufio.NewReader(strings.NewReader(string(out)))).Decode(&rep); err != nil {
		t.Fatalf("helper %s in %s: %v (exit: %v)\nstdout: %s\nstderr: %s", mode, host, err, runErr, out, stderr.String())
	}
	if rep.Err != "" || runErr != nil {
		t.Fatalf("helper %s in %s failed at %s: %s (exit: %v)\nstderr: %s", mode, host, rep.Step, rep.Err, runErr, stderr.String())
	}
	t.Logf("helper %s in %s: discover %.1f ms, add %.1f ms; log:\n%s", mode, host, rep.DiscoverMs, rep.AddMs, stderr.String())
	return rep
}

func TestLabMiniupnpd(t *testing.T) {
	for _, tt := range []struct {
		name   string
		opts   lab.Options
		method upnp.Method
	}{
		{"igd2", lab.Options{UPnP: true, NATPMP: true}, upnp.MethodIGD2},
		{"igd1", lab.Options{UPnP: true, IGDv1: true}, upnp.MethodIGD1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := lab.New(t, tt.opts)
			const port = 4100
			dev2 := runHelper(t, l, lab.Dev2, "add", port+1)
			if dev2.Granted == nil || dev2.Granted.InternalIP != netip.MustParseAddr(lab.Dev2Addr) {
				t.Fatalf("dev2's mapping: %+v", dev2.Granted)
			}
			rep := runHelper(t, l, lab.PC, "full", port)
			want := func(what, got, want string) {
				t.Helper()
				if got != want {
					t.Errorf("%s = %q, want %q", what, got, want)
				}
			}
			want("gateway", rep.Gateway, lab.RouterLAN)
			want("local address", rep.Local, lab.PCAddr)
			want("method", rep.Method, string(tt.method))
			want("location", rep.Location, lab.RootDescURL)
			want("external address", rep.External, l.RouterWAN())
			want("conflict holder", rep.ConflictHolder, lab.Dev2Addr)
			want("not-ours holder", rep.NotOursHolder, lab.Dev2Addr)
			want("connection status", rep.Status, "Connected")
			if h, _, err := net.SplitHostPort(strings.TrimPrefix(rep.Control, "http://")); err != nil || h != lab.RouterLAN {
				t.Errorf("control URL %q is not on the router", rep.Control)
			}
			if g := rep.Granted; g == nil || g.ExternalPort != port || g.InternalIP != netip.MustParseAddr(lab.PCAddr) ||
				g.Lease <= 0 || g.Lease > time.Hour {
				t.Errorf("granted mapping %+v, want %d/tcp -> %s:%d with a lease up to 1h", g, port, lab.PCAddr, port)
			}
			var ours, theirs bool
			for _, m := range rep.Mappings {
				ours = ours || (m.ExternalPort == port && m.InternalIP.String() == lab.PCAddr)
				theirs = theirs || (m.ExternalPort == port+1 && m.InternalIP.String() == lab.Dev2Addr)
			}
			if !ours || !theirs {
				t.Errorf("mappings %+v lack ours (%v) or dev2's (%v)", rep.Mappings, ours, theirs)
			}
			if rep.LeaseFree == 0 || rep.LeaseMoved != rep.LeaseFree || rep.LeaseRenew != string(upnp.Renewed) || !rep.LeaseReleased {
				t.Errorf("lease: free port %d, taken %d, renewal %q, released %v", rep.LeaseFree, rep.LeaseMoved, rep.LeaseRenew, rep.LeaseReleased)
			}
			if !rep.DeletedOwn || !rep.DeleteAgainGone {
				t.Errorf("delete own: %v, second delete says no such mapping: %v", rep.DeletedOwn, rep.DeleteAgainGone)
			}
			if tt.opts.NATPMP && (!rep.PCP || !rep.NATPMP) {
				t.Errorf("PCP found %v, NAT-PMP found %v on a router running both (errors %v)", rep.PCP, rep.NATPMP, rep.Errors)
			}
		})
	}
}

// A router behind another NAT (double NAT, carrier-grade NAT): miniupnpd
// answers discovery, reports no external address and refuses mappings;
// reach must say so, not claim a mapping.
func TestLabMiniupnpdBehindAnotherNAT(t *testing.T) {
	for _, topo := range []lab.Topology{lab.DoubleNAT, lab.CGNAT} {
		t.Run(topo.String(), func(t *testing.T) {
			l := lab.New(t, lab.Options{UPnP: true, Topology: topo})
			rep := runHelper(t, l, lab.PC, "refused", 4200)
			if rep.Method != string(upnp.MethodIGD2) {
				t.Errorf("method %q", rep.Method)
			}
			// miniupnpd 2.3.1 hides a reserved WAN address behind
			// an empty answer.
			if a, err := netip.ParseAddr(rep.External); err != nil || !a.IsUnspecified() {
				t.Errorf("external address %q, want unspecified (the WAN %s is not public)", rep.External, l.RouterWAN())
			}
			if rep.AddFault != upnp.CodeActionFailed || !strings.Contains(rep.AddErr, "4200/tcp -> "+lab.PCAddr+":4200") {
				t.Errorf("refused Add: code %d, error %q", rep.AddFault, rep.AddErr)
			}
			if rep.MapKindUPnP != string(upnp.KindNoExternalAddress) || rep.MapKindAuto != string(upnp.KindNoExternalAddress) {
				t.Errorf("Map's failure kind: UPnP %q, auto %q, want %q", rep.MapKindUPnP, rep.MapKindAuto, upnp.KindNoExternalAddress)
			}
			t.Logf("router behind %s: external %q, Add refused: %s", topo, rep.External, rep.AddErr)
		})
	}
}
