package probe

import "strings"

// netshCurrentArgs ask netsh for the state of the firewall profiles in
// force now (those of the networks this host is on) rather than of all
// three: a profile that is on but not in use filters nothing, and one in
// use decides alone what reaches a program.
var netshCurrentArgs = []string{"advfirewall", "show", "currentprofile", "state"}

// netshCurrentCommand is the command HostFirewall runs on Windows, as the
// evidence names it.
var netshCurrentCommand = "netsh " + strings.Join(netshCurrentArgs, " ")

// parseNetshCurrent reads the output of `netsh advfirewall show
// currentprofile state`: the shape parseNetshState reads, holding only the
// profiles in use, so Profiles lists those of them that are on.
func parseNetshCurrent(out string) FirewallState {
	st := parseNetshState(out)
	st.Source = netshCurrentCommand
	return st
}
