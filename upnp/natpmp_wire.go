package upnp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// NAT-PMP message layout (RFC 6886). All integers are big-endian.
//
//	external address request: version(1)=0 opcode(1)=0                  2 bytes
//	external address reply:   version opcode=128 result(2) epoch(4) ip(4) 12 bytes
//	map request:  version opcode(1 udp, 2 tcp) reserved(2) internal(2)
//	              suggested external(2) lifetime(4)                       12 bytes
//	map reply:    version opcode=128+op result(2) epoch(4) internal(2)
//	              external(2) lifetime(4)                                 16 bytes
//
// Error replies may stop after the epoch (8 bytes): miniupnpd sends the
// "unsupported version" and "unsupported opcode" replies that short.
const (
	natpmpVersion      = 0
	natpmpOpExternal   = 0
	natpmpOpMapUDP     = 1
	natpmpOpMapTCP     = 2
	natpmpReplyFlag    = 128
	natpmpErrorLen     = 8
	natpmpExternalLen  = 12
	natpmpMapLen       = 16
	natpmpMapRequestLn = 12
)

// NATPMPResult is a NAT-PMP result code (RFC 6886 section 3.5).
type NATPMPResult uint16

// The NAT-PMP result codes.
const (
	NATPMPSuccess            NATPMPResult = 0
	NATPMPUnsupportedVersion NATPMPResult = 1
	NATPMPNotAuthorized      NATPMPResult = 2
	NATPMPNetworkFailure     NATPMPResult = 3
	NATPMPOutOfResources     NATPMPResult = 4
	NATPMPUnsupportedOpcode  NATPMPResult = 5
)

// NATPMPError is a non-zero result code in a NAT-PMP reply. Advice says, in
// plain words, what it means for the user.
type NATPMPError struct {
	Result NATPMPResult
}

// Error says what the router answered and what it means; callers wrap it
// with the request and the gateway.
func (e *NATPMPError) Error() string {
	return fmt.Sprintf("router answered NAT-PMP result %d (%s)", e.Result, e.Result)
}

// String is what the result code means, in a few words.
func (r NATPMPResult) String() string {
	switch r {
	case NATPMPSuccess:
		return "success"
	case NATPMPUnsupportedVersion:
		return "unsupported version"
	case NATPMPNotAuthorized:
		return "not authorized"
	case NATPMPNetworkFailure:
		return "network failure: no external address"
	case NATPMPOutOfResources:
		return "out of resources"
	case NATPMPUnsupportedOpcode:
		return "unsupported opcode"
	}
	return "unknown result code"
}

// Advice tells what the result code means and what to do about it.
func (e *NATPMPError) Advice() string {
	switch e.Result {
	case NATPMPUnsupportedVersion:
		return "the router does not speak NAT-PMP version 0 (it may speak PCP or UPnP only)"
	case NATPMPNotAuthorized:
		return "NAT-PMP is disabled or restricted on the router: enable it in the router's settings, or forward the port by hand"
	case NATPMPNetworkFailure:
		return "the router has no external address: it is not connected, or sits behind another NAT (a modem or the ISP's carrier-grade NAT)"
	case NATPMPOutOfResources:
		return "the router's mapping table is full: remove unused port forwards on the router"
	case NATPMPUnsupportedOpcode:
		return "the router does not support this NAT-PMP request"
	}
	return "unknown result code"
}

// errNATPMPMalformed is wrapped by every error about a reply that could not
// be a NAT-PMP reply to our request; such replies are ignored, not fatal.
var errNATPMPMalformed = errors.New("malformed nat-pmp reply")

// natpmpExternalReply is a parsed external address reply.
type natpmpExternalReply struct {
	Epoch uint32
	Addr  netip.Addr
}

// natpmpMapReply is a parsed mapping reply.
type natpmpMapReply struct {
	Epoch        uint32
	InternalPort uint16
	ExternalPort uint16
	Lifetime     time.Duration
}

