package probe

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// DefaultViaTimeout bounds a whole check through a TURN relay: an
// allocation takes two round trips to the server, a permission and a
// Connect one each, the probe one through the relay; on any usable path
// they fit in 2 s, and a person is waiting.
const DefaultViaTimeout = 2 * time.Second

// ViaFailure says where a check through a TURN relay stopped; empty when
// the probe's echo came back.
type ViaFailure string

// The failures of a check through a TURN relay. The first seven are the
// relay's side (RelaySide): they say nothing about the target.
const (
	// ViaTURNUnreachable: no connection to, or no answer from, the TURN server.
	ViaTURNUnreachable ViaFailure = "turn-unreachable"
	// ViaAuthRefused: the TURN server refused the credentials (401).
	ViaAuthRefused ViaFailure = "turn-auth"
	// ViaPeerForbidden: the relay's policy does not allow the target's
	// address as a peer (403).
	ViaPeerForbidden ViaFailure = "peer-forbidden"
	// ViaTCPUnsupported: the TURN server relays UDP only (442 on a TCP
	// allocation); a UDP port can still be checked through it.
	ViaTCPUnsupported ViaFailure = "tcp-relay-unsupported"
	// ViaFamilyUnsupported: the relay has no relayed address of the
	// target's family (440 on the Allocate, 443, or an address of the
	// other family): most often a relay without IPv6 asked to reach an
	// IPv6 target (RFC 6156).
	ViaFamilyUnsupported ViaFailure = "relay-family-unsupported"
	// ViaTURNError: any other refusal or failure of the TURN server
	// (quota 486, capacity 508, a server that stopped answering).
	ViaTURNError ViaFailure = "turn-error"
	// ViaCanceled: the caller canceled the check.
	ViaCanceled ViaFailure = "canceled"

	// ViaPeerTimeout: the relay's TCP connection to the target got no
	// answer in time.
	ViaPeerTimeout ViaFailure = "peer-timeout"
	// ViaPeerRefused: the relay's TCP connection to the target failed at
	// once (TURN 447): refused, or reported unreachable.
	ViaPeerRefused ViaFailure = "peer-refused"
	// ViaNoEcho: the relay reached the target (TCP connected, or UDP
	// datagrams sent) and no echo of the probe came back.
	ViaNoEcho ViaFailure = "no-echo"
)

// RelaySide reports whether the failure is the relay's own rather than the
// target's. The check then learned nothing about the target (an empty
// Verdict), except when the relay's TCP connection to it was up before
// the relay failed (Open).
func (f ViaFailure) RelaySide() bool {
	switch f {
	case ViaTURNUnreachable, ViaAuthRefused, ViaPeerForbidden, ViaTCPUnsupported, ViaFamilyUnsupported, ViaTURNError, ViaCanceled:
		return true
	}
	return false
}

// ViaConfig configures CheckVia.
type ViaConfig struct {
	Timeout  time.Duration // the whole check; zero means DefaultViaTimeout
	MaxFrame int           // as CheckConfig.MaxFrame
	// Dial opens the connections to the TURN server, with network "tcp4",
	// "tcp6", "udp4" or "udp6" (the family of the server's address: a
	// name with an IPv4 address is reached over IPv4); nil means a
	// net.Dialer. Tests inject one.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// ViaResult is the outcome of CheckVia, with its evidence.
type ViaResult struct {
	Relay  string         // the TURN server, as TURNServer.String (no password)
	Target netip.AddrPort // the address the relay was asked to reach
	Proto  string         // "tcp" or "udp"
	// Verdict is about the target, as the relay saw it: Verified; for TCP
	// Open or Reset (connected, no echo), Refused or Timeout (the relay's
	// connection failed); for UDP Open (another reply) or NoAnswer. Empty
	// when the relay could not run the check (Failure.RelaySide()), Open
	// when it failed after connecting to the target.
	Verdict Verdict
	Failure ViaFailure    // empty when verified
	Code    int           // the TURN error code behind Failure (401, 403, 442, 447, ...); zero if none came
	RTT     time.Duration // the probe's round trip through the relay, when verified
	// RelayAddr is the relay's own address toward the target (its
	// allocation); invalid when no allocation was made.
	RelayAddr netip.AddrPort
	Peer      string // as CheckResult.Peer: what answered, when the relay reached the target
	Detail    string // one line of evidence
	Cause     string // the likely causes in plain words, several when the evidence fits several; empty when verified
	Err       error  // the raw error chain, for --verbose and JSON; nil when verified
}

// Verified reports whether the probe's echo came back through the relay.
func (r ViaResult) Verified() bool { return r.Verdict == Verified }

// CheckVia has the TURN server srv reach target from outside and proves by
// a round trip that a reach server answers there: for proto "tcp" a TCP
// allocation and a Connect to the target (RFC 6062), the probe frame sent
// and its echo read on the relayed connection; for "udp" a UDP allocation
// and the probe datagram sent from the relay (resent like CheckUDP), the
// echo read back through it. The target may be IPv4 or IPv6: for an IPv6
// target reach asks the relay for an IPv6 relayed address (RFC 8656
// REQUESTED-ADDRESS-FAMILY), and a relay that has none fails on its own
// side (ViaFamilyUnsupported); the TURN server itself may be reached over
// either family. Each failure is told apart (see ViaFailure).
// The whole check ends within cfg.Timeout, and the allocation is released
// before CheckVia returns. pion's client takes no context: on ctx's end its
// transactions are closed and every read is given a deadline of now.
func CheckVia(ctx context.Context, srv TURNServer, target netip.AddrPort, proto string, cfg ViaConfig) ViaResult {
	target = netip.AddrPortFrom(target.Addr().Unmap(), target.Port())
	res := ViaResult{Relay: srv.String(), Target: target, Proto: proto}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultViaTimeout
	}
	switch {
	case proto != "tcp" && proto != "udp":
		res.Failure = ViaTURNError
		res.Detail = fmt.Sprintf("protocol %q: a relay checks \"tcp\" or \"udp\"", proto)
		res.Err = fmt.Errorf("probe: check via %s: protocol %q", srv, proto)
		return res
	case !target.Addr().IsValid() || target.Addr().IsUnspecified() || target.Port() == 0:
		res.Failure = ViaTURNError
		res.Detail = fmt.Sprintf("%s is not an address and port a relay can reach", target)
		res.Err = fmt.Errorf("probe: check via %s: target %s is not an address and port", srv, target)
		return res
	case target.Addr().Zone() != "":
		// A zone names an interface of this host: the address is
		// link-local, out of any relay's reach.
		res.Failure = ViaTURNError
		res.Detail = fmt.Sprintf("%s is a link-local address of this network: a relay outside cannot reach it; check the global address", target)
		res.Err = fmt.Errorf("probe: check via %s: target %s has a zone", srv, target)
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	network, err := serverNetwork(ctx, proto, srv.Host)
	var s *viaSession
	if err == nil {
		s, err = openVia(ctx, srv, network, target, cfg)
	}
	if err != nil {
		return judgeVia(res, viaEvidence{phase: phaseDial, err: err, ctx: ctx.Err(), timeout: timeout, srv: srv, network: network})
	}
	defer s.release()
	if proto == "tcp" {
		return s.checkTCP(ctx, res, timeout, cfg)
	}
	return s.checkUDP(ctx, res, timeout, cfg)
}
