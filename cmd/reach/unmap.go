package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/reach-net/reach/expose"
	"github.com/reach-net/reach/upnp"
	"github.com/spf13/cobra"
)

type unmapOptions struct {
	routerOptions
	Port         int
	InternalPort int
	Proto        string
}

func newUnmapCmd(ios *IOStreams, d *deps) *cobra.Command {
	o := &unmapOptions{}
	cmd := &cobra.Command{
		Use:   "unmap --port N",
		Short: "Remove this host's mapping of an external port",
		Long: `Remove the router's mapping of external port --port to this host. reach
never removes a mapping that forwards to another device: it names the
device instead.`,
		Example: `  reach unmap --port 1234
  reach unmap --port 27015 --proto udp`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkPortPair(o.Port, "internal-port", &o.InternalPort, o.Proto); err != nil {
				return err
			}
			return runUnmap(cmd.Context(), ios, d, o)
		},
	}
	cmd.Flags().IntVarP(&o.Port, "port", "p", 0, "external port of the mapping (required)")
	cmd.Flags().IntVar(&o.InternalPort, "internal-port", 0, "local port it forwards to, for NAT-PMP and PCP (default: --port)")
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
	m := upnp.Mapping{Protocol: proto, ExternalPort: uint16(o.Port), InternalIP: r.LocalIP, InternalPort: uint16(o.InternalPort)}
	st.start(fmt.Sprintf("removing %d/%s", m.ExternalPort, m.Protocol))
	uctx, cancel := context.WithTimeout(ctx, o.Timeout)
	err = mapper.Delete(uctx, m)
	cancel()
	result := map[string]any{"external_port": m.ExternalPort, "protocol": m.Protocol, "method": mapper.Method(), "removed": err == nil}
	if err != nil && ctx.Err() != nil {
		return withCode(exitInterrupted, ctx.Err())
	}
	if err != nil {
		result["error"] = err.Error()
		if o.JSON {
			ios.writeJSON(result)
		}
		st.step(&expose.Step{Name: "unmap", Mark: expose.MarkFail, Detail: upnp.Summary(err), Err: err})
		if errors.Is(err, upnp.ErrNotOurs) {
			st.line("  -> that mapping belongs to another device; remove it there or in the router's page")
			return withCode(exitNo, errSilent)
		}
		if errors.Is(err, upnp.ErrNoSuchMapping) {
			st.line("  -> nothing to remove: run 'reach mappings' to see what the router holds")
			return withCode(exitNo, errSilent)
		}
		return withCode(exitNo, errSilent)
	}
	if o.JSON {
		ios.writeJSON(result)
		return nil
	}
	st.done(markOK, "unmap", fmt.Sprintf("%d/%s -> %s:%d removed", m.ExternalPort, m.Protocol, m.InternalIP, m.InternalPort))
	return nil
}
