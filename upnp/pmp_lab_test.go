package upnp_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/reach-net/reach/lab"
	"github.com/reach-net/reach/upnp"
)

// pmpLabEnv carries the lab's public router address to TestPMPLabHelper
// when it runs inside the pc namespace; "none" means the router sits behind
// another NAT.
const pmpLabEnv = "REACH_PMP_LAB_WAN"

// pmpLabTimeout bounds each client call: one hop inside this machine.
const pmpLabTimeout = 5 * time.Second

// TestPMPLab runs the NAT-PMP and PCP clients against miniupnpd in the lab:
// a router with a public WAN grants mappings; one behind a modem or a
// carrier NAT refuses them with the codes the CLI explains.
func TestPMPLab(t *testing.T) {
	lab.Require(t)
	for _, topo := range []lab.Topology{lab.Public, lab.DoubleNAT, lab.CGNAT} {
		t.Run(topo.String(), func(t *testing.T) {
			t.Parallel()
			l := lab.New(t, lab.Options{Topology: topo, NATPMP: true})
			wan := "none"
			if topo == lab.Public {
				wan = l.RouterWAN()
			}
			ctx, cancel := context.WithTimeout(t.Context(), 4*pmpLabTimeout)
			defer cancel()
			cmd := l.Command(ctx, lab.PC, os.Args[0], "-test.run=^TestPMPLabHelper$", "-test.v")
			cmd.Env = append(os.Environ(), pmpLabEnv+"="+wan)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("clients in the pc namespace: %v\n%s", err, out)
			}
			t.Logf("%s", out)
		})
	}
}

// TestPMPLabHelper is the half of TestPMPLab that runs inside the lab.
func TestPMPLabHelper(t *testing.T) {
	wan := os.Getenv(pmpLabEnv)
	if wan == "" {
		t.Skip("helper of TestPMPLab; runs only inside the lab")
	}
	ctx, cancel := context.WithTimeout(t.Context(), pmpLabTimeout)
	defer cancel()
	gw := netip.MustParseAddr(lab.RouterLAN)
	cfg := upnp.Config{Logf: t.Logf, CacheDir: t.TempDir()}
	n := upnp.NewNATPMP(cfg, gw)
	p := upnp.NewPCP(cfg, gw, netip.Addr{})
	if err := p.Probe(ctx); err != nil {
		t.Errorf("PCP Probe: %v", err)
	}
	tcp := upnp.Mapping{Protocol: upnp.TCP, ExternalPort: 1234, InternalPort: 1234, Lease: time.Hour}
	udp := upnp.Mapping{Protocol: upnp.UDP, ExternalPort: 4444, InternalPort: 4444, Lease: time.Hour}

	if wan == "none" {
		_, err := n.ExternalAddr(ctx)
		var ne *upnp.NATPMPError
		if !errors.As(err, &ne) || ne.Result != upnp.NATPMPNetworkFailure {
			t.Errorf("NAT-PMP ExternalAddr behind another NAT: %v, want result 3", err)
		}
		if _, err := n.Add(ctx, tcp); !errors.As(err, &ne) {
			t.Errorf("NAT-PMP Add behind another NAT: %v, want a *NATPMPError", err)
		}
		var pe *upnp.PCPError
		if _, err := p.Add(ctx, udp); !errors.As(err, &pe) {
			t.Errorf("PCP Add behind another NAT: %v, want a *PCPError", err)
		}
		return
	}

	want := netip.MustParseAddr(wan)
	if got, err := n.ExternalAddr(ctx); err != nil || got != want {
		t.Errorf("NAT-PMP ExternalAddr = %v, %v; want %v", got, err, want)
	}
	m, err := n.Add(ctx, tcp)
	if err != nil || m.ExternalPort != 1234 || m.Lease <= 0 || m.InternalIP != netip.MustParseAddr(lab.PCAddr) {
		t.Errorf("NAT-PMP Add = %+v, %v; want 1234/tcp to %s", m, err, lab.PCAddr)
	}
	if err := n.Delete(ctx, m); err != nil {
		t.Errorf("NAT-PMP Delete: %v", err)
	}

	if got, err := p.ExternalAddr(ctx); err != nil || got != want {
		t.Errorf("PCP ExternalAddr = %v, %v; want %v", got, err, want)
	}
	m, err = p.Add(ctx, udp)
	if err != nil || m.ExternalPort != 4444 || m.Lease <= 0 {
		t.Fatalf("PCP Add = %+v, %v; want 4444/udp", m, err)
	}
	if _, err := p.Add(ctx, udp); err != nil {
		t.Errorf("PCP renewal with the same nonce: %v", err)
	}
	if err := p.Delete(ctx, m); err != nil {
		t.Errorf("PCP Delete: %v", err)
	}
}
