package probe

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ipv6Route is one line of Linux's /proc/net/ipv6_route.
type ipv6Route struct {
	Dest    netip.Prefix
	NextHop netip.Addr // the unspecified address when the route has none
	Metric  uint32
	Flags   uint32
	Iface   string
}

// Route flags of /proc/net/ipv6_route (linux/route.h, linux/ipv6_route.h).
const (
	rtfUp      = 0x0001
	rtfGateway = 0x0002
	rtfReject  = 0x0200
)

// parseIPv6Routes parses /proc/net/ipv6_route: per line the destination
// and its prefix length, the source and its prefix length, the next hop,
// metric, reference count, use count and flags (hex), and the interface.
// A malformed line is an error naming it.
func parseIPv6Routes(data []byte) ([]ipv6Route, error) {
	var routes []ipv6Route
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 10 {
			return nil, fmt.Errorf("probe: ipv6_route line %d: %d fields, want 10", n, len(f))
		}
		dest, err1 := hexIPv6(f[0])
		plen, err2 := strconv.ParseUint(f[1], 16, 8)
		hop, err3 := hexIPv6(f[4])
		metric, err4 := strconv.ParseUint(f[5], 16, 32)
		flags, err5 := strconv.ParseUint(f[8], 16, 32)
		for _, err := range []error{err1, err2, err3, err4, err5} {
			if err != nil {
				return nil, fmt.Errorf("probe: ipv6_route line %d: %v", n, err)
			}
		}
		if plen > 128 {
			return nil, fmt.Errorf("probe: ipv6_route line %d: prefix length %d", n, plen)
		}
		routes = append(routes, ipv6Route{Dest: netip.PrefixFrom(dest, int(plen)), NextHop: hop,
			Metric: uint32(metric), Flags: uint32(flags), Iface: f[9]})
	}
	return routes, sc.Err()
}

// hexIPv6 reads 32 hex digits as an IPv6 address.
func hexIPv6(s string) (netip.Addr, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		return netip.Addr{}, fmt.Errorf("address %q is not 32 hex digits", s)
	}
	return netip.AddrFrom16([16]byte(b)), nil
}

// defaultIPv6Gateway picks the next hop of the default route the kernel
// uses: an up ::/0 route with a gateway that is not a reject route, on
// iface when one is given and such a route exists there (the interface of
// the source address), of the lowest metric. A link-local gateway carries
// its interface as the zone. It returns zero values when there is none.
func defaultIPv6Gateway(routes []ipv6Route, iface string) (netip.Addr, string) {
	var best *ipv6Route
	onIface := false
	for i := range routes {
		r := &routes[i]
		if r.Dest.Bits() != 0 || r.Flags&rtfUp == 0 || r.Flags&rtfGateway == 0 || r.Flags&rtfReject != 0 ||
			r.NextHop.IsUnspecified() || r.Iface == "lo" {
			continue
		}
		mine := iface != "" && r.Iface == iface
		switch {
		case best == nil, mine && !onIface, mine == onIface && r.Metric < best.Metric:
			best, onIface = r, mine
		}
	}
	if best == nil {
		return netip.Addr{}, ""
	}
	gw := best.NextHop
	if gw.IsLinkLocalUnicast() {
		gw = gw.WithZone(best.Iface)
	}
	return gw, best.Iface
}
