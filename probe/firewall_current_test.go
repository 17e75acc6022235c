package probe

import (
	"slices"
	"testing"
)

// netsh output of one machine on a public network (a café's Wi-Fi) whose
// user turned the Public profile off and left the others on, written in
// the shape of published captures, not captured here.
const (
	netshAllPublicOff = "\r\nDomain Profile Settings:\r\n----------------------------------------------------------------------\r\nState                                 ON\r\n\r\n" +
		"Private Profile Settings:\r\n----------------------------------------------------------------------\r\nState                                 ON\r\n\r\n" +
		"Public Profile Settings:\r\n----------------------------------------------------------------------\r\nState                                 OFF\r\nOk.\r\n\r\n"
	netshCurrentPublicOff = "\r\nPublic Profile Settings:\r\n----------------------------------------------------------------------\r\nState                                 OFF\r\nOk.\r\n\r\n"
	// Constructed: two networks at once (Ethernet at home, a VPN to the
	// office's domain), one profile each.
	netshCurrentTwo = "\r\nDomain Profile Settings:\r\n----------------------------------------------------------------------\r\nState                                 OFF\r\n\r\n" +
		"Private Profile Settings:\r\n----------------------------------------------------------------------\r\nState                                 ON\r\nOk.\r\n\r\n"
)

// The firewall's state is that of the profiles in use: a profile that is
// on but not in use makes it neither on nor a cause.
func TestParseNetshCurrent(t *testing.T) {
	if netshCurrentCommand != "netsh advfirewall show currentprofile state" {
		t.Errorf("HostFirewall runs %q, want the current profile's state", netshCurrentCommand)
	}
	// The same machine read through allprofiles: on, from profiles not in use.
	if st := parseNetshState(netshAllPublicOff); st.Status != FirewallOn {
		t.Fatalf("fixture: allprofiles reads %q", st.Status)
	}
	for _, tc := range []struct {
		name     string
		out      string
		status   FirewallStatus
		profiles []string
	}{
		{"public in use, off (Domain and Private on, not in use)", netshCurrentPublicOff, FirewallOff, nil},
		{"public in use, on", netshCurrentPublic, FirewallOn, []string{"Public"}},
		{"two profiles in use, one on", netshCurrentTwo, FirewallOn, []string{"Private"}},
		{"an error message", "The requested operation requires elevation (Run as administrator).\r\n", FirewallUnknown, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := parseNetshCurrent(tc.out)
			if st.Status != tc.status || !slices.Equal(st.Profiles, tc.profiles) {
				t.Errorf("status %q, profiles %q; want %q, %q", st.Status, st.Profiles, tc.status, tc.profiles)
			}
			if st.Source != netshCurrentCommand {
				t.Errorf("source %q, want %q", st.Source, netshCurrentCommand)
			}
		})
	}
}
