package upnp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// PCP message layout (RFC 6887). All integers are big-endian.
//
//	request header (24):  version(1)=2 R|opcode(1) reserved(2) lifetime(4)
//	                      client IP(16, IPv4-mapped IPv6)
//	response header (24): version(1)=2 R|opcode(1) reserved(1) result(1)
//	                      lifetime(4) epoch(4) reserved(12)
//	MAP payload (36):     nonce(12) protocol(1) reserved(3) internal port(2)
//	                      external port(2) external IP(16)
//
// Options may follow the payload (4-byte aligned); reach sends none and
// skips those it gets.
const (
	pcpVersion      = 2
	pcpOpAnnounce   = 0
	pcpOpMap        = 1
	pcpReplyFlag    = 0x80
	pcpHeaderLen    = 24
	pcpMapLen       = 36
	pcpMaxLen       = 1100
	pcpNonceLen     = 12
	pcpProtoTCP     = 6
	pcpProtoUDP     = 17
	natpmpOnlyReply = 0 // version byte of a NAT-PMP server's reply
)

// PCPCode is a PCP result code (RFC 6887 section 7.4).
type PCPCode uint8

// The PCP result codes.
const (
	PCPSuccess               PCPCode = 0
	PCPUnsuppVersion         PCPCode = 1
	PCPNotAuthorized         PCPCode = 2
	PCPMalformedRequest      PCPCode = 3
	PCPUnsuppOpcode          PCPCode = 4
	PCPUnsuppOption          PCPCode = 5
	PCPMalformedOption       PCPCode = 6
	PCPNetworkFailure        PCPCode = 7
	PCPNoResources           PCPCode = 8
	PCPUnsuppProtocol        PCPCode = 9
	PCPUserExQuota           PCPCode = 10
	PCPCannotProvideExternal PCPCode = 11
	PCPAddressMismatch       PCPCode = 12
	PCPExcessiveRemotePeers  PCPCode = 13
)

// PCPError is a non-zero result code in a PCP reply. Advice says, in plain
// words, what it means for the user.
type PCPError struct {
	Code PCPCode
}

// Error says what the router answered and what it means; callers wrap it
// with the request and the gateway.
func (e *PCPError) Error() string {
	return fmt.Sprintf("router answered PCP result %d (%s)", e.Code, e.Code)
}

var pcpCodeNames = [...]string{"SUCCESS", "UNSUPP_VERSION", "NOT_AUTHORIZED", "MALFORMED_REQUEST",
	"UNSUPP_OPCODE", "UNSUPP_OPTION", "MALFORMED_OPTION", "NETWORK_FAILURE", "NO_RESOURCES",
	"UNSUPP_PROTOCOL", "USER_EX_QUOTA", "CANNOT_PROVIDE_EXTERNAL", "ADDRESS_MISMATCH",
	"EXCESSIVE_REMOTE_PEERS"}

// String is the code's name in RFC 6887, e.g. "NO_RESOURCES".
func (c PCPCode) String() string {
	if int(c) < len(pcpCodeNames) {
		return pcpCodeNames[c]
	}
	return fmt.Sprintf("code %d", uint8(c))
}

// Advice tells what the result code means and what to do about it.
func (e *PCPError) Advice() string {
	switch e.Code {
	case PCPUnsuppVersion:
		return "the router does not speak PCP version 2 (it may speak only NAT-PMP: use that)"
	case PCPNotAuthorized:
		return "the router refuses: PCP is disabled or restricted in its settings, or the mapping belongs to another client"
	case PCPMalformedRequest, PCPMalformedOption:
		return "the router could not parse the request (a bug in the router or in reach)"
	case PCPUnsuppOpcode, PCPUnsuppOption:
		return "the router does not support this PCP request"
	case PCPNetworkFailure:
		return "the router has no external address: it is not connected, or sits behind another NAT"
	case PCPNoResources:
		return "the router could not make the mapping: its table is full (remove unused port forwards), or it has no usable external address (miniupnpd answers so when another NAT is in front of it)"
	case PCPUnsuppProtocol:
		return "the router cannot map this protocol"
	case PCPUserExQuota:
		return "this host has reached the router's limit of mappings: remove some"
	case PCPCannotProvideExternal:
		return "the router cannot give the requested external port or address: try another external port"
	case PCPAddressMismatch:
		return "the router sees this host under another address: another NAT sits between this host and the router"
	case PCPExcessiveRemotePeers:
		return "the router refused: too many remote peers"
	}
	return "unknown result code"
}

// errPCPMalformed is wrapped by every error about a reply that could not be
// a PCP reply to our request; such replies are ignored, not fatal.
var errPCPMalformed = errors.New("malformed pcp reply")

// pcpMapRequest is what a MAP request asks for.
type pcpMapRequest struct {
	Nonce        [pcpNonceLen]byte
	Protocol     byte // pcpProtoTCP or pcpProtoUDP
	InternalPort uint16
	ExternalPort uint16     // suggested; zero lets the router pick
	ExternalIP   netip.Addr // suggested; zero lets the router pick
	Lifetime     uint32     // seconds; zero deletes
}

// pcpReply is a parsed PCP response.
type pcpReply struct {
	Opcode   byte
	Lifetime time.Duration
	Epoch    uint32
	// The MAP payload, for opcode MAP.
	Nonce        [pcpNonceLen]byte
	Protocol     byte
	InternalPort uint16
	ExternalPort uint16
	ExternalIP   netip.Addr
}

// pcpProto returns the IANA protocol number of proto.
func pcpProto(proto Protocol) (byte, error) {
	switch proto {
	case TCP:
		return pcpProtoTCP, nil
	case UDP:
		return pcpProtoUDP, nil
	}
	return 0, fmt.Errorf("upnp: pcp: protocol %q is neither %q nor %q", proto, TCP, UDP)
}

