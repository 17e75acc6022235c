package probe

import (
	"net/netip"
	"testing"
)

// ICMP_ECHO_REPLY fixtures in a 64-bit process's layout (ipexport.h:
// Address, Status, RoundTripTime, DataSize, Reserved, 4 bytes of padding,
// the Data pointer and IP_OPTION_INFORMATION), written from the header
// and the documented IP_STATUS values, not captured on a Windows machine.
const (
	// TTL 1 expired at the home router 192.168.1.1 after 1 ms.
	echoReplyTTLExpired = "c0a80101" + "052b0000" + "01000000" + "0800" + "0000" + "00000000" +
		"5004f2a3d9010000" + "40000000" + "00000000" + "0000000000000000"
	// The target 11.0.0.1 answered in 23 ms, echoing 15 bytes.
	echoReplySuccess = "0b000001" + "00000000" + "17000000" + "0f00" + "0000" + "00000000" +
		"5004f2a3d9010000" + "36000000" + "00000000" + "0000000000000000"
	// The carrier router 100.64.0.1 has no route on.
	echoReplyNetUnreachable = "64400001" + "fa2a0000" + "0c000000" + "0800" + "0000" + "00000000" +
		"5004f2a3d9010000" + "3e000000" + "00000000" + "0000000000000000"
	// The target's own host refused.
	echoReplyPortUnreachable = "0b000001" + "fd2a0000" + "17000000" + "0800" + "0000" + "00000000" +
		"5004f2a3d9010000" + "3e000000" + "00000000" + "0000000000000000"
	// No answer within the timeout.
	echoReplyTimedOut = "00000000" + "022b0000" + "00000000" + "0000" + "0000" + "00000000" +
		"0000000000000000" + "00000000" + "00000000" + "0000000000000000"
	// A reply from a router with a status reach does not read as a hop
	// (IP_SOURCE_QUENCH).
	echoReplySourceQuench = "c0a80101" + "082b0000" + "01000000" + "0800" + "0000" + "00000000" +
		"5004f2a3d9010000" + "40000000" + "00000000" + "0000000000000000"
)

func TestEchoReplyHop(t *testing.T) {
	ip := netip.MustParseAddr
	target := ip("11.0.0.1")
	for _, tc := range []struct {
		name    string
		fixture string
		ttl     int
		want    Hop
		ok      bool
	}{
		{"ttl expired at the home router", echoReplyTTLExpired, 1, Hop{TTL: 1, Addr: ip("192.168.1.1")}, true},
		{"the target answers", echoReplySuccess, 3, Hop{TTL: 3, Addr: target, Target: true}, true},
		{"a router has no route", echoReplyNetUnreachable, 2, Hop{TTL: 2, Addr: ip("100.64.0.1")}, true},
		{"the target's host refuses", echoReplyPortUnreachable, 3, Hop{TTL: 3, Addr: target, Target: true}, true},
		{"timed out", echoReplyTimedOut, 2, Hop{}, false},
		{"source quench", echoReplySourceQuench, 1, Hop{}, false},
		{"an untouched buffer", "0000000000000000000000000000000000000000", 1, Hop{}, false},
		{"a 32-bit process's reply is read the same", echoReplyTTLExpired[:28*2], 1, Hop{TTL: 1, Addr: ip("192.168.1.1")}, true},
		{"short", echoReplyTTLExpired[:11*2], 1, Hop{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got Hop
			r, ok := parseEchoReply(unhex(t, tc.fixture))
			if ok {
				got, ok = r.hop(tc.ttl, target)
			}
			if ok != tc.ok || got != tc.want {
				t.Errorf("hop %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestIsIPStatus(t *testing.T) {
	for code, want := range map[uint32]bool{
		ipReqTimedOut:       true,
		ipTTLExpiredTransit: true,
		11050:               true,  // IP_GENERAL_FAILURE
		87:                  false, // ERROR_INVALID_PARAMETER: the call was wrong
		122:                 false, // ERROR_INSUFFICIENT_BUFFER
	} {
		if got := isIPStatus(code); got != want {
			t.Errorf("isIPStatus(%d) = %v, want %v", code, got, want)
		}
	}
}
