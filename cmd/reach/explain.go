package main

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
)

// adviser is an error that knows what the user should do about it (UPnP
// faults, NAT-PMP and PCP result codes).
type adviser interface {
	Advice() string
}

// adviceFor returns the plain instruction for a known router error, or "".
func adviceFor(err error) string {
	var a adviser
	if errors.As(err, &a) {
		return a.Advice()
	}
	if errors.Is(err, upnp.ErrNoGateway) {
		return "connect this machine to your home network (Wi-Fi or cable), or pass the router's address with --gateway"
	}
	return ""
}

// manualForward tells how to forward the port by hand in the router's page.
func manualForward(gw, local netip.Addr, ext, port uint16, proto upnp.Protocol) []string {
	router := "your router's admin page"
	if gw.IsValid() {
		router = fmt.Sprintf("your router's admin page (usually http://%s/)", gw)
	}
	host := "this machine's LAN address"
	if local.IsValid() {
		host = local.String()
	}
	return []string{
		fmt.Sprintf("forward the port by hand: open %s, find \"port forwarding\" (or \"virtual server\", \"NAT\")", router),
		fmt.Sprintf("add: external port %d %s -> %s port %d", ext, protoUpper(proto), host, port),
		"or turn on UPnP (or NAT-PMP) in the router's settings and run reach again",
	}
}

func protoUpper(p upnp.Protocol) string {
	if p == upnp.UDP {
		return "UDP"
	}
	return "TCP"
}

// classifyText says what an external address means for reachability.
func classifyText(ext netip.Addr) (mark, text string) {
	switch probe.ClassifyAddr(ext) {
	case probe.AddrPublic:
		return markOK, fmt.Sprintf("%s (public)", ext)
	case probe.AddrPrivate:
		return markWarn, fmt.Sprintf("%s (private: another router sits in front of this one, double NAT)", ext)
	case probe.AddrShared:
		return markWarn, fmt.Sprintf("%s (shared 100.64.0.0/10: your provider uses carrier-grade NAT)", ext)
	case probe.AddrUnspecified:
		return markWarn, "unspecified (the router is not connected, or hides its address)"
	}
	return markWarn, fmt.Sprintf("%s (reserved: not reachable from the internet)", ext)
}
