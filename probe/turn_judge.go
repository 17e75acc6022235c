package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/pion/stun/v3"
)

// viaPhase is the step of a check through a relay.
type viaPhase int

const (
	phaseDial        viaPhase = iota // connecting to the TURN server
	phaseAllocate                    // asking for a relayed address
	phaseRelayFamily                 // the relayed address came, of the other family than the target's
	phasePermission                  // allowing the target as a peer
	phaseConnect                     // TCP: the relay connecting to the target
	phaseBind                        // TCP: joining our data connection to the relay's
	phaseEcho                        // the probe's round trip
)

// peerQuickFail separates a refused connection from a timed-out one when
// the relay only says "447 Connection Timeout or Failure": a refusal comes
// back within a round trip, a relay's connect timeout takes seconds.
const peerQuickFail = time.Second

// viaEvidence is what a check through a relay saw where it stopped.
type viaEvidence struct {
	phase   viaPhase
	srv     TURNServer
	network string                  // "tcp4", "tcp6", "udp4" or "udp6": to the TURN server
	asked   relayFamily             // the REQUESTED-ADDRESS-FAMILY sent in the Allocate
	code    stun.ErrorCodeAttribute // the TURN error for this phase's request; Code 0 if none
	refused bool                    // the server answered this phase's request with an error (with or without a code)
	heard   bool                    // the TURN server answered anything
	connErr error                   // what ended the control connection, if it ended
	err     error                   // the error that stopped the step
	ctx     error                   // the check's context error when it stopped
	timeout time.Duration           // the check's bound
	waited  time.Duration           // time spent in this phase
	tcp     answer                  // phaseEcho over TCP
	udp     udpAnswer               // phaseEcho over UDP
	port    string
	max     int // MaxFrame
}

