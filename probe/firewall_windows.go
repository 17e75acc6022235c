//go:build windows

package probe

import (
	"context"
	"fmt"
	"os/exec"
)

// HostFirewall reads whether Windows Defender Firewall is on for the
// profiles in use now (Domain, Private or Public: the ones of the networks
// this host is on), from netsh, which needs no administrator for this. The
// state is unknown, with an error, if netsh fails; unknown without one if
// its output is in a shape parseNetshState does not know.
func HostFirewall(ctx context.Context) (FirewallState, error) {
	ctx, cancel := context.WithTimeout(ctx, firewallCommandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "netsh", netshStateArgs...).Output()
	if err != nil {
		return FirewallState{Status: FirewallUnknown, Source: netshStateCommand}, fmt.Errorf("probe: host firewall: %s: %w", netshStateCommand, err)
	}
	return parseNetshState(string(out)), nil
}