// natpmpExternalRequest is the 2-byte external address request.
func natpmpExternalRequest() []byte {
	return []byte{natpmpVersion, natpmpOpExternal}
}

// natpmpOp returns the map opcode of proto.
func natpmpOp(proto Protocol) (byte, error) {
	switch proto {
	case UDP:
		return natpmpOpMapUDP, nil
	case TCP:
		return natpmpOpMapTCP, nil
	}
	return 0, fmt.Errorf("upnp: nat-pmp: protocol %q is neither %q nor %q", proto, TCP, UDP)
}

// natpmpMapRequest builds the 12-byte map request. Lifetime zero with
// external port zero deletes the mapping of internal (RFC 6886 3.4).
func natpmpMapRequest(op byte, internal, external uint16, lifetime uint32) []byte {
	b := make([]byte, natpmpMapRequestLn)
	b[0] = natpmpVersion
	b[1] = op
	binary.BigEndian.PutUint16(b[4:], internal)
	binary.BigEndian.PutUint16(b[6:], external)
	binary.BigEndian.PutUint32(b[8:], lifetime)
	return b
}

// parseNATPMPHeader checks the version, opcode and length common to every
// reply to request opcode op, whose success reply is want bytes long. It
// returns the result code as a *NATPMPError when non-zero.
func parseNATPMPHeader(b []byte, op byte, want int) error {
	if len(b) < 4 {
		return fmt.Errorf("%w: %d bytes, truncated before the result code", errNATPMPMalformed, len(b))
	}
	if b[0] != natpmpVersion {
		return fmt.Errorf("%w: version %d, want %d", errNATPMPMalformed, b[0], natpmpVersion)
	}
	if b[1] != natpmpReplyFlag+op {
		return fmt.Errorf("%w: opcode %d, want %d", errNATPMPMalformed, b[1], natpmpReplyFlag+int(op))
	}
	if r := NATPMPResult(binary.BigEndian.Uint16(b[2:])); r != NATPMPSuccess {
		if len(b) != natpmpErrorLen && len(b) != want {
			return fmt.Errorf("%w: error reply of %d bytes, want %d or %d", errNATPMPMalformed, len(b), natpmpErrorLen, want)
		}
		return &NATPMPError{Result: r}
	}
	if len(b) < want {
		return fmt.Errorf("%w: %d bytes, truncated (want %d)", errNATPMPMalformed, len(b), want)
	}
	if len(b) > want {
		return fmt.Errorf("%w: %d bytes, oversized (want %d)", errNATPMPMalformed, len(b), want)
	}
	return nil
}

// parseNATPMPExternal parses a reply to the external address request.
func parseNATPMPExternal(b []byte) (natpmpExternalReply, error) {
	if err := parseNATPMPHeader(b, natpmpOpExternal, natpmpExternalLen); err != nil {
		return natpmpExternalReply{}, err
	}
	return natpmpExternalReply{
		Epoch: binary.BigEndian.Uint32(b[4:]),
		Addr:  netip.AddrFrom4([4]byte(b[8:12])),
	}, nil
}

// parseNATPMPMap parses a reply to a map request of opcode op for internal
// port internal.
func parseNATPMPMap(b []byte, op byte, internal uint16) (natpmpMapReply, error) {
	if err := parseNATPMPHeader(b, op, natpmpMapLen); err != nil {
		return natpmpMapReply{}, err
	}
	r := natpmpMapReply{
		Epoch:        binary.BigEndian.Uint32(b[4:]),
		InternalPort: binary.BigEndian.Uint16(b[8:]),
		ExternalPort: binary.BigEndian.Uint16(b[10:]),
		Lifetime:     time.Duration(binary.BigEndian.Uint32(b[12:])) * time.Second,
	}
	if r.InternalPort != internal {
		return natpmpMapReply{}, fmt.Errorf("%w: reply for internal port %d, asked for %d", errNATPMPMalformed, r.InternalPort, internal)
	}
	return r, nil
}
