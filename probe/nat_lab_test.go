package probe_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/reach-net/reach/lab"
	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
)

// natLabEnv tells TestNATLabHelper, inside the lab, to run.
const natLabEnv = "REACH_NAT_LAB_HELPER"

// natLabTimeout bounds the helper: STUN and the hops inside this machine
// answer in milliseconds.
const natLabTimeout = 5 * time.Second

// TestNATLab gathers the evidence diagnose gathers (NAT-PMP's external
// address, STUN, the first hops) from the pc of each lab topology and
// checks that Decide names the topology.
func TestNATLab(t *testing.T) {
	lab.Require(t)
	for _, topo := range []lab.Topology{lab.Public, lab.DoubleNAT, lab.CGNAT} {
		t.Run(topo.String(), func(t *testing.T) {
			t.Parallel()
			l := lab.New(t, lab.Options{Topology: topo, NATPMP: true})
			ctx, cancel := context.WithTimeout(t.Context(), 4*natLabTimeout)
			defer cancel()
			cmd := l.Command(ctx, lab.PC, os.Args[0], "-test.run=^TestNATLabHelper$", "-test.v")
			cmd.Env = append(os.Environ(), natLabEnv+"=1")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("helper in the pc namespace: %v\n%s", err, out)
			}
			t.Logf("%s", out)
			_, verdict, ok := strings.Cut(string(out), "VERDICT ")
			if !ok {
				t.Fatalf("helper printed no verdict:\n%s", out)
			}
			verdict, _, _ = strings.Cut(verdict, "\n")
			if verdict != topo.String() {
				t.Errorf("verdict %q, want %q\n%s", verdict, topo, out)
			}
			if !strings.Contains(string(out), "STUN "+l.PublicIP()) {
				t.Errorf("STUN did not see the lab's public address %s:\n%s", l.PublicIP(), out)
			}
		})
	}
}

// TestNATLabHelper is the half of TestNATLab that runs inside the lab.
func TestNATLabHelper(t *testing.T) {
	if os.Getenv(natLabEnv) == "" {
		t.Skip("helper of TestNATLab; runs only inside the lab")
	}
	ctx, cancel := context.WithTimeout(t.Context(), natLabTimeout)
	defer cancel()
	e := probe.Evidence{
		Gateway: netip.MustParseAddr(lab.RouterLAN),
		LocalIP: netip.MustParseAddr(lab.PCAddr),
		Port:    1234,
	}
	svc := probe.ServiceEvidence{Method: string(upnp.MethodNATPMP)}
	svc.ExternalAddr, svc.Err = upnp.NewNATPMP(upnp.Config{}, e.Gateway).ExternalAddr(ctx)
	var ne *upnp.NATPMPError
	if errors.As(svc.Err, &ne) && ne.Result == upnp.NATPMPNetworkFailure {
		connected := false
		svc.Connected = &connected
	}
	e.Services = []probe.ServiceEvidence{svc}

	res, err := probe.PublicAddr(ctx, []string{lab.STUNServer})
	if err != nil {
		t.Fatal(err)
	}
	e.STUN = res.Addr.Addr()
	fmt.Printf("STUN %s\n", e.STUN)
	if e.Hops, err = probe.Hops(ctx, netip.MustParseAddrPort(lab.STUNServer), 3); err != nil {
		t.Fatal(err)
	}
	d := probe.Decide(e)
	for _, line := range d.Evidence {
		fmt.Println("evidence:", line)
	}
	for _, line := range d.Advice {
		fmt.Println("advice:", line)
	}
	fmt.Printf("VERDICT %s\n", d.NAT)
}
