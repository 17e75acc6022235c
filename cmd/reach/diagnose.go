package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/reach-net/reach/expose"
	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
	"github.com/spf13/cobra"
)

type diagnoseOptions struct {
	routerOptions
	STUN    []string
	Via     []string
	servers []string
	via     []probe.TURNServer
}

func newDiagnoseCmd(ios *IOStreams, d *deps) *cobra.Command {
	o := &diagnoseOptions{}
	cmd := &cobra.Command{
		Use:   "diagnose",
		Short: "Explain the NAT setup: double NAT, carrier-grade NAT, no UPnP...",
		Long: `One report of the whole path, for troubleshooting and support tickets:
this host's address and interface, the gateway, every port-mapping service
on it (UPnP IGD, PCP, NAT-PMP) with its external address, other UPnP devices
that answered, the public address the internet sees (STUN), the first hops,
and a verdict with the evidence that decided it and advice:

  public               the router's external address is public: forwarding works
  double-nat           another router (often the ISP's modem) sits in front
  cgnat                the provider shares a public address (100.64.0.0/10)
  no-mapping-service   the router answers no UPnP, PCP or NAT-PMP
  no-gateway           this host has no default route
  unknown              the evidence does not decide

With --via a TURN relay outside probes every port the router forwards to
this host, and every IPv6 pinhole reach holds open for it.`,
		Example: `  reach diagnose
  reach diagnose --json > report.json
  reach diagnose --via turn:USER:PASS@turn.example.net:3478
  reach diagnose --stun stun.example.net:3478 --stun off`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			servers, err := stunServers(o.STUN)
			if err != nil {
				return err
			}
			o.servers = servers
			if o.via, err = viaServers(o.Via); err != nil {
				return err
			}
			return runDiagnose(cmd.Context(), ios, d, o)
		},
	}
	addSTUNFlag(cmd, &o.STUN)
	addViaFlag(cmd, &o.Via)
	addRouterFlags(cmd, &o.routerOptions)
	return cmd
}

// serviceReport is one mapping service in the diagnose report.
type serviceReport struct {
	Method       upnp.Method `json:"method"`
	Version      string      `json:"version,omitempty"`
	ControlURL   string      `json:"control_url,omitempty"`
	Server       string      `json:"server,omitempty"`
	Status       string      `json:"status,omitempty"`
	ExternalIP   string      `json:"external_ip"`
	AddressClass string      `json:"address_class,omitempty"`
	Error        string      `json:"error,omitempty"`
	// What a report on an unknown router needs to become the next profile.
	SSDPServer        string          `json:"ssdp_server,omitempty"`
	Location          string          `json:"location,omitempty"`
	AnnouncedLocation string          `json:"announced_location,omitempty"`
	DeviceType        string          `json:"device_type,omitempty"`
	FriendlyName      string          `json:"friendly_name,omitempty"`
	Manufacturer      string          `json:"manufacturer,omitempty"`
	ModelName         string          `json:"model_name,omitempty"`
	ModelNumber       string          `json:"model_number,omitempty"`
	Described         []describedJSON `json:"described_services,omitempty"`
	StatusError       string          `json:"status_error,omitempty"`
	ReportedExternal  string          `json:"reported_external,omitempty"`
	Quirks            []string        `json:"quirks,omitempty"`
}

type describedJSON struct {
	Type       string `json:"type"`
	ControlURL string `json:"control_url"`
}

type hopReport struct {
	TTL   int     `json:"ttl"`
	Addr  string  `json:"addr"`
	RTTMs float64 `json:"rtt_ms"`
}

// diagnoseReport is the JSON of diagnose (CLI.md).
type diagnoseReport struct {
	LocalIP   string            `json:"local_ip"`
	Interface string            `json:"interface,omitempty"`
	Gateway   string            `json:"gateway"`
	Services  []serviceReport   `json:"services"`
	Missing   map[string]string `json:"missing,omitempty"`
	Others    []string          `json:"other_devices"`
	PublicIP  string            `json:"public_ip"`
	STUN      string            `json:"stun_server,omitempty"`
	STUNError string            `json:"stun_error,omitempty"`
	Hops      []hopReport       `json:"hops"`
	NAT       probe.NAT         `json:"nat"`
	Evidence  []string          `json:"evidence"`
	Causes    []string          `json:"causes,omitempty"`
	Healed    []string          `json:"healed,omitempty"`
	Outside   []outsideJSON     `json:"outside,omitempty"`
	IPv6      ipv6Report        `json:"ipv6"`
	Advice    []string          `json:"advice"`
	Error     string            `json:"error,omitempty"`
}

