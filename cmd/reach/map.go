package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/reach-net/reach/expose"
	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
	"github.com/spf13/cobra"
)

type mapOptions struct {
	routerOptions
	Port         int
	ExternalPort int
	Proto        string
	Lease        time.Duration
	Description  string
	IPv6         string
}

func newMapCmd(ios *IOStreams, d *deps) *cobra.Command {
	o := &mapOptions{}
	cmd := &cobra.Command{
		Use:   "map --port N",
		Short: "Add one port mapping on the router and exit",
		Long: `Ask the router (UPnP IGD, PCP or NAT-PMP) to forward an external port to
this machine, print the external address:port and exit. The mapping lasts
--lease (0 = permanent, if the router allows it); remove it with reach unmap.
reach expose does the same and also proves it works, renews it and removes
it on exit: prefer it for hosting.`,
		Example: `  reach map --port 1234
  reach map --port 25565 --external-port 25565 --lease 2h
  reach map --port 27015 --proto udp --method nat-pmp`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return runMap(cmd.Context(), ios, d, o)
		},
	}
	cmd.Flags().IntVarP(&o.Port, "port", "p", 0, "local port to forward to (required)")
	cmd.Flags().IntVar(&o.ExternalPort, "external-port", 0, "port on the router's external address (default: --port)")
	cmd.Flags().StringVar(&o.Proto, "proto", "tcp", "tcp or udp")
	cmd.Flags().DurationVar(&o.Lease, "lease", time.Hour, "how long the router keeps the mapping (0 = permanent)")
	cmd.Flags().StringVar(&o.Description, "description", "", "label shown in the router's mapping list (default: reach PORT on HOST)")
	cmd.Flags().StringVar(&o.IPv6, "ipv6", "off", "IPv6 pinhole: off, auto (also open one, left open like the mapping), or only")
	addRouterFlags(cmd, &o.routerOptions)
	return cmd
}

func (o *mapOptions) validate() error {
	if o.IPv6 == "" {
		o.IPv6 = "off"
	}
	if err := checkIPv6Mode(o.IPv6); err != nil {
		return err
	}
	if err := checkPortPair(o.Port, "external-port", &o.ExternalPort, o.Proto); err != nil {
		return err
	}
	if o.Lease < 0 {
		return usageErrorf("--lease must be 0 (permanent) or positive, got %s", o.Lease)
	}
	if o.Lease > 0 && o.Lease < time.Second {
		return usageErrorf("--lease must be at least 1s, got %s", o.Lease)
	}
	return nil
}

// mapJSON is the result of map on stdout with --json.
type mapJSON struct {
	Method       upnp.Method `json:"method"`
	ExternalIP   string      `json:"external_ip"`
	ExternalPort uint16      `json:"external_port"`
	InternalIP   string      `json:"internal_ip"`
	InternalPort uint16      `json:"internal_port"`
	Protocol     string      `json:"protocol"`
	LeaseS       int64       `json:"lease_s"`
	Permanent    bool        `json:"permanent"`
	Gateway      string      `json:"gateway"`
	NAT          probe.NAT   `json:"nat"`
	Advice       []string    `json:"advice,omitempty"`
}

func runMap(ctx context.Context, ios *IOStreams, d *deps, o *mapOptions) error {
	rcfg, family, err := o.config(ios, d.Config)
	if err != nil {
		return err
	}
	proto, _ := parseProto(o.Proto)
	st := newSteps(ios, o.JSON)
	var ready *expose.Ready
	cfg := expose.Config{
		Port: uint16(o.Port), ExternalPort: uint16(o.ExternalPort), Protocol: proto, Lease: o.Lease,
		Description: o.Description, Family: family, RequireMapping: true, MapOnly: true, Timeout: o.Timeout, Router: rcfg,
		OnEvent: func(ev expose.Event) {
			switch e := ev.(type) {
			case *expose.Ready:
				ready = e
				return
			}
			st.render(ev)
		},
		FindRouter: d.FindRouter, FindGateway: d.FindGateway, Ledger: d.Ledger, Command: "map",
		IPv6: o.IPv6, FindIPv6: d.FindIPv6,
	}
	if cfg.Description == "" {
		cfg.Description = mappingDescription(d, cfg.Port)
	}
	sess, err := expose.Start(ctx, cfg)
	st.finishSpinner()
	if ctx.Err() != nil {
		if sess != nil {
			renderInterrupted(ios, o.JSON, sess.Close(ctx, nil))
		}
		return withCode(exitInterrupted, ctx.Err())
	}
	if ready == nil { // stopped before a verdict: the port is another reach's
		return withCode(exitNo, jsonErr(o.JSON, err))
	}
	diag := ready.Diagnosis
	if err != nil {
		if !o.JSON {
			ios.verdict(markFail, "%s", diag.Headline)
			ios.diagnosis(diag)
		}
		return withCode(exitNo, jsonErr(o.JSON, errors.New(diag.Headline)))
	}
	if ready.Mapping == nil { // only the IPv6 pinhole was opened
		return mapPinhole(ios, o, ready)
	}
	got := *ready.Mapping
	if o.JSON {
		ios.writeJSON(mapJSON{
			Method: ready.Method, ExternalIP: addrString(ready.ExternalAddr), ExternalPort: got.ExternalPort,
			InternalIP: got.InternalIP.String(), InternalPort: got.InternalPort, Protocol: string(got.Protocol),
			LeaseS: int64(got.Lease / time.Second), Permanent: got.Lease == 0, Gateway: ready.Gateway.String(),
			NAT: diag.NAT, Advice: natOnly(diag),
		})
		return nil
	}
	ios.result("%s", target(addrString(ready.ExternalAddr), got.ExternalPort))
	if a := natOnly(diag); len(a) > 0 {
		ios.printf("but: %s\n", diag.Headline)
		ios.diagnosis(probe.Diagnosis{Causes: diag.Causes, Advice: a})
	}
	ios.printf("remove it with: %s\n", unmapHint(got, ready.Method))
	return nil
}

