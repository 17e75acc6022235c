package probe

import (
	"runtime"
	"slices"
	"strings"
	"testing"
)

// netsh output as Windows 10 and 11 in English print it (CRLF, a blank
// line first, "Ok." last), written from published captures, not captured
// here.
const (
	netshAllOn = "\r\nDomain Profile Settings:\r\n----------------------------------------------------------------------\r\nState                                 ON\r\n\r\n" +
		"Private Profile Settings:\r\n----------------------------------------------------------------------\r\nState                                 ON\r\n\r\n" +
		"Public Profile Settings:\r\n----------------------------------------------------------------------\r\nState                                 ON\r\nOk.\r\n\r\n"
	netshPublicOnly = "\r\nDomain Profile Settings:\r\n----------------------------------------------------------------------\r\nState                                 OFF\r\n\r\n" +
		"Private Profile Settings:\r\n----------------------------------------------------------------------\r\nState                                 OFF\r\n\r\n" +
		"Public Profile Settings:\r\n----------------------------------------------------------------------\r\nState                                 ON\r\nOk.\r\n\r\n"
	netshAllOff = "\r\nDomain Profile Settings:\r\n----------------------------------------------------------------------\r\nState                                 OFF\r\n\r\n" +
		"Private Profile Settings:\r\n----------------------------------------------------------------------\r\nState                                 OFF\r\n\r\n" +
		"Public Profile Settings:\r\n----------------------------------------------------------------------\r\nState                                 OFF\r\nOk.\r\n\r\n"
	// `netsh advfirewall show allprofiles` without "state": more lines per
	// profile after the state.
	netshAllProfilesFull = "\r\nDomain Profile Settings:\r\n----------------------------------------------------------------------\r\nState                                 OFF\r\nFirewall Policy                       BlockInbound,AllowOutbound\r\nLocalFirewallRules                    N/A (GPO-store only)\r\nInboundUserNotification               Disable\r\n\r\nLogging:\r\nLogAllowedConnections                 Disable\r\nFileName                              %systemroot%\\system32\\LogFiles\\Firewall\\pfirewall.log\r\n\r\n" +
		"Private Profile Settings:\r\n----------------------------------------------------------------------\r\nState                                 ON\r\nFirewall Policy                       BlockInbound,AllowOutbound\r\n\r\nLogging:\r\nMaxFileSize                           4096\r\n\r\nOk.\r\n"
	// `netsh advfirewall show currentprofile state` on a network Windows
	// calls public.
	netshCurrentPublic = "\r\nPublic Profile Settings:\r\n----------------------------------------------------------------------\r\nState                                 ON\r\nOk.\r\n\r\n"
)

func TestParseNetshState(t *testing.T) {
	for _, tc := range []struct {
		name     string
		out      string
		status   FirewallStatus
		profiles []string
	}{
		{"all profiles on (the default)", netshAllOn, FirewallOn, []string{"Domain", "Private", "Public"}},
		{"only public on", netshPublicOnly, FirewallOn, []string{"Public"}},
		{"all off", netshAllOff, FirewallOff, nil},
		{"the full allprofiles listing", netshAllProfilesFull, FirewallOn, []string{"Private"}},
		{"currentprofile", netshCurrentPublic, FirewallOn, []string{"Public"}},
		{"LF line ends", strings.ReplaceAll(netshPublicOnly, "\r\n", "\n"), FirewallOn, []string{"Public"}},
		// Constructed, not captured: labels translated, the value kept.
		{"translated labels", "\r\nÖffentliches Profil:\r\n-------------------\r\nStatus    ON\r\nOk.\r\n", FirewallOn, []string{"Öffentliches Profil"}},
		// Constructed: a value reach cannot read makes the whole answer
		// unknown rather than half read.
		{"translated value", "\r\nDomain Profile Settings:\r\n-----\r\nState    OFF\r\n\r\nPublic Profile Settings:\r\n-----\r\nStatus    EIN\r\nOk.\r\n", FirewallUnknown, nil},
		{"empty", "", FirewallUnknown, nil},
		{"an error message", "The requested operation requires elevation (Run as administrator).\r\n", FirewallUnknown, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := parseNetshState(tc.out)
			if st.Status != tc.status || !slices.Equal(st.Profiles, tc.profiles) {
				t.Errorf("status %q, profiles %q; want %q, %q", st.Status, st.Profiles, tc.status, tc.profiles)
			}
			if st.Source != netshStateCommand {
				t.Errorf("source %q", st.Source)
			}
		})
	}
}