func runDiagnose(ctx context.Context, ios *IOStreams, d *deps, o *diagnoseOptions) error {
	cfg, _, err := o.config(ios, d.Config)
	if err != nil {
		return err
	}
	cfg.AllServices = true
	st := newSteps(ios, o.JSON)
	pathc := make(chan probe.Path, 1)
	go func() {
		pathc <- probe.LookPath(ctx, probe.PathConfig{Servers: o.servers, PublicAddr: d.PublicAddr, Hops: d.Hops})
	}()

	st.start("looking for the router")
	rep := diagnoseReport{Services: []serviceReport{}, Others: []string{}, Hops: []hopReport{}}
	dctx, cancel := context.WithTimeout(ctx, o.Timeout)
	r, ferr := d.FindRouter(dctx, cfg)
	cancel()
	if ctx.Err() != nil {
		<-pathc
		return withCode(exitInterrupted, ctx.Err())
	}
	var ev probe.Evidence
	if r == nil {
		st.step(&expose.Step{Name: "gateway", Mark: expose.MarkFail, Detail: upnp.Summary(ferr), Err: ferr})
		rep.Error = ferr.Error()
		if gw, local, err := d.FindGateway(ctx, cfg); err == nil || local.IsValid() {
			ev.Gateway, ev.LocalIP = gw, local
			rep.LocalIP = addrString(local)
		}
	} else {
		ev.Gateway, ev.LocalIP, ev.Looked = r.Gateway, r.LocalIP, true
		rep.Gateway, rep.LocalIP = r.Gateway.String(), r.LocalIP.String()
		rep.Interface = probe.InterfaceOf(r.LocalIP)
		st.done(markOK, "gateway", fmt.Sprintf("%s (this host %s on %s)", r.Gateway, r.LocalIP, orDash(rep.Interface)))
		expose.Heal(ctx, r, d.Ledger, func(ev expose.Event) {
			if h, ok := ev.(*expose.Step); ok && h.Name == "heal" && strings.HasPrefix(h.Detail, "removed ") {
				rep.Healed = append(rep.Healed, h.Detail) // what was removed; warnings stay steps
			}
			st.render(ev)
		})
		for _, dev := range r.Others {
			rep.Others = append(rep.Others, describeDevice(dev))
		}
		rep.Missing = map[string]string{}
		for f, err := range r.Missing {
			if err != nil {
				rep.Missing[f.String()] = upnp.Summary(err)
			}
		}
		for _, state := range upnp.Describe(ctx, r, o.Timeout) {
			se := expose.StateEvidence(state)
			ev.Services = append(ev.Services, se)
			rep.Services = append(rep.Services, serviceJSON(state))
			if se.Err != nil {
				st.step(&expose.Step{Name: string(state.Method), Mark: expose.MarkWarn, Detail: "answers, but: " + se.Summary, Err: se.Err})
				continue
			}
			_, text := expose.ClassifyText(state.External)
			if state.Status != "" {
				text += ", WAN " + state.Status
			}
			st.done(markOK, string(state.Method), "external "+text)
		}
		for _, f := range []upnp.Family{upnp.FamilyUPnP, upnp.FamilyPCP, upnp.FamilyNATPMP} {
			if why, ok := rep.Missing[f.String()]; ok {
				st.done(markWarn, f.String(), "not found: "+why)
			}
		}
		for _, other := range rep.Others {
			st.done(markWarn, "other", "another UPnP device answered (not used): "+other)
		}
	}
	path := <-pathc
	if ctx.Err() != nil {
		return withCode(exitInterrupted, ctx.Err())
	}
	ev.STUNAsked, ev.STUN, ev.Hops = path.Asked, path.Public(), path.Hops
	if path.STUN != nil {
		rep.PublicIP, rep.STUN = path.STUN.Addr.Addr().String(), path.STUN.Server
		st.done(markOK, "stun", fmt.Sprintf("the internet sees %s (asked %s)", path.STUN.Addr.Addr(), path.STUN.Server))
	} else if path.STUNErr != nil {
		rep.STUNError = path.STUNErr.Error()
		st.step(&expose.Step{Name: "stun", Mark: expose.MarkWarn, Detail: stunSummary(path.STUNErr), Err: path.STUNErr})
	}
	for _, h := range path.Hops {
		hr := hopReport{TTL: h.TTL, Addr: addrString(h.Addr), RTTMs: *ms(h.RTT)}
		rep.Hops = append(rep.Hops, hr)
		st.done(markOK, fmt.Sprintf("hop %d", h.TTL), orDash(hr.Addr))
	}
	rep.IPv6 = describeIPv6(ctx, st, d, r, &ev)
	if len(o.via) > 0 && r != nil {
		rep.Outside = outsideProbes(ctx, st, d, r, o, ev.STUN)
		if v6 := ev.IPv6; v6 != nil && v6.Global {
			rep.Outside = append(rep.Outside, pinholeProbes(ctx, st, d, r, o, v6.Address)...)
		}
	}
	diag := probe.Decide(ev)
	rep.NAT, rep.Evidence, rep.Advice, rep.Causes = diag.NAT, diag.Evidence, diag.Advice, diag.Causes
	if rep.Advice == nil {
		rep.Advice = []string{}
	}
	if o.JSON {
		ios.writeJSON(rep)
	} else {
		mark := markWarn
		switch rep.NAT {
		case probe.NATPublic, probe.NATNone:
			mark = markOK
		case probe.NATCGNAT, probe.NATNoGateway:
			mark = markFail
		}
		ios.verdict(mark, "nat: %s", rep.NAT)
		ios.printf("evidence:\n")
		for _, e := range rep.Evidence {
			ios.printf("  - %s\n", e)
		}
		if len(rep.Advice) > 0 {
			ios.printf("what to do:\n")
		}
		for _, a := range rep.Advice {
			ios.printf("  -> %s\n", a)
		}
	}
	if rep.NAT == probe.NATNoGateway {
		return withCode(exitNo, jsonErr(o.JSON, errors.New("no default gateway")))
	}
	return nil
}

