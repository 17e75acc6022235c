package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/reach-net/reach/upnp"
)

// parseTarget checks a HOST:PORT argument: a host (name or address) and a
// port from 1 to 65535. IPv6 literals go in brackets: [2001:db8::1]:1234.
func parseTarget(arg string) (string, error) {
	host, port, err := net.SplitHostPort(arg)
	if err != nil {
		return "", usageErrorf("%q is not HOST:PORT (for example 203.0.113.7:1234): %v", arg, stripAddrPrefix(err))
	}
	if host == "" {
		return "", usageErrorf("%q has no host: give the server's address, for example 203.0.113.7:%s", arg, port)
	}
	if _, err := parsePort("port in "+arg, port); err != nil {
		return "", err
	}
	return net.JoinHostPort(host, port), nil
}

func stripAddrPrefix(err error) string {
	var ae *net.AddrError
	if errors.As(err, &ae) {
		return ae.Err
	}
	return err.Error()
}

// parsePort reads a port number from 1 to 65535.
func parsePort(what, s string) (uint16, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, usageErrorf("%s must be a number from 1 to 65535, got %q", what, s)
	}
	return uint16(n), nil
}

// checkPort validates a --port style flag value.
func checkPort(flag string, n int) error {
	if n == 0 && flag == "port" {
		return usageErrorf("--port is required: the port your program listens on, for example --port 1234")
	}
	if n < 1 || n > 65535 {
		return usageErrorf("--%s must be from 1 to 65535, got %d", flag, n)
	}
	return nil
}

// checkPortPair validates --port, the other port of the mapping (zero
// means the same as --port) and --proto.
func checkPortPair(port int, otherFlag string, other *int, proto string) error {
	if err := checkPort("port", port); err != nil {
		return err
	}
	if *other == 0 {
		*other = port
	}
	if err := checkPort(otherFlag, *other); err != nil {
		return err
	}
	_, err := parseProto(proto)
	return err
}

// parseProto reads --proto.
func parseProto(s string) (upnp.Protocol, error) {
	switch strings.ToLower(s) {
	case "tcp":
		return upnp.TCP, nil
	case "udp":
		return upnp.UDP, nil
	}
	return "", usageErrorf("--proto must be tcp or udp, got %q", s)
}

// parseGateway reads --gateway (empty: the default gateway).
func parseGateway(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() || a.IsUnspecified() {
		return netip.Addr{}, usageErrorf("--gateway must be the router's IPv4 address, for example 192.168.1.1, got %q", s)
	}
	return a, nil
}

// parseMethod reads --method: auto, upnp, pcp or nat-pmp.
func parseMethod(s string) (string, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return "auto", nil
	case "upnp", "upnp-igd", "igd":
		return "upnp", nil
	case "pcp":
		return "pcp", nil
	case "nat-pmp", "natpmp", "pmp":
		return "nat-pmp", nil
	}
	return "", usageErrorf("--method must be auto, upnp, pcp or nat-pmp, got %q", s)
}

func quotePreview(p []byte, limit int) string {
	if len(p) > limit {
		return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(string(p[:limit])), len(p))
	}
	return strconv.Quote(string(p))
}
