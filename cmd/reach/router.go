package main

import (
	"fmt"
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

// config turns the flags into a router configuration on top of base, and
// the protocol family --method names.
func (o *routerOptions) config(ios *IOStreams, base upnp.Config) (upnp.Config, upnp.Family, error) {
	if base.Logf == nil {
		base.Logf = notes(ios)
	}
	gw, err := parseGateway(o.Gateway)
	if err != nil {
		return base, upnp.FamilyAuto, err
	}
	family, err := upnp.ParseFamily(o.Method)
	if err != nil {
		return base, upnp.FamilyAuto, usageErrorf("--method must be auto, upnp, pcp or nat-pmp, got %q", o.Method)
	}
	base.Only = string(family)
	if o.Timeout <= 0 {
		return base, family, usageErrorf("--timeout must be positive, got %s", o.Timeout)
	}
	if gw.IsValid() {
		base.Gateway = gw
	}
	return base, family, nil
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
