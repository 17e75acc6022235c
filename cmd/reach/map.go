package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

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
	addRouterFlags(cmd, &o.routerOptions)
	return cmd
}

func (o *mapOptions) validate() error {
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
}

func runMap(ctx context.Context, ios *IOStreams, d *deps, o *mapOptions) error {
	cfg, err := o.config(ios, d.Config)
	if err != nil {
		return err
	}
	proto, _ := parseProto(o.Proto)
	st := newSteps(ios, o.JSON)
	r, mapper, err := discoverStep(ctx, st, d, cfg, &o.routerOptions)
	if err != nil {
		if r != nil && !o.JSON {
			ios.advise("fail: no mapping made", manualForward(r.Gateway, r.LocalIP, uint16(o.ExternalPort), uint16(o.Port), proto))
		}
		return reported(ctx, err, o.JSON)
	}
	want := upnp.Mapping{
		Protocol:     proto,
		ExternalPort: uint16(o.ExternalPort),
		InternalIP:   r.LocalIP,
		InternalPort: uint16(o.Port),
		Description:  o.Description,
		Lease:        o.Lease,
		Enabled:      true,
	}
	if want.Description == "" {
		want.Description = mappingDescription(d, want.InternalPort)
	}
	mapper, got, err := addStep(ctx, st, r, mapper, o.Method, want, o.Timeout)
	if err != nil {
		return reported(ctx, err, o.JSON)
	}
	ext, _ := externalStep(ctx, st, mapper, o.Timeout)
	if o.JSON {
		ios.writeJSON(mapJSON{
			Method: mapper.Method(), ExternalIP: addrString(ext), ExternalPort: got.ExternalPort,
			InternalIP: got.InternalIP.String(), InternalPort: got.InternalPort, Protocol: string(got.Protocol),
			LeaseS: int64(got.Lease / time.Second), Permanent: got.Lease == 0, Gateway: r.Gateway.String(),
		})
		return nil
	}
	ios.result("%s", net.JoinHostPort(addrString(ext), strconv.Itoa(int(got.ExternalPort))))
	ios.printf("remove it with: %s\n", unmapHint(got))
	return nil
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// discoverStep finds the router and picks the mapping service, reporting
// both as steps. On error r may still be set (gateway found, no service).
func discoverStep(ctx context.Context, st *steps, d *deps, cfg upnp.Config, o *routerOptions) (*router, upnp.Mapper, error) {
	st.start("looking for the router")
	dctx, cancel := context.WithTimeout(ctx, o.Timeout)
	r, err := d.FindRouter(dctx, cfg)
	cancel()
	if err != nil && r == nil {
		st.done(markFail, "gateway", err.Error())
		if a := adviceFor(err); a != "" && !strings.Contains(err.Error(), a) {
			st.line("  -> %s", a)
		}
		return nil, nil, err
	}
	st.done(markOK, "gateway", fmt.Sprintf("%s (this host %s)", r.Gateway, r.LocalIP))
	mapper, err := r.pick(o.Method)
	if err != nil {
		if len(r.Services) == 0 && len(r.Missing) > 0 {
			st.done(markFail, "service", "none answered: UPnP IGD, PCP and NAT-PMP are all silent")
			for _, m := range []upnp.Method{upnp.MethodUPnP, upnp.MethodPCP, upnp.MethodNATPMP} {
				if why := r.Missing[m]; why != nil {
					st.line("  %-8s %s", m+":", trimPkg(why))
				}
			}
		} else {
			st.done(markFail, "service", err.Error())
		}
		return r, nil, err
	}
	st.done(markOK, "service", fmt.Sprintf("%s (found: %s)", mapper.Method(), r.serviceNames()))
	return r, mapper, nil
}

// addStep asks the router for the mapping and explains a refusal. With
// --method auto, a service that refuses hands over to the next one that
// answered (a router may restrict UPnP yet allow NAT-PMP). It returns the
// service that made the mapping.
func addStep(ctx context.Context, st *steps, r *router, first upnp.Mapper, method string, want upnp.Mapping, timeout time.Duration) (upnp.Mapper, upnp.Mapping, error) {
	candidates := []upnp.Mapper{first}
	if m, _ := parseMethod(method); m == "auto" {
		for _, s := range r.Services {
			if s.Mapper != first {
				candidates = append(candidates, s.Mapper)
			}
		}
	}
	var err error
	for i, mapper := range candidates {
		var got upnp.Mapping
		if got, err = addOne(ctx, st, mapper, want, timeout); err == nil {
			return mapper, got, nil
		}
		// Only a refusal in the protocol's own words hands over to the next
		// service: after a timeout the first may have made the mapping
		// anyway, and a conflict is the answer whoever asks.
		var refusal adviser
		if ctx.Err() != nil || !errors.As(err, &refusal) || i == len(candidates)-1 {
			break
		}
		st.line("  trying the next service")
	}
	return nil, upnp.Mapping{}, err
}

// addOne is one service's attempt.
func addOne(ctx context.Context, st *steps, mapper upnp.Mapper, want upnp.Mapping, timeout time.Duration) (upnp.Mapping, error) {
	st.start(fmt.Sprintf("mapping port %d/%s with %s", want.ExternalPort, want.Protocol, mapper.Method()))
	actx, cancel := context.WithTimeout(ctx, timeout)
	got, err := mapper.Add(actx, want)
	cancel()
	if err != nil {
		undoUnanswered(ctx, mapper, want, err)
		st.done(markFail, "map", err.Error())
		if a := adviceFor(err); a != "" && !strings.Contains(err.Error(), a) {
			st.line("  -> %s", a)
		}
		return got, err
	}
	detail := fmt.Sprintf("%d/%s -> %s:%d via %s, %s", got.ExternalPort, got.Protocol, got.InternalIP, got.InternalPort, mapper.Method(), leaseText(got.Lease))
	mark := markOK
	if want.Lease > 0 && got.Lease == 0 {
		detail += " (the router only accepts permanent mappings; reach removes it when it stops)"
		mark = markWarn
	}
	if got.ExternalPort != want.ExternalPort {
		detail += fmt.Sprintf(" (the router gave port %d instead of %d)", got.ExternalPort, want.ExternalPort)
		mark = markWarn
	}
	st.done(mark, "map", detail)
	return got, nil
}

// reported ends a command whose failure the steps already showed: in human
// mode main prints nothing more; with --json the error goes to stderr.
// Cut short by Ctrl-C, it exits 130.
func reported(ctx context.Context, err error, jsonMode bool) error {
	if ctx.Err() != nil {
		return withCode(exitInterrupted, ctx.Err())
	}
	if jsonMode {
		return withCode(exitNo, err)
	}
	return withCode(exitNo, errSilent)
}

func leaseText(l time.Duration) string {
	if l == 0 {
		return "permanent"
	}
	return "lease " + l.String()
}

// externalStep reads the router's external address and says what it is.
func externalStep(ctx context.Context, st *steps, mapper upnp.Mapper, timeout time.Duration) (netip.Addr, error) {
	st.start("reading the external address")
	ectx, cancel := context.WithTimeout(ctx, timeout)
	ext, err := mapper.ExternalAddr(ectx)
	cancel()
	if err != nil {
		st.done(markWarn, "external", fmt.Sprintf("the router did not say: %v", err))
		return netip.Addr{}, err
	}
	mark, text := classifyText(ext)
	st.done(mark, "external", text)
	return ext, nil
}

// unmapHint is the command that removes m.
func unmapHint(m upnp.Mapping) string {
	hint := fmt.Sprintf("reach unmap --port %d --proto %s", m.ExternalPort, m.Protocol)
	if m.InternalPort != m.ExternalPort {
		hint += fmt.Sprintf(" --internal-port %d", m.InternalPort)
	}
	return hint
}

// undoUnanswered removes what a request that got no answer (a timeout,
// Ctrl-C) may have made on the router all the same, so that no stray
// mapping stays behind. Only UPnP can tell whose a mapping is, so only an
// IGD mapping of this host to this port is removed; NAT-PMP and PCP
// mappings without an answer expire with their lease.
func undoUnanswered(ctx context.Context, mapper upnp.Mapper, want upnp.Mapping, err error) {
	var refusal adviser
	if errors.As(err, &refusal) {
		return // the router answered no: nothing was made
	}
	if _, ok := mapper.(upnp.Lister); !ok {
		return
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteWait)
	defer cancel()
	mapper.Delete(dctx, want)
}
