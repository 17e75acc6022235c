package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/reach-net/reach/expose"
	"github.com/reach-net/reach/ledger"
	"github.com/reach-net/reach/upnp"
	"github.com/spf13/cobra"
)

type unmapOptions struct {
	routerOptions
	Port         int
	InternalPort int
	Proto        string

	internalGiven bool
}

func newUnmapCmd(ios *IOStreams, d *deps) *cobra.Command {
	o := &unmapOptions{}
	cmd := &cobra.Command{
		Use:   "unmap --port N",
		Short: "Remove this host's mapping of an external port",
		Long: `Remove the router's mapping of external port --port to this host. reach
never removes a mapping that forwards to another device: it names the
device instead. It says "removed" only after reading the router's list back
without it (UPnP); NAT-PMP and PCP cannot list, and reach says so. With
nothing to remove it says so and exits 0.`,
		Example: `  reach unmap --port 1234
  reach unmap --port 27015 --proto udp`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.internalGiven = cmd.Flags().Changed("internal-port")
			if err := checkPortPair(o.Port, "internal-port", &o.InternalPort, o.Proto); err != nil {
				return err
			}
			return runUnmap(cmd.Context(), ios, d, o)
		},
	}
	cmd.Flags().IntVarP(&o.Port, "port", "p", 0, "external port of the mapping (required)")
	cmd.Flags().IntVar(&o.InternalPort, "internal-port", 0, "local port it forwards to (NAT-PMP and PCP key mappings by it; default: --port; UPnP: any port of this host)")
	cmd.Flags().StringVar(&o.Proto, "proto", "tcp", "tcp or udp")
	addRouterFlags(cmd, &o.routerOptions)
	return cmd
}

func runUnmap(ctx context.Context, ios *IOStreams, d *deps, o *unmapOptions) error {
	cfg, family, err := o.config(ios, d.Config)
	if err != nil {
		return err
	}
	proto, _ := parseProto(o.Proto)
	st := newSteps(ios, o.JSON)
	r, err := routerStep(ctx, st, d, cfg, family, o.Timeout)
	if err != nil {
		return reported(ctx, err, o.JSON)
	}
	mapper, _ := r.Pick(family)
	lister, canList := mapper.(upnp.Lister)
	m := upnp.Mapping{Protocol: proto, ExternalPort: uint16(o.Port), InternalIP: r.LocalIP, InternalPort: uint16(o.InternalPort)}
	if canList && !o.internalGiven {
		m.InternalPort = 0 // UPnP: this host's mapping on that port, whatever its internal port
	}
	st.start(fmt.Sprintf("removing %d/%s", m.ExternalPort, m.Protocol))
	uctx, cancel := context.WithTimeout(ctx, o.Timeout)
	err = mapper.Delete(uctx, m)
	cancel()
	if err != nil && ctx.Err() != nil {
		return withCode(exitInterrupted, ctx.Err())
	}
	res := unmapJSON{ExternalPort: m.ExternalPort, Protocol: string(m.Protocol), Method: mapper.Method()}
	code := exitOK
	switch {
	case errors.Is(err, upnp.ErrNoSuchMapping):
		res.Checked, res.Detail = true, fmt.Sprintf("nothing to remove: the router holds no mapping on %d/%s", m.ExternalPort, m.Protocol)
		st.done(markOK, "unmap", res.Detail)
		d.forget(ctx, r, m)
	case errors.Is(err, upnp.ErrNotOurs):
		res.Detail, res.Error, code = upnp.Summary(err), err.Error(), exitNo
		st.step(&expose.Step{Name: "unmap", Mark: expose.MarkFail, Detail: res.Detail, Err: err})
		st.line("  -> that mapping belongs to another device; remove it there or in the router's page")
	case err != nil:
		res.Detail, res.Error, code = upnp.Summary(err), err.Error(), exitNo
		st.step(&expose.Step{Name: "unmap", Mark: expose.MarkFail, Detail: res.Detail, Err: err})
	case canList:
		// "Removed" only once the router no longer lists it.
		lctx, cancel := context.WithTimeout(ctx, o.Timeout)
		list, lerr := lister.Mappings(lctx)
		cancel()
		still := false
		for _, e := range list {
			still = still || (e.ExternalPort == m.ExternalPort && e.Protocol == m.Protocol)
		}
		switch {
		case lerr != nil:
			res.Detail = fmt.Sprintf("the router accepted the removal of %d/%s, but reach could not read its list back to check: %s", m.ExternalPort, m.Protocol, upnp.Summary(lerr))
			st.done(markWarn, "unmap", res.Detail)
		case still:
			res.Detail, code = fmt.Sprintf("the router accepted the removal of %d/%s, yet still lists it", m.ExternalPort, m.Protocol), exitNo
			st.done(markFail, "unmap", res.Detail)
		default:
			res.Removed, res.Checked = true, true
			res.Detail = fmt.Sprintf("removed %d/%s (checked: the router no longer lists it)", m.ExternalPort, m.Protocol)
			st.done(markOK, "unmap", res.Detail)
			d.forget(ctx, r, m)
		}
	default:
		res.Detail = fmt.Sprintf("the router accepted the removal of %d/%s; %s cannot list mappings, so reach could not check that it is gone", m.ExternalPort, m.Protocol, mapper.Method())
		st.done(markWarn, "unmap", res.Detail)
		d.forget(ctx, r, m)
	}
	if o.JSON {
		ios.writeJSON(res)
	}
	if code != exitOK {
		return withCode(code, errSilent)
	}
	return nil
}

// unmapJSON is the result of unmap with --json.
type unmapJSON struct {
	ExternalPort uint16      `json:"external_port"`
	Protocol     string      `json:"protocol"`
	Method       upnp.Method `json:"method"`
	// Removed is true only when the router's list was read back without it;
	// Checked says whether reach could check at all.
	Removed bool   `json:"removed"`
	Checked bool   `json:"checked"`
	Detail  string `json:"detail"`
	Error   string `json:"error,omitempty"`
}

// forget drops m from the ledger once it is gone from the router.
func (d *deps) forget(ctx context.Context, r *upnp.Router, m upnp.Mapping) {
	if d.Ledger != nil {
		d.Ledger.Remove(ctx, ledger.Entry{Gateway: r.Gateway, Protocol: string(m.Protocol), ExternalPort: m.ExternalPort})
	}
}