// judgeVia turns where a check through a relay stopped into its result.
// It is a pure function of the evidence.
func judgeVia(res ViaResult, ev viaEvidence) ViaResult {
	res.Err = ev.err
	res.Code = int(ev.code.Code)
	server, target := ev.srv.Addr(), res.Target.String()
	over := "UDP"
	if isTCP(ev.network) {
		over = "TCP"
	}
	if errors.Is(ev.ctx, context.Canceled) {
		res.Failure, res.Verdict = ViaCanceled, ""
		res.Detail = "check canceled"
		return res
	}
	if ev.phase == phaseRelayFamily || familyRefused(ev.code.Code, ev.phase, ev.asked) {
		return judgeFamily(res, ev, server)
	}
	deadline := ev.ctx != nil
	switch ev.phase {
	case phaseDial:
		res.Failure = ViaTURNUnreachable
		res.Detail = fmt.Sprintf("no connection to the TURN server %s: %v", server, ev.err)
		var dnsErr *net.DNSError
		switch {
		case errors.As(ev.err, &dnsErr) && !dnsErr.IsTimeout:
			res.Cause = "the TURN server's name does not resolve"
		case errors.Is(ev.err, syscall.ECONNREFUSED):
			res.Cause = fmt.Sprintf("nothing listens on %s port %d there: a wrong address or port, or the server is down", over, ev.srv.Port)
		case deadline || isTimeout(ev.err):
			res.Detail = fmt.Sprintf("no connection to the TURN server %s within %s", server, ev.timeout)
			res.Cause = "the server is down, the address is wrong, or a firewall on the way drops the packets"
		default:
			res.Cause = "the TURN server cannot be reached from here"
		}
	case phaseAllocate:
		return judgeAllocate(res, ev, server, over, deadline)
	case phasePermission:
		// Refusing a permission is refusing the peer: RFC 8656 says 403,
		// some servers (pion's) send an error without a code.
		switch {
		case ev.code.Code == stun.CodeForbidden || ev.refused && ev.code.Code == 0:
			res.Failure = ViaPeerForbidden
			res.Detail = fmt.Sprintf("the relay refused %s as a peer (%s)", res.Target.Addr(), codeText(ev.code))
			res.Cause = "the relay's policy does not allow that address (relays often refuse private, loopback or their own addresses)"
		default:
			res = turnStopped(res, ev, "the permission for "+res.Target.Addr().String(), deadline)
		}
	case phaseConnect:
		switch {
		case ev.code.Code == stun.CodeForbidden:
			res.Failure = ViaPeerForbidden
			res.Detail = fmt.Sprintf("the relay refused to connect to %s (%s)", target, codeText(ev.code))
			res.Cause = "the relay's policy does not allow that address or port"
		case ev.code.Code == stun.CodeConnTimeoutOrFailure && ev.waited < peerQuickFail:
			res.Failure, res.Verdict = ViaPeerRefused, Refused
			res.Detail = fmt.Sprintf("the relay's TCP connection to %s failed after %s (TURN 447: %s)", target, ev.waited.Round(time.Millisecond), reason(ev.code))
			res.Cause = "the connection was refused or reported unreachable: the router does not forward the port, or nothing listens on it"
		case ev.code.Code == stun.CodeConnTimeoutOrFailure, ev.code.Code == 0 && deadline:
			res.Failure, res.Verdict = ViaPeerTimeout, Timeout
			res.Detail = fmt.Sprintf("the relay's TCP connection to %s got no answer within %s", target, ev.waited.Round(time.Millisecond))
			if ev.code.Code != 0 {
				res.Detail += fmt.Sprintf(" (TURN 447: %s)", reason(ev.code))
			}
			res.Cause = "a firewall drops the packets, or the router does not forward the port and drops them"
		default:
			res = turnStopped(res, ev, "the connection to "+target, deadline)
		}
	case phaseBind:
		// The relay's Connect succeeded: its TCP connection to the target is up.
		res.Failure, res.Verdict = ViaTURNError, Open
		res.Detail = fmt.Sprintf("the relay connected to %s, then failed to join our data connection to it: %v", target, ev.err)
		res.Cause = "the TURN server refused or dropped the second connection; the port is open, the echo unchecked"
	case phaseEcho:
		if isTCP(ev.network) {
			out := noEcho(CheckResult{}, ev.tcp, ev.port, ev.max)
			res.Failure, res.Verdict, res.Peer = ViaNoEcho, out.Verdict, out.Peer
			res.Detail = "through the relay: " + out.Detail
			res.Cause = out.Cause
			if out.Verdict == Timeout { // canceled, in noEcho's words
				res.Failure, res.Verdict = ViaCanceled, ""
			}
			return res
		}
		return judgeUDPEcho(res, ev, target)
	}
	return res
}

// judgeAllocate explains a failed allocation.
func judgeAllocate(res ViaResult, ev viaEvidence, server, over string, deadline bool) ViaResult {
	switch code := ev.code.Code; {
	case code == stun.CodeUnauthorized || code == stun.CodeWrongCredentials:
		res.Failure = ViaAuthRefused
		res.Detail = fmt.Sprintf("the TURN server %s refused the credentials of user %q (%d %s)", server, ev.srv.User, code, reason(ev.code))
		res.Cause = "a wrong user or password, or credentials that expired (servers that hand out time-limited ones)"
	case code == stun.CodeUnsupportedTransProto && isTCP(ev.network):
		res.Failure = ViaTCPUnsupported
		res.Detail = fmt.Sprintf("the TURN server %s does not relay TCP (442 %s): it cannot check a TCP port", server, reason(ev.code))
		res.Cause = "many TURN servers relay UDP only; a UDP port can still be checked through this one"
	case code != 0:
		res.Failure = ViaTURNError
		res.Detail = fmt.Sprintf("the TURN server %s refused the allocation (%d %s)", server, code, reason(ev.code))
		res.Cause = "the server's own limits or policy (a quota, its capacity, this client's address)"
	case errors.Is(ev.connErr, syscall.ECONNREFUSED):
		res.Failure = ViaTURNUnreachable
		res.Detail = fmt.Sprintf("ICMP port unreachable from %s: no TURN server listens on UDP port %d there", server, ev.srv.Port)
		res.Cause = "a wrong address or port, or the server is down"
	case ev.connErr != nil && !ev.heard:
		res.Failure = ViaTURNUnreachable
		res.Detail = fmt.Sprintf("the TURN server %s closed the connection without answering (%v)", server, ev.connErr)
		res.Cause = "the program on that port is not a TURN server, or it refuses this client"
	case !ev.heard:
		res.Failure = ViaTURNUnreachable
		res.Detail = fmt.Sprintf("no answer from the TURN server %s over %s within %s", server, over, ev.timeout)
		res.Cause = "the server is down, the address or port is wrong, or a firewall on the way drops the packets"
	default:
		return turnStopped(res, ev, "the allocation", deadline)
	}
	return res
}

