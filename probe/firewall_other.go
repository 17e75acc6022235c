//go:build !windows && !darwin

package probe

import "context"

// HostFirewall returns an unknown state: on Linux and the BSDs the rules
// (nftables, iptables, pf) can be read only as root, so reach does not
// look.
func HostFirewall(ctx context.Context) (FirewallState, error) {
	return FirewallState{Status: FirewallUnknown}, nil
}
