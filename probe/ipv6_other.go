//go:build !linux

package probe

// readIPv6Routes is not implemented here: reach reads the IPv6 routing
// table on Linux only, so the gateway stays unknown.
func readIPv6Routes() ([]ipv6Route, error) { return nil, nil }