// turnStopped explains a TURN request that failed without a usable code.
func turnStopped(res ViaResult, ev viaEvidence, what string, deadline bool) ViaResult {
	res.Failure = ViaTURNError
	switch {
	case ev.code.Code != 0:
		res.Detail = fmt.Sprintf("the TURN server refused %s (%d %s)", what, ev.code.Code, reason(ev.code))
		res.Cause = "the server's own policy or limits"
	case ev.connErr != nil:
		res.Detail = fmt.Sprintf("the connection to the TURN server ended during %s (%v)", what, ev.connErr)
		res.Cause = "the server closed it, or the network between here and the server dropped it"
	case deadline:
		res.Detail = fmt.Sprintf("the TURN server stopped answering during %s (%s bound)", what, ev.timeout)
		res.Cause = "the server is overloaded, or the path to it loses packets"
	default:
		res.Detail = fmt.Sprintf("the TURN server's answer to %s was not usable: %v", what, ev.err)
		res.Cause = "a TURN server this client does not understand"
	}
	return res
}

// judgeUDPEcho explains a UDP probe sent from the relay with no echo.
func judgeUDPEcho(res ViaResult, ev viaEvidence, target string) ViaResult {
	switch a := ev.udp; {
	case len(a.other) > 0:
		res.Failure, res.Verdict = ViaNoEcho, Open
		var what string
		res.Peer, what = describeReply(a.other, ev.max)
		res.Detail = fmt.Sprintf("through the relay, %s answered, but not with our echo: %s", target, what)
		res.Cause = "a program receives UDP on the port and answers, but is not a reach server"
	default:
		res.Failure, res.Verdict = ViaNoEcho, NoAnswer
		res.Detail = fmt.Sprintf("the relay sent %d UDP probes to %s; no echo came back within %s; silence proves nothing by itself",
			a.sent, target, a.waited.Round(time.Millisecond))
		res.Cause = "the router does not forward the UDP port, a firewall drops it, or the program there does not echo"
	}
	return res
}

// codeText is "403 Forbidden", or says the server gave no code.
func codeText(c stun.ErrorCodeAttribute) string {
	if c.Code == 0 {
		return "an error response without a code"
	}
	return fmt.Sprintf("%d %s", c.Code, reason(c))
}

// reason is the error's reason phrase, or the standard one for its code.
// Control bytes are dropped: some servers (coturn) pad the phrase with
// NULs, which would reach the user's terminal and JSON.
func reason(c stun.ErrorCodeAttribute) string {
	if r := strings.TrimSpace(strings.Map(dropControl, string(c.Reason))); r != "" {
		return r
	}
	switch c.Code {
	case stun.CodeUnauthorized:
		return "Unauthorized"
	case stun.CodeForbidden:
		return "Forbidden"
	case stun.CodeUnsupportedTransProto:
		return "Unsupported Transport Protocol"
	case stun.CodeConnTimeoutOrFailure:
		return "Connection Timeout or Failure"
	case stun.CodeUnknownAttribute:
		return "Unknown Attribute"
	case stun.CodeAddrFamilyNotSupported:
		return "Address Family not Supported"
	case stun.CodePeerAddrFamilyMismatch:
		return "Peer Address Family Mismatch"
	}
	return "error"
}

// dropControl drops a control character, for strings.Map.
func dropControl(r rune) rune {
	if unicode.IsControl(r) {
		return -1
	}
	return r
}
