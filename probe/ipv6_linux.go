package probe

import (
	"errors"
	"io/fs"
	"os"
)

// ipv6RouteFile is Linux's IPv6 routing table.
const ipv6RouteFile = "/proc/net/ipv6_route"

// readIPv6Routes reads the IPv6 routing table; nil without error when the
// kernel has no IPv6.
func readIPv6Routes() ([]ipv6Route, error) {
	data, err := os.ReadFile(ipv6RouteFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseIPv6Routes(data)
}