// stunSummary is the one line of a STUN failure.
func stunSummary(err error) string {
	return strings.TrimPrefix(err.Error(), "probe: ")
}

// serviceJSON is one service in the report.
func serviceJSON(s upnp.ServiceState) serviceReport {
	r := serviceReport{Method: s.Method, Version: s.Version, ControlURL: s.ControlURL, Server: s.Server,
		Status: s.Status, ExternalIP: addrString(s.External)}
	if s.Err != nil {
		r.Error = s.Err.Error()
	} else {
		r.AddressClass = string(probe.ClassifyAddr(s.External))
	}
	id := s.Identity
	r.SSDPServer, r.Location, r.AnnouncedLocation = s.SSDPServer, s.Location, s.AnnouncedLocation
	r.DeviceType, r.FriendlyName, r.Manufacturer, r.ModelName, r.ModelNumber = id.DeviceType, id.FriendlyName, id.Manufacturer, id.ModelName, id.ModelNumber
	for _, d := range id.Services {
		r.Described = append(r.Described, describedJSON{Type: d.Type, ControlURL: d.ControlURL})
	}
	if s.StatusErr != nil {
		r.StatusError = s.StatusErr.Error()
	}
	r.ReportedExternal, r.Quirks = s.ReportedExternal, s.Quirks
	return r
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// outsideJSON is one mapped port or pinhole probed from a TURN relay
// (diagnose --via).
type outsideJSON struct {
	Target   string `json:"target"`
	Protocol string `json:"protocol"`
	Verdict  string `json:"verdict"`
	Failure  string `json:"failure,omitempty"`
	Detail   string `json:"detail"`
}

// outsideProbes asks the first TURN relay to probe each port the router
// forwards to this host, through the public address: what the internet
// sees of each, from one command at home.
func outsideProbes(ctx context.Context, st *steps, d *deps, r *upnp.Router, o *diagnoseOptions, stun netip.Addr) []outsideJSON {
	var out []outsideJSON
	for _, m := range r.Services {
		l, ok := m.(upnp.Lister)
		if !ok {
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, o.Timeout)
		list, err := l.Mappings(lctx)
		cancel()
		if err != nil {
			return out
		}
		pub := stun
		if !pub.IsValid() {
			if ext, err := m.ExternalAddr(ctx); err == nil && probe.ClassifyAddr(ext) == probe.AddrPublic {
				pub = ext
			}
		}
		if !pub.IsValid() {
			st.done(markWarn, "outside", "no public address known to probe the mapped ports through")
			return out
		}
		for _, mp := range list {
			if mp.InternalIP != r.LocalIP {
				continue
			}
			out = append(out, probeOutside(ctx, st, d, o, netip.AddrPortFrom(pub, mp.ExternalPort), string(mp.Protocol), ""))
		}
		return out
	}
	return out
}

// pinholeProbes asks the first TURN relay to probe each IPv6 pinhole
// reach holds open for this host's global address (from its ledger:
// routers cannot list pinholes) at [address]:port.
func pinholeProbes(ctx context.Context, st *steps, d *deps, r *upnp.Router, o *diagnoseOptions, addr netip.Addr) []outsideJSON {
	if d.Ledger == nil {
		return nil
	}
	entries, _, _ := d.Ledger.List(ctx)
	var out []outsideJSON
	for _, e := range livePinholes(r.Gateway, entries, time.Now()) {
		if e.InternalIP == addr {
			out = append(out, probeOutside(ctx, st, d, o, netip.AddrPortFrom(addr, e.ExternalPort), e.Protocol, "IPv6 pinhole "))
		}
	}
	return out
}

// probeOutside has the first TURN relay probe target over proto, says
// what it saw in a step (what names the target) and returns it.
func probeOutside(ctx context.Context, st *steps, d *deps, o *diagnoseOptions, target netip.AddrPort, proto, what string) outsideJSON {
	v := d.CheckVia(ctx, o.via[0], target, proto, probe.ViaConfig{})
	mark := markWarn
	if v.Verified() {
		mark = markOK
	}
	st.done(mark, "outside", fmt.Sprintf("%s%s/%s from the TURN relay: %s", what, target, proto, v.Detail))
	return outsideJSON{Target: target.String(), Protocol: proto, Verdict: string(v.Verdict), Failure: string(v.Failure), Detail: v.Detail}
}

// ipv6Report is diagnose's IPv6 section (CLI.md "IPv6").
type ipv6Report struct {
	Address        string  `json:"address"`
	Global         bool    `json:"global"`
	Gateway        string  `json:"gateway"`
	PinholeService *string `json:"pinhole_service"`
	Error          string  `json:"error,omitempty"`
}

// describeIPv6 finds this host's IPv6 address and gateway, and asks the
// router which pinhole service it offers (opening none).
func describeIPv6(ctx context.Context, st *steps, d *deps, r *upnp.Router, ev *probe.Evidence) ipv6Report {
	var rep ipv6Report
	info, err := d.FindIPv6(ctx)
	ev.IPv6 = &probe.IPv6Evidence{Address: info.Address, Global: info.Global, Gateway: info.Gateway}
	if err != nil || !info.Global {
		st.done(markWarn, "ipv6", "no global IPv6 address on this host")
		return rep
	}
	rep.Address, rep.Global, rep.Gateway = info.Address.String(), true, addrString(info.Gateway)
	if !info.Gateway.IsValid() {
		st.done(markWarn, "ipv6", fmt.Sprintf("%s (global); the IPv6 gateway is unknown", info.Address))
		return rep
	}
	pctx, cancel := context.WithTimeout(ctx, probe.PathSTUNWait)
	m, err := upnp.PinholeService(pctx, r, info.Gateway, info.Address)
	cancel()
	if err != nil {
		rep.Error = err.Error()
		st.step(&expose.Step{Name: "ipv6", Mark: expose.MarkWarn, Err: err,
			Detail: fmt.Sprintf("%s (global), gateway %s; no pinhole service: %s", info.Address, info.Gateway, upnp.Summary(err))})
		return rep
	}
	name := string(m)
	rep.PinholeService = &name
	st.done(markOK, "ipv6", fmt.Sprintf("%s (global), gateway %s, pinholes via %s", info.Address, info.Gateway, m))
	return rep
}
