package probe

import (
	"bufio"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// firewallCommandTimeout bounds one run of netsh or socketfilterfw: both
// answer in tens of milliseconds; one that hangs should not hold up the
// verdict.
const firewallCommandTimeout = 3 * time.Second

// FirewallStatus is whether the host firewall filters inbound connections.
type FirewallStatus string

// Host firewall statuses.
const (
	// FirewallUnknown: reach could not read the state (Linux, where it
	// does not look; a command that failed or printed something else).
	FirewallUnknown FirewallStatus = "unknown"
	// FirewallOff: nothing on this host blocks an inbound connection.
	FirewallOff FirewallStatus = "off"
	// FirewallOn: inbound connections to a program are blocked unless the
	// program or port is allowed (Windows Defender Firewall blocks a new
	// program by default; macOS asks the user once per program).
	FirewallOn FirewallStatus = "on"
)

// FirewallState is what the host firewall does to inbound connections, as
// read without admin rights.
type FirewallState struct {
	// Status is on, off or unknown.
	Status FirewallStatus
	// BlockAll reports whether macOS blocks all incoming connections, the
	// programs allowed included: allowing reach does not help until
	// "Block all incoming connections" is turned off.
	BlockAll bool
	// Profiles are the Windows Defender Firewall profiles in use (those
	// of the networks this host is on) that are on ("Domain", "Private",
	// "Public"; the translated names on a Windows not in English); nil
	// elsewhere.
	Profiles []string
	// Source is the command the state was read from; empty if none ran.
	Source string
}

// Commands HostFirewall runs; neither needs admin rights.
const (
	socketfilterfwPath   = "/usr/libexec/ApplicationFirewall/socketfilterfw"
	socketfilterfwSource = socketfilterfwPath + " --getglobalstate --getblockall"
)

// netshStateArgs ask netsh for the state of the firewall profiles in
// force now (those of the networks this host is on) rather than of all
// three: a profile that is on but not in use filters nothing, and one in
// use decides alone what reaches a program.
var netshStateArgs = []string{"advfirewall", "show", "currentprofile", "state"}

// netshStateCommand is the command HostFirewall runs on Windows, as the
// evidence names it.
var netshStateCommand = "netsh " + strings.Join(netshStateArgs, " ")

// parseNetshState reads the output of `netsh advfirewall show
// currentprofile state` (allprofiles has the same shape): per profile a
// "... Profile Settings:" line, a line of dashes and a "State ON" or
// "State OFF" line. The labels are translated on a Windows not in
// English, so profiles are found by that shape, not by their words; a
// state other than ON or OFF leaves the result unknown.
func parseNetshState(out string) FirewallState {
	st := FirewallState{Status: FirewallUnknown, Source: netshStateCommand}
	var profile, prev string
	var seen, unreadable bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			continue
		case strings.Trim(line, "-") == "" && strings.HasSuffix(prev, ":"):
			profile = strings.TrimSuffix(strings.TrimSuffix(prev, ":"), " Profile Settings")
		case profile != "":
			fields := strings.Fields(line)
			switch strings.ToUpper(fields[len(fields)-1]) {
			case "ON":
				st.Profiles = append(st.Profiles, profile)
				seen = true
			case "OFF":
				seen = true
			default:
				unreadable = true
			}
			profile = ""
		}
		prev = line
	}
	switch {
	case !seen || unreadable:
		st.Profiles = nil
	case len(st.Profiles) > 0:
		st.Status = FirewallOn
	default:
		st.Status = FirewallOff
	}
	return st
}

// globalStateRE finds the number in socketfilterfw --getglobalstate's
// "Firewall is enabled. (State = 1)".
var globalStateRE = regexp.MustCompile(`\(State = ([0-9])\)`)

// parseSocketfilterfw reads the outputs of macOS socketfilterfw
// --getglobalstate and --getblockall. The global state is 0 (off), 1 (on)
// or 2 (on, blocking all but essential services). The block-all answer is
// "Block all ENABLED!" before macOS 14 and "Firewall has block all state
// set to enabled." since; an empty or unknown one adds nothing.
func parseSocketfilterfw(globalState, blockAll string) FirewallState {
	st := FirewallState{Status: FirewallUnknown, Source: socketfilterfwSource}
	m := globalStateRE.FindStringSubmatch(globalState)
	switch {
	case m != nil && m[1] == "0":
		st.Status = FirewallOff
	case m != nil && (m[1] == "1" || m[1] == "2"):
		st.Status = FirewallOn
		st.BlockAll = m[1] == "2"
	case strings.Contains(globalState, "Firewall is disabled"):
		st.Status = FirewallOff
	case strings.Contains(globalState, "Firewall is enabled"):
		st.Status = FirewallOn
	default:
		return st
	}
	b := strings.ToLower(blockAll)
	if st.Status == FirewallOn && (strings.Contains(b, "block all enabled") ||
		strings.Contains(b, "block all state set to enabled") ||
		strings.Contains(b, "set to block all non-essential")) {
		st.BlockAll = true
	}
	return st
}

// FirewallAllowHint returns the step that lets inbound connections reach
// a program listening on port (proto "tcp" or "udp"; empty means tcp) on
// the system goos (as runtime.GOOS names it): on Windows the netsh command
// that adds an inbound allow rule for the port (it needs a terminal run as
// administrator); on macOS, whose firewall allows programs rather than
// ports, the setting to change. It returns "" for other systems and for
// another proto.
func FirewallAllowHint(goos string, port uint16, proto string) string {
	proto = strings.ToUpper(proto)
	if proto == "" {
		proto = "TCP"
	}
	if proto != "TCP" && proto != "UDP" {
		return ""
	}
	switch goos {
	case "windows":
		return fmt.Sprintf(`in a terminal run as administrator: netsh advfirewall firewall add rule name="reach %d" dir=in action=allow protocol=%s localport=%d`, port, proto, port)
	case "darwin":
		return "System Settings > Network > Firewall > Options: set the program to \"Allow incoming connections\" (macOS 12 and older: System Preferences > Security & Privacy > Firewall > Firewall Options)"
	}
	return ""
}
