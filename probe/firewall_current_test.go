package probe

import (
	"reflect"
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
	if netshStateCommand != "netsh advfirewall show currentprofile state" {
		t.Errorf("HostFirewall runs %q, want the current profile's state", netshStateCommand)
	}
	// The same machine read through allprofiles: on, from profiles not in use.
	if st := parseNetshState(netshAllPublicOff); st.Status != FirewallOn {
		t.Fatalf("fixture: allprofiles reads %q", st.Status)
	}
	on := func(profiles ...string) FirewallState {
		return FirewallState{Status: FirewallOn, Profiles: profiles, Source: netshStateCommand}
	}
	for name, tc := range map[string]struct {
		out  string
		want FirewallState
	}{
		"public in use, off (Domain and Private on, not in use)": {netshCurrentPublicOff, FirewallState{Status: FirewallOff, Source: netshStateCommand}},
		"public in use, on":           {netshCurrentPublic, on("Public")},
		"two profiles in use, one on": {netshCurrentTwo, on("Private")},
		"an error message":            {"The requested operation requires elevation (Run as administrator).\r\n", FirewallState{Status: FirewallUnknown, Source: netshStateCommand}},
	} {
		if got := parseNetshState(tc.out); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", name, got, tc.want)
		}
	}
}
