package probe

import (
	"fmt"
	"net/netip"
	"strings"
)

// advisor words the advice with the user's own addresses and port.
type advisor struct {
	e   Evidence
	ext netip.Addr
}

func (a advisor) port() string {
	if a.e.Port == 0 {
		return "your port (" + a.e.proto() + ")"
	}
	return fmt.Sprintf("port %d/%s", a.e.extPort(), a.e.proto())
}

// targetText is t for a command line, with a PORT placeholder when no port
// is known.
func (a advisor) targetText(t netip.AddrPort) string {
	if !t.IsValid() {
		return "PUBLIC-IP:PORT"
	}
	if t.Port() == 0 {
		return t.Addr().String() + ":PORT"
	}
	return t.String()
}

func (a advisor) checkFromOutside(t netip.AddrPort) string {
	if a.e.proto() == "udp" && a.e.OwnProgram {
		return fmt.Sprintf("test %s/udp from outside your network with your program's own client (`reach check --proto udp` needs reach's echo server behind the port)", a.targetText(t))
	}
	if a.e.proto() == "udp" {
		return fmt.Sprintf("run `reach check --proto udp %s` from outside your network (another network, or a phone's hotspot)", a.targetText(t))
	}
	return fmt.Sprintf("run `reach check %s` from outside your network (another network, or a phone's hotspot)", a.targetText(t))
}

func (a advisor) routerPage() string {
	if !a.e.Gateway.IsValid() {
		return ""
	}
	return fmt.Sprintf(" (if %s is your home router: http://%s/)", a.e.Gateway, a.e.Gateway)
}

// manualForward tells how to forward the port by hand on the router.
func (a advisor) manualForward() []string {
	host := "this host's LAN address"
	if a.e.LocalIP.IsValid() {
		host = a.e.LocalIP.Unmap().String()
	}
	ext, port := "the same port", "your port"
	if a.e.Port != 0 {
		ext, port = fmt.Sprint(a.e.extPort()), fmt.Sprint(a.e.Port)
	}
	return []string{
		fmt.Sprintf("forward the port by hand in the router's page%s, under \"port forwarding\" (or \"virtual server\", \"NAT\")", a.routerPage()),
		fmt.Sprintf("add: external port %s %s -> %s port %s", ext, strings.ToUpper(a.e.proto()), host, port),
	}
}

func (a advisor) wanPage() string {
	return "look at the router's status page for its WAN (internet) address: private (10.x, 172.16-31.x, 192.168.x) means a modem in front, 100.64-127.x means carrier-grade NAT"
}

func (a advisor) vpnAdvice() []string {
	return []string{
		"if this host uses a VPN or a proxy, the internet sees the VPN's address: turn it off for the test",
		"otherwise the network has several links to the internet or sits behind another NAT: ask its admin or the ISP which address is yours",
	}
}

func (a advisor) cgnatAdvice() []string {
	return []string{
		"ask the ISP for a public IPv4 address (often free or cheap; ask to be taken off carrier-grade NAT)",
		"or use IPv6, if your ISP and the people connecting have it",
		"or tunnel through a server that has a public address (a small rented server, or a relay such as ngrok, cloudflared or frp)",
	}
}

func (a advisor) doubleAdvice() []string {
	wan := "your router's WAN address (see its status page)"
	if ClassifyAddr(a.ext) == AddrPrivate {
		wan = "your router's WAN address " + a.ext.String()
	}
	return []string{
		"put the ISP's modem (the box in front of your router) in bridge mode, so your router gets the public address",
		fmt.Sprintf("or forward %s on the modem to %s too", a.port(), wan),
		fmt.Sprintf("or put your router in access-point mode and forward %s on the modem to this host %s", a.port(), orUnknown(a.e.LocalIP)),
	}
}

// hopsBeyond returns the first answering hop after the router and the
// first one in 100.64.0.0/10, ignoring the target itself.
func hopsBeyond(hops []Hop, gw netip.Addr) (next, shared Hop) {
	routerTTL := 1
	for _, h := range hops {
		if h.Addr.Unmap() == gw.Unmap() {
			routerTTL = h.TTL
			break
		}
	}
	for _, h := range hops {
		if h.TTL <= routerTTL || !h.Addr.IsValid() || h.Target {
			continue
		}
		if !next.Addr.IsValid() {
			next = h
		}
		if !shared.Addr.IsValid() && ClassifyAddr(h.Addr) == AddrShared {
			shared = h
		}
	}
	return next, shared
}

func serviceLine(s ServiceEvidence) string {
	line := s.Method + ": "
	switch {
	case s.Summary != "":
		line += s.Summary
	case s.Err != nil:
		line += "error: " + s.Err.Error()
	case s.ExternalAddr.IsValid():
		line += fmt.Sprintf("external address %s (%s)", s.ExternalAddr, ClassifyAddr(s.ExternalAddr))
	case s.Asked:
		line += "no external address"
	default:
		line += "answered (its external address was not asked)"
	}
	if s.Connected != nil && !*s.Connected {
		line += "; the router says it is not connected"
	}
	return line
}

func orUnknown(a netip.Addr) string {
	if a.IsValid() {
		return a.Unmap().String()
	}
	return "(unknown)"
}
