package main

import (
	"context"
	"fmt"
	"net/netip"
	"text/tabwriter"
	"time"

	"github.com/reach-net/reach/ledger"
	"github.com/reach-net/reach/upnp"
	"github.com/spf13/cobra"
)

func newMappingsCmd(ios *IOStreams, d *deps) *cobra.Command {
	o := &routerOptions{}
	cmd := &cobra.Command{
		Use:   "mappings",
		Short: "List the router's port mappings, marking this host's",
		Long: `List every port mapping the router holds (UPnP IGD only: NAT-PMP and PCP
cannot list): external port, protocol, the device it forwards to, the
description and the lease left. Mappings to this host are marked "*".
The IPv6 pinholes reach opened follow, from reach's own records: routers
have no way to list pinholes.`,
		Example: `  reach mappings
  reach mappings --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runMappings(cmd.Context(), ios, d, o)
		},
	}
	addRouterFlags(cmd, o)
	return cmd
}

type mappingJSON struct {
	ExternalPort uint16 `json:"external_port"`
	Protocol     string `json:"protocol"`
	InternalIP   string `json:"internal_ip"`
	InternalPort uint16 `json:"internal_port"`
	Description  string `json:"description"`
	LeaseS       int64  `json:"lease_s"`
	Enabled      bool   `json:"enabled"`
	Ours         bool   `json:"ours"`
	// Owner is "reach (running, pid N)", "reach (left over)" or "not reach".
	Owner string `json:"owner"`
}

// pinholeJSON is an IPv6 pinhole reach opened, from its ledger: routers
// have no action that lists pinholes.
type pinholeJSON struct {
	Address  string `json:"address"` // [ipv6]:port
	Protocol string `json:"protocol"`
	Method   string `json:"method"`
	Owner    string `json:"owner"`
	Until    string `json:"until"` // when its lease ends (RFC 3339), unless renewed
}

// livePinholes are the ledger's pinholes on the router at gw whose lease
// still runs at now.
func livePinholes(gw netip.Addr, entries []ledger.Entry, now time.Time) []ledger.Entry {
	var out []ledger.Entry
	for _, e := range entries {
		if e.Kind == "pinhole" && e.Gateway == gw && now.Before(e.Created.Add(e.Lease)) {
			out = append(out, e)
		}
	}
	return out
}

// pinholesOf lists the ledger's pinholes on the router at gw whose lease
// still runs at now.
func pinholesOf(gw netip.Addr, entries []ledger.Entry, now time.Time) []pinholeJSON {
	out := []pinholeJSON{}
	for _, e := range livePinholes(gw, entries, now) {
		out = append(out, pinholeJSON{Address: netip.AddrPortFrom(e.InternalIP, e.ExternalPort).String(), Protocol: e.Protocol,
			Method: e.Method, Owner: entryOwner(e, "reach map"), Until: e.Created.Add(e.Lease).Format(time.RFC3339)})
	}
	return out
}

// entryOwner says which reach made ledger entry e; byMap is the words for
// one a reach map made.
func entryOwner(e ledger.Entry, byMap string) string {
	switch {
	case e.Command == "map":
		return byMap
	case ledger.OwnerOf(e) == ledger.Running:
		return fmt.Sprintf("reach (running, pid %d)", e.PID)
	}
	return "reach (left over)"
}

// ownerOf says who made m, from the ledger.
func ownerOf(m upnp.Mapping, gw netip.Addr, entries []ledger.Entry) string {
	for _, e := range entries {
		if e.Gateway == gw && e.Protocol == string(m.Protocol) && e.ExternalPort == m.ExternalPort && e.InternalIP == m.InternalIP {
			return entryOwner(e, "reach map (stays until reach unmap)")
		}
	}
	return "not reach"
}

func runMappings(ctx context.Context, ios *IOStreams, d *deps, o *routerOptions) error {
	if o.Method == "auto" {
		o.Method = "upnp" // only UPnP IGD can list
	}
	cfg, family, err := o.config(ios, d.Config)
	if err != nil {
		return err
	}
	st := newSteps(ios, o.JSON)
	r, err := routerStep(ctx, st, d, cfg, family, o.Timeout)
	if err != nil {
		return reported(ctx, err, o.JSON)
	}
	mapper, _ := r.Pick(family)
	lister, ok := mapper.(upnp.Lister)
	if !ok {
		return withCode(exitNo, fmt.Errorf("%s cannot list mappings; only UPnP IGD routers can", mapper.Method()))
	}
	st.start("reading the mapping table")
	lctx, cancel := context.WithTimeout(ctx, o.Timeout)
	list, err := lister.Mappings(lctx)
	cancel()
	if err != nil {
		st.done(markFail, "mappings", err.Error())
		return reported(ctx, err, o.JSON)
	}
	st.done(markOK, "mappings", fmt.Sprintf("%d on %s", len(list), r.Gateway))
	var entries []ledger.Entry
	if d.Ledger != nil {
		entries, _, _ = d.Ledger.List(ctx)
	}
	out := make([]mappingJSON, 0, len(list))
	for _, m := range list {
		out = append(out, mappingJSON{
			ExternalPort: m.ExternalPort, Protocol: string(m.Protocol), InternalIP: addrString(m.InternalIP),
			InternalPort: m.InternalPort, Description: m.Description, LeaseS: int64(m.Lease / time.Second),
			Enabled: m.Enabled, Ours: m.InternalIP == r.LocalIP, Owner: ownerOf(m, r.Gateway, entries),
		})
	}
	pinholes := pinholesOf(r.Gateway, entries, time.Now())
	if o.JSON {
		ios.writeJSON(map[string]any{"gateway": r.Gateway.String(), "local_ip": r.LocalIP.String(), "method": mapper.Method(), "mappings": out, "pinholes": pinholes})
		return nil
	}
	defer printPinholes(ios, pinholes)
	if len(out) == 0 {
		ios.result("no mappings")
		return nil
	}
	tw := tabwriter.NewWriter(ios.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\tEXTERNAL\tPROTO\tINTERNAL\tLEASE\tOWNER\tDESCRIPTION")
	for _, m := range out {
		mark, lease := "", "permanent"
		if m.Ours {
			mark = "*"
		}
		if m.LeaseS > 0 {
			lease = (time.Duration(m.LeaseS) * time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s:%d\t%s\t%s\t%s\n", mark, m.ExternalPort, m.Protocol, m.InternalIP, m.InternalPort, lease, m.Owner, m.Description)
	}
	tw.Flush()
	ios.printf("* forwards to this host (%s)\n", r.LocalIP)
	return nil
}

// printPinholes lists the IPv6 pinholes reach holds open, after the
// mappings; the router cannot list them, so they come from reach's ledger.
func printPinholes(ios *IOStreams, pinholes []pinholeJSON) {
	if len(pinholes) == 0 {
		return
	}
	ios.result("IPv6 pinholes reach opened (from its own records: routers cannot list pinholes):")
	tw := tabwriter.NewWriter(ios.Out, 0, 4, 2, ' ', 0)
	for _, p := range pinholes {
		until := p.Until
		if t, err := time.Parse(time.RFC3339, p.Until); err == nil {
			until = t.Format("15:04")
		}
		fmt.Fprintf(tw, "  %s/%s\tvia %s\t%s\tuntil %s\n", p.Address, p.Protocol, p.Method, p.Owner, until)
	}
	tw.Flush()
}
