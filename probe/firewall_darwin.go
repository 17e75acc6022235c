//go:build darwin

package probe

import (
	"context"
	"fmt"
	"os/exec"
)

// HostFirewall reads whether the macOS application firewall is on and
// blocks all incoming connections, from socketfilterfw, which answers
// these questions without root. The state is unknown, with an error, if
// the global state cannot be read; a failed --getblockall adds nothing.
func HostFirewall(ctx context.Context) (FirewallState, error) {
	ctx, cancel := context.WithTimeout(ctx, firewallCommandTimeout)
	defer cancel()
	global, err := exec.CommandContext(ctx, socketfilterfwPath, "--getglobalstate").Output()
	if err != nil {
		return FirewallState{Status: FirewallUnknown, Source: socketfilterfwSource}, fmt.Errorf("probe: host firewall: %s --getglobalstate: %w", socketfilterfwPath, err)
	}
	blockAll, _ := exec.CommandContext(ctx, socketfilterfwPath, "--getblockall").Output()
	return parseSocketfilterfw(string(global), string(blockAll)), nil
}
