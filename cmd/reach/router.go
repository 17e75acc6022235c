package main

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/reach-net/reach/upnp"
	"github.com/spf13/cobra"
)

// routerOptions are the flags of every command that talks to the router.
type routerOptions struct {
	Gateway string
	Method  string
	Timeout time.Duration
	JSON    bool
}

func addRouterFlags(cmd *cobra.Command, o *routerOptions) {
	cmd.Flags().StringVar(&o.Gateway, "gateway", "", "router address (default: the default gateway)")
	cmd.Flags().StringVar(&o.Method, "method", "auto", "mapping protocol: auto, upnp, pcp or nat-pmp")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 5*time.Second, "give up on the router after this long")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON on stdout")
}

// config turns the flags into a router configuration on top of base.
func (o *routerOptions) config(ios *IOStreams, base upnp.Config) (upnp.Config, error) {
	if base.Logf == nil {
		base.Logf = notes(ios)
	}
	gw, err := parseGateway(o.Gateway)
	if err != nil {
		return base, err
	}
	method, err := parseMethod(o.Method)
	if err != nil {
		return base, err
	}
	if method != "auto" {
		base.Only = method
	}
	if o.Timeout <= 0 {
		return base, usageErrorf("--timeout must be positive, got %s", o.Timeout)
	}
	if gw.IsValid() {
		base.Gateway = gw
	}
	return base, nil
}

// service is one port-mapping service found on the gateway.
type service struct {
	Method upnp.Method
	Mapper upnp.Mapper
}

// router is what discovery found: the gateway, this host's address on its
// LAN, the mapping services that answered and why the others did not.
type router struct {
	Gateway  netip.Addr
	LocalIP  netip.Addr
	Services []service // in order of preference: UPnP IGD, PCP, NAT-PMP
	Missing  map[upnp.Method]error
	Others   []string // other UPnP devices that answered (not used)
	// noService says why no service answered; nil when one did.
	noService error
}

// pick returns the mapper for --method (auto: the first that answered).
func (r *router) pick(method string) (upnp.Mapper, error) {
	m, _ := parseMethod(method)
	for _, s := range r.Services {
		if m == "auto" || s.Method.Family() == m {
			return s.Mapper, nil
		}
	}
	if m == "auto" {
		if r.noService != nil {
			return nil, r.noService
		}
		return nil, fmt.Errorf("%w on %s", upnp.ErrNoMappingService, r.Gateway)
	}
	return nil, fmt.Errorf("the router at %s does not answer %s%s", r.Gateway, m, r.why(m))
}

// why explains in a short suffix why a method was not found.
func (r *router) why(family string) string {
	for m, err := range r.Missing {
		if m.Family() == family && err != nil {
			return ": " + trimPkg(err)
		}
	}
	return ""
}

// findRouter is the real discovery: gateway, then UPnP IGD, PCP and NAT-PMP
// probed in parallel.
func findRouter(ctx context.Context, cfg upnp.Config) (*router, error) {
	upnp.SilenceLibraryLogs()
	d, err := upnp.Discover(ctx, cfg)
	if d == nil {
		return nil, err
	}
	r := &router{Gateway: d.Gateway, LocalIP: d.LocalIP, Missing: map[upnp.Method]error{}, noService: d.Err()}
	if d.IGD != nil {
		r.Services = append(r.Services, service{Method: d.IGD.Method(), Mapper: d.IGD})
	} else {
		r.Missing[upnp.MethodUPnP] = d.Errors[upnp.MethodUPnP]
	}
	if d.PCP != nil {
		r.Services = append(r.Services, service{Method: upnp.MethodPCP, Mapper: d.PCP})
	} else {
		r.Missing[upnp.MethodPCP] = d.Errors[upnp.MethodPCP]
	}
	if d.NATPMP != nil {
		r.Services = append(r.Services, service{Method: upnp.MethodNATPMP, Mapper: d.NATPMP})
	} else {
		r.Missing[upnp.MethodNATPMP] = d.Errors[upnp.MethodNATPMP]
	}
	for _, o := range d.Others {
		r.Others = append(r.Others, describeDevice(o))
	}
	return r, nil
}

// serviceNames is the evidence line of the service step: the services found.
func (r *router) serviceNames() string {
	if len(r.Services) == 0 {
		return "none answered"
	}
	var names []string
	for _, s := range r.Services {
		names = append(names, string(s.Method))
	}
	return strings.Join(names, ", ")
}

// mappingDescription is what the router shows next to our mappings, so the
// user can tell them apart in its web page.
func mappingDescription(d *deps, port uint16) string {
	h, err := d.Hostname()
	if err != nil || h == "" {
		return fmt.Sprintf("reach %d", port)
	}
	return fmt.Sprintf("reach %d on %s", port, h)
}

// describeDevice is one line about another UPnP device on the LAN.
func describeDevice(dev upnp.Device) string {
	s := dev.Addr.String()
	if dev.Server != "" {
		s += " " + dev.Server
	}
	if dev.ST != "" {
		s += " (" + dev.ST + ")"
	}
	return s
}

// trimPkg drops a library's "upnp: " or "probe: " prefix where the line
// already says which part speaks.
func trimPkg(err error) string {
	msg := err.Error()
	for _, p := range []string{"upnp: ", "probe: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}

// notes shows what the router code ignored and why (a device off the LAN,
// a malformed reply, a forgotten cache entry), on stderr so that stdout
// stays clean for --json.
func notes(ios *IOStreams) func(format string, args ...any) {
	return func(format string, args ...any) {
		clear := ""
		if ios.IsTerminal {
			clear = "\r\033[K" // the spinner's line; it redraws below
		}
		ios.printf("%s  note %s\n", clear, strings.TrimPrefix(fmt.Sprintf(format, args...), "upnp: "))
	}
}