// mapPinhole ends a map that opened an IPv6 pinhole and made no IPv4
// mapping: with --ipv6 only, or when the router refused the mapping (then
// exit 3, partial: the steps said why). The pinhole is left open like a
// mapping and closes by itself when its lease runs out (routers cannot
// list pinholes; reach mappings shows it from the ledger).
func mapPinhole(ios *IOStreams, o *mapOptions, ready *expose.Ready) error {
	p := *ready.Pinhole
	addr := p.Addr.String()
	var err error
	if !ready.Evidence.IPv4Off {
		err = withCode(exitPartial, jsonErr(o.JSON, errors.New("no IPv4 mapping was made; the IPv6 pinhole is open")))
	}
	if o.JSON {
		// The pinhole's fields even when partial: what was opened stays
		// open, and a script needs its address; the error line follows.
		ios.writeJSON(mapJSON{
			Method: upnp.Method(ready.PinholeMethod), ExternalIP: addr, ExternalPort: p.Port,
			InternalIP: addr, InternalPort: p.Port, Protocol: string(p.Protocol),
			LeaseS: int64(p.Lease / time.Second), Gateway: ready.Gateway.String(), NAT: ready.Diagnosis.NAT,
		})
		return err
	}
	ios.result("%s", target(addr, p.Port))
	if err != nil {
		ios.printf("but: no IPv4 mapping was made (the steps above say why)\n")
	}
	ios.printf("the IPv6 pinhole closes by itself when its lease (%s) runs out\n", p.Lease)
	return err
}

// natOnly is the advice of a verdict that says the mapping cannot help
// (another NAT in front); a mapping on a public router needs none.
func natOnly(d probe.Diagnosis) []string {
	if d.NAT == probe.NATDouble || d.NAT == probe.NATCGNAT {
		return d.Advice
	}
	return nil
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// routerStep finds the router and checks that the service --method asks
// for answered, reporting both as steps.
func routerStep(ctx context.Context, st *steps, d *deps, cfg upnp.Config, family upnp.Family, timeout time.Duration) (*upnp.Router, error) {
	st.start("looking for the router")
	dctx, cancel := context.WithTimeout(ctx, timeout)
	r, err := d.FindRouter(dctx, cfg)
	cancel()
	if err != nil && r == nil {
		st.step(&expose.Step{Name: "gateway", Mark: expose.MarkFail, Detail: upnp.Summary(err), Err: err})
		if errors.Is(err, upnp.ErrNoGateway) {
			st.line("  -> connect this machine to your home network (Wi-Fi or cable), or pass the router's address with --gateway")
		}
		return nil, err
	}
	st.done(markOK, "gateway", fmt.Sprintf("%s (this host %s)", r.Gateway, r.LocalIP))
	expose.Heal(ctx, r, d.Ledger, st.render)
	step, err := expose.ServiceStep(r, family)
	st.step(step)
	return r, err
}

// reported ends a command whose failure the steps already showed. Cut
// short by Ctrl-C, it exits 130.
func reported(ctx context.Context, err error, jsonMode bool) error {
	if ctx.Err() != nil {
		return withCode(exitInterrupted, ctx.Err())
	}
	return withCode(exitNo, jsonErr(jsonMode, err))
}

// jsonErr is err for --json (main prints it as {"error":...}), else
// errSilent: the steps already said it.
func jsonErr(jsonMode bool, err error) error {
	if jsonMode {
		return err
	}
	return errSilent
}

func leaseText(l time.Duration) string {
	if l == 0 {
		return "permanent"
	}
	return "lease " + l.String()
}

// unmapHint is the command that removes m, made through method: the same
// protocol, since PCP and NAT-PMP mappings are removed only through their
// own.
func unmapHint(m upnp.Mapping, method upnp.Method) string {
	hint := fmt.Sprintf("reach unmap --port %d --proto %s", m.ExternalPort, m.Protocol)
	if f := method.Fam(); f != upnp.FamilyAuto {
		hint += " --method " + f.String()
	}
	if m.InternalPort != m.ExternalPort && method.Fam() != upnp.FamilyUPnP {
		hint += fmt.Sprintf(" --internal-port %d", m.InternalPort)
	}
	return hint
}