// pcpHeader writes a request header for opcode op into b[:24].
func pcpHeader(b []byte, op byte, lifetime uint32, client netip.Addr) {
	b[0] = pcpVersion
	b[1] = op
	binary.BigEndian.PutUint32(b[4:], lifetime)
	ip := client.As16() // IPv4 as ::ffff:a.b.c.d (RFC 6887 5)
	copy(b[8:24], ip[:])
}

// pcpAnnounceRequest builds the 24-byte ANNOUNCE request.
func pcpAnnounceRequest(client netip.Addr) []byte {
	b := make([]byte, pcpHeaderLen)
	pcpHeader(b, pcpOpAnnounce, 0, client)
	return b
}

// encode builds the 60-byte MAP request from client.
func (r pcpMapRequest) encode(client netip.Addr) []byte {
	b := make([]byte, pcpHeaderLen+pcpMapLen)
	pcpHeader(b, pcpOpMap, r.Lifetime, client)
	p := b[pcpHeaderLen:]
	copy(p[:pcpNonceLen], r.Nonce[:])
	p[12] = r.Protocol
	binary.BigEndian.PutUint16(p[16:], r.InternalPort)
	binary.BigEndian.PutUint16(p[18:], r.ExternalPort)
	if r.ExternalIP.IsValid() {
		ip := r.ExternalIP.As16()
		copy(p[20:36], ip[:])
	} else if !client.Is6() || client.Is4In6() {
		// "no preference": the IPv4-mapped unspecified address ::ffff:0.0.0.0
		p[30], p[31] = 0xff, 0xff
	} // else "no preference" for an IPv6 mapping (a pinhole) is :: (RFC 6887 11.1)
	return b
}

// parsePCPReply parses a reply to a request of opcode op. For MAP it checks
// that the reply echoes want's nonce, protocol and internal port. A non-zero
// result code comes back as a *PCPError; a reply that is not a PCP reply to
// this request wraps errPCPMalformed.
func parsePCPReply(b []byte, op byte, want *pcpMapRequest) (pcpReply, error) {
	if len(b) >= 4 && b[0] == natpmpOnlyReply && b[1] >= natpmpReplyFlag {
		// A NAT-PMP-only server answers a version 2 request with its own
		// "unsupported version" reply (RFC 6887 9).
		return pcpReply{}, &PCPError{Code: PCPUnsuppVersion}
	}
	if len(b) < pcpHeaderLen {
		return pcpReply{}, fmt.Errorf("%w: %d bytes, truncated (a header is %d)", errPCPMalformed, len(b), pcpHeaderLen)
	}
	if len(b) > pcpMaxLen {
		return pcpReply{}, fmt.Errorf("%w: %d bytes, oversized (at most %d)", errPCPMalformed, len(b), pcpMaxLen)
	}
	if len(b)%4 != 0 {
		return pcpReply{}, fmt.Errorf("%w: %d bytes, not a multiple of 4", errPCPMalformed, len(b))
	}
	if b[0] != pcpVersion {
		// A server of another version answers UNSUPP_VERSION with its own
		// version number in the header.
		if PCPCode(b[3]) == PCPUnsuppVersion {
			return pcpReply{}, &PCPError{Code: PCPUnsuppVersion}
		}
		return pcpReply{}, fmt.Errorf("%w: version %d, want %d", errPCPMalformed, b[0], pcpVersion)
	}
	if b[1]&pcpReplyFlag == 0 {
		return pcpReply{}, fmt.Errorf("%w: R bit clear (a request, not a response)", errPCPMalformed)
	}
	if got := b[1] &^ pcpReplyFlag; got != op {
		return pcpReply{}, fmt.Errorf("%w: opcode %d, want %d", errPCPMalformed, got, op)
	}
	r := pcpReply{
		Opcode:   op,
		Lifetime: time.Duration(binary.BigEndian.Uint32(b[4:])) * time.Second,
		Epoch:    binary.BigEndian.Uint32(b[8:]),
	}
	code := PCPCode(b[3])
	if op != pcpOpMap {
		if code != PCPSuccess {
			return pcpReply{}, &PCPError{Code: code}
		}
		return r, nil
	}
	if len(b) < pcpHeaderLen+pcpMapLen {
		if code != PCPSuccess {
			// An error reply without the payload cannot be matched to a
			// nonce; it still tells why the router refused.
			return pcpReply{}, &PCPError{Code: code}
		}
		return pcpReply{}, fmt.Errorf("%w: %d bytes, truncated MAP reply (want %d)", errPCPMalformed, len(b), pcpHeaderLen+pcpMapLen)
	}
	p := b[pcpHeaderLen:]
	copy(r.Nonce[:], p[:pcpNonceLen])
	r.Protocol = p[12]
	r.InternalPort = binary.BigEndian.Uint16(p[16:])
	r.ExternalPort = binary.BigEndian.Uint16(p[18:])
	r.ExternalIP = netip.AddrFrom16([16]byte(p[20:36])).Unmap()
	if want != nil {
		switch {
		case r.Nonce != want.Nonce:
			return pcpReply{}, fmt.Errorf("%w: nonce %x does not match the request's %x", errPCPMalformed, r.Nonce, want.Nonce)
		case r.Protocol != want.Protocol:
			return pcpReply{}, fmt.Errorf("%w: protocol %d, asked for %d", errPCPMalformed, r.Protocol, want.Protocol)
		case r.InternalPort != want.InternalPort:
			return pcpReply{}, fmt.Errorf("%w: internal port %d, asked for %d", errPCPMalformed, r.InternalPort, want.InternalPort)
		}
	}
	if code != PCPSuccess {
		return pcpReply{}, &PCPError{Code: code}
	}
	return r, nil
}