// socketfilterfw's answers, from published captures of macOS 10.x to 15
// (not captured here).
func TestParseSocketfilterfw(t *testing.T) {
	for _, tc := range []struct {
		name             string
		global, blockAll string
		status           FirewallStatus
		blockAllWant     bool
	}{
		{"off (the default)", "Firewall is disabled. (State = 0)\n", "Firewall has block all state set to disabled.\n", FirewallOff, false},
		{"on", "Firewall is enabled. (State = 1)\n", "Firewall has block all state set to disabled.\n", FirewallOn, false},
		{"on, block all (macOS 14+)", "Firewall is enabled. (State = 1)\n", "Firewall has block all state set to enabled.\n", FirewallOn, true},
		{"on, block all (older macOS)", "Firewall is enabled. (State = 1)\n", "Block all ENABLED! \n", FirewallOn, true},
		{"on, block all off (older macOS)", "Firewall is enabled. (State = 1)\n", "Block all DISABLED! \n", FirewallOn, false},
		{"essential services only", "Firewall is blocking all non-essential incoming connections. (State = 2)\n", "", FirewallOn, true},
		{"block all set, firewall off: nothing blocked", "Firewall is disabled. (State = 0)\n", "Firewall has block all state set to enabled.\n", FirewallOff, false},
		{"block-all unreadable", "Firewall is enabled. (State = 1)\n", "", FirewallOn, false},
		{"no state number", "Firewall is enabled.\n", "", FirewallOn, false},
		{"unknown", "socketfilterfw: unrecognized option\n", "", FirewallUnknown, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := parseSocketfilterfw(tc.global, tc.blockAll)
			if st.Status != tc.status || st.BlockAll != tc.blockAllWant {
				t.Errorf("status %q, block all %v; want %q, %v", st.Status, st.BlockAll, tc.status, tc.blockAllWant)
			}
		})
	}
}

func TestFirewallAllowHint(t *testing.T) {
	for _, tc := range []struct {
		goos  string
		port  uint16
		proto string
		want  string
	}{
		{"windows", 1234, "tcp", `netsh advfirewall firewall add rule name="reach 1234" dir=in action=allow protocol=TCP localport=1234`},
		{"windows", 25565, "udp", `netsh advfirewall firewall add rule name="reach 25565" dir=in action=allow protocol=UDP localport=25565`},
		{"windows", 8080, "", `protocol=TCP localport=8080`},
		{"darwin", 1234, "tcp", "System Settings > Network > Firewall > Options"},
	} {
		if got := FirewallAllowHint(tc.goos, tc.port, tc.proto); !strings.Contains(got, tc.want) {
			t.Errorf("FirewallAllowHint(%q, %d, %q) = %q, want it to contain %q", tc.goos, tc.port, tc.proto, got, tc.want)
		}
	}
	if got := FirewallAllowHint("windows", 1234, "tcp"); !strings.Contains(got, "administrator") {
		t.Errorf("windows hint %q does not say the command needs an administrator", got)
	}
	for _, tc := range []struct{ goos, proto string }{{"linux", "tcp"}, {"windows", "sctp"}} {
		if got := FirewallAllowHint(tc.goos, 1234, tc.proto); got != "" {
			t.Errorf("FirewallAllowHint(%q, 1234, %q) = %q, want none", tc.goos, tc.proto, got)
		}
	}
}

func TestHostFirewallUnknownOnLinux(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" {
		t.Skip("HostFirewall reads the firewall on this system")
	}
	st, err := HostFirewall(t.Context())
	if err != nil || st.Status != FirewallUnknown || st.Source != "" {
		t.Errorf("HostFirewall = %+v, %v; want unknown without running anything", st, err)
	}
}
