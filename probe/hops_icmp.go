package probe

import (
	"encoding/binary"
	"net/netip"
)

// ICMPv4 message types a hop probe by echo request sends and reads
// (RFC 792).
const (
	icmpEchoReply    = 0
	icmpUnreachable  = 3
	icmpEchoRequest  = 8
	icmpTimeExceeded = 11
)

// icmpHeaderLen is the ICMP header: type, code, checksum and four bytes
// (identifier and sequence for an echo; unused for an error).
const icmpHeaderLen = 8

// echoAnswer is what an ICMP message read on a hop socket says about an
// echo request sent with a TTL.
type echoAnswer struct {
	// Type is the ICMP type: icmpEchoReply, icmpTimeExceeded or
	// icmpUnreachable.
	Type byte
	// Src is the sender from the message's IPv4 header; zero when the
	// kernel gave the ICMP message without it.
	Src netip.Addr
	// Dst is where the answered request went: the sender for an echo reply,
	// the destination quoted in an error.
	Dst netip.Addr
	// ID and Seq are the answered request's identifier and sequence.
	ID, Seq uint16
}

// newEchoRequest returns an ICMPv4 echo request with its checksum.
func newEchoRequest(id, seq uint16, payload []byte) []byte {
	b := make([]byte, icmpHeaderLen, icmpHeaderLen+len(payload))
	b[0] = icmpEchoRequest
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	b = append(b, payload...)
	binary.BigEndian.PutUint16(b[2:], inetChecksum(b))
	return b
}

// inetChecksum is the Internet checksum of b (RFC 1071).
func inetChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// parseEchoAnswer reads an ICMPv4 message that answers an echo request: an
// echo reply, or a time exceeded or destination unreachable quoting the
// request. The message may start with its IPv4 header (raw sockets, and
// macOS datagram ICMP sockets) or without it. It reports false for
// anything else, such as another program's echo request or an error
// quoting a UDP datagram.
func parseEchoAnswer(b []byte) (echoAnswer, bool) {
	var a echoAnswer
	if ip, ok := ipv4Header(b); ok {
		a.Src = netip.AddrFrom4([4]byte(ip[12:16]))
		b = b[len(ip):]
	}
	if len(b) < icmpHeaderLen {
		return echoAnswer{}, false
	}
	a.Type = b[0]
	switch a.Type {
	case icmpEchoReply:
		if b[1] != 0 {
			return echoAnswer{}, false
		}
		a.Dst = a.Src
		a.ID, a.Seq = binary.BigEndian.Uint16(b[4:]), binary.BigEndian.Uint16(b[6:])
		return a, true
	case icmpTimeExceeded, icmpUnreachable:
		// The error quotes the request's IPv4 header and at least the
		// first 8 bytes of its ICMP header.
		quoted, ok := ipv4Header(b[icmpHeaderLen:])
		const protoICMP = 1
		if !ok || quoted[9] != protoICMP {
			return echoAnswer{}, false
		}
		req := b[icmpHeaderLen+len(quoted):]
		if len(req) < icmpHeaderLen || req[0] != icmpEchoRequest {
			return echoAnswer{}, false
		}
		a.Dst = netip.AddrFrom4([4]byte(quoted[16:20]))
		a.ID, a.Seq = binary.BigEndian.Uint16(req[4:]), binary.BigEndian.Uint16(req[6:])
		return a, true
	}
	return echoAnswer{}, false
}

// ipv4Header returns the IPv4 header b starts with, if it starts with one.
// No ICMP type has 4 in its top four bits and 5 or more below (69 and up
// are unassigned), so a header is told apart from an ICMP message.
func ipv4Header(b []byte) ([]byte, bool) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return nil, false
	}
	n := int(b[0]&0x0f) * 4
	if n < 20 || len(b) < n {
		return nil, false
	}
	return b[:n], true
}
