package probe

import (
	"encoding/binary"
	"net/netip"
)

// IP_STATUS values (ipexport.h) an ICMP_ECHO_REPLY carries.
const (
	ipSuccess             = 0
	ipStatusBase          = 11000
	ipDestNetUnreachable  = 11002
	ipDestHostUnreachable = 11003
	ipDestProtUnreachable = 11004
	ipDestPortUnreachable = 11005
	ipReqTimedOut         = 11010
	ipTTLExpiredTransit   = 11013
	ipTTLExpiredReassem   = 11014
	ipStatusLast          = 11999
)

// echoReplyLen is how much of an ICMP_ECHO_REPLY parseEchoReply reads:
// Address, Status and RoundTripTime, the same in 32- and 64-bit processes
// (the Data pointer after them is not).
const echoReplyLen = 12

// echoReply is the part of a Windows ICMP_ECHO_REPLY that says who
// answered an echo request and how.
type echoReply struct {
	// Addr is the replying address: the target, or the router that
	// dropped the request.
	Addr netip.Addr
	// Status is the IP_STATUS of the answer.
	Status uint32
}

// parseEchoReply reads the ICMP_ECHO_REPLY at the start of an
// IcmpSendEcho2 reply buffer (little-endian, as every Windows machine
// is). It reports false if no one answered: the buffer is short or names
// no address.
func parseEchoReply(b []byte) (echoReply, bool) {
	if len(b) < echoReplyLen {
		return echoReply{}, false
	}
	r := echoReply{
		Addr:   netip.AddrFrom4([4]byte(b[0:4])), // IPAddr: network byte order
		Status: binary.LittleEndian.Uint32(b[4:8]),
	}
	if r.Addr.IsUnspecified() {
		return echoReply{}, false
	}
	return r, true
}

// hop reports what r says about the probe with the given TTL toward
// target, and false if r is no answer to it (timed out, or a local
// failure).
func (r echoReply) hop(ttl int, target netip.Addr) (Hop, bool) {
	h := Hop{TTL: ttl, Addr: r.Addr}
	switch r.Status {
	case ipSuccess:
		h.Target = true
	case ipTTLExpiredTransit, ipTTLExpiredReassem:
	case ipDestNetUnreachable, ipDestHostUnreachable, ipDestProtUnreachable, ipDestPortUnreachable:
		// The target's own host saying unreachable means the probe got
		// there; a router saying it ends the path short of the target.
		h.Target = r.Addr == target
	default:
		return Hop{}, false
	}
	return h, true
}

// isIPStatus reports whether a Windows error code is an IP_STATUS (an
// answer, or no answer, from the network) rather than a failure of the
// call itself.
func isIPStatus(code uint32) bool {
	return code >= ipStatusBase && code <= ipStatusLast
}
