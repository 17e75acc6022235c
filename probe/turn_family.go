package probe

import (
	"fmt"
	"net/netip"

	"github.com/pion/stun/v3"
)

// relayFamily is the address family of a relayed address, with the values
// of REQUESTED-ADDRESS-FAMILY (RFC 8656 section 18.9, first in RFC 6156).
type relayFamily byte

const (
	// familyDefault: reach sends no REQUESTED-ADDRESS-FAMILY and the relay
	// allocates an IPv4 address, the default of RFC 8656.
	familyDefault relayFamily = 0
	familyIPv4    relayFamily = 0x01
	familyIPv6    relayFamily = 0x02
)

// String is the family as a person says it.
func (f relayFamily) String() string {
	if f == familyIPv6 {
		return "IPv6"
	}
	return "IPv4"
}

// familyOf is the family of a relayed address that can reach a.
func familyOf(a netip.Addr) relayFamily {
	if a.Unmap().Is4() {
		return familyIPv4
	}
	return familyIPv6
}

// requestedFamily is the REQUESTED-ADDRESS-FAMILY reach puts in its
// Allocate requests to reach target, talking to the TURN server at server:
// IPv6 for an IPv6 target (without it every relay allocates IPv4); for an
// IPv4 target nothing when the server is reached over IPv4 (a relay that
// predates RFC 6156 would refuse the attribute with 420), IPv4 when it is
// reached over IPv6 (a relay told to keep the family of the client's
// connection, coturn's --allocation-default-address-family=keep, would
// otherwise allocate an IPv6 address).
func requestedFamily(target, server netip.Addr) relayFamily {
	switch {
	case familyOf(target) == familyIPv6:
		return familyIPv6
	case server.IsValid() && familyOf(server) == familyIPv6:
		return familyIPv4
	}
	return familyDefault
}

// withRequestedFamily returns the Allocate request m with
// REQUESTED-ADDRESS-FAMILY f added, signed again: pion's client (v4.1.4)
// has no way to ask for a family, and its requests all cross reach's
// turnWire, so the wire adds the attribute there. The attribute goes
// after the others and before MESSAGE-INTEGRITY, which covers everything
// in front of it; so MESSAGE-INTEGRITY is computed again with the
// long-term key MD5(username:realm:password) from the request's USERNAME
// and REALM (RFC 8489 section 9.2.2), and FINGERPRINT, which covers the
// whole message, after it. The transaction ID stays, so pion matches the
// answer to its request, and a retransmission of the same request comes
// out the same. A request without MESSAGE-INTEGRITY (the first,
// unauthenticated Allocate) only gets its FINGERPRINT again.
func withRequestedFamily(m *stun.Message, f relayFamily, password string) (*stun.Message, error) {
	if m.Contains(stun.AttrRequestedAddressFamily) {
		return m, nil
	}
	out := &stun.Message{Type: m.Type, TransactionID: m.TransactionID}
	out.WriteHeader()
	signed, fingerprinted := false, false
	for _, a := range m.Attributes {
		switch a.Type {
		case stun.AttrMessageIntegrity:
			signed = true
		case stun.AttrMessageIntegritySHA256:
			return nil, fmt.Errorf("probe: %s carries MESSAGE-INTEGRITY-SHA256, which reach cannot sign again", m.Type)
		case stun.AttrFingerprint:
			fingerprinted = true
		}
		if signed || fingerprinted {
			// Nothing after MESSAGE-INTEGRITY counts but FINGERPRINT,
			// and both are computed again.
			continue
		}
		out.Add(a.Type, a.Value)
	}
	out.Add(stun.AttrRequestedAddressFamily, []byte{byte(f), 0, 0, 0}) // family, then 3 bytes RFFU
	if signed {
		var user stun.Username
		var realm stun.Realm
		if err := user.GetFrom(m); err != nil {
			return nil, fmt.Errorf("probe: signed %s without USERNAME: %w", m.Type, err)
		}
		if err := realm.GetFrom(m); err != nil {
			return nil, fmt.Errorf("probe: signed %s without REALM: %w", m.Type, err)
		}
		if err := stun.NewLongTermIntegrity(user.String(), realm.String(), password).AddTo(out); err != nil {
			return nil, err
		}
	}
	if fingerprinted {
		if err := stun.Fingerprint.AddTo(out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// familyRefused reports whether a TURN error code is the relay refusing
// the address family: 440 Address Family not Supported (an Allocate),
// 443 Peer Address Family Mismatch (a permission or Connect for a peer of
// the other family), or 420 Unknown Attribute on an Allocate that carried
// REQUESTED-ADDRESS-FAMILY (a relay that predates RFC 6156).
func familyRefused(code stun.ErrorCode, phase viaPhase, asked relayFamily) bool {
	switch code {
	case stun.CodeAddrFamilyNotSupported, stun.CodePeerAddrFamilyMismatch:
		return true
	case stun.CodeUnknownAttribute:
		return phase == phaseAllocate && asked != familyDefault
	}
	return false
}

// judgeFamily explains a relay that cannot relay the target's family: the
// relay's own limit, which says nothing about the target.
func judgeFamily(res ViaResult, ev viaEvidence, server string) ViaResult {
	want := familyOf(res.Target.Addr())
	res.Failure, res.Verdict = ViaFamilyUnsupported, ""
	switch {
	case ev.code.Code == stun.CodeUnknownAttribute:
		res.Detail = fmt.Sprintf("the TURN server %s does not know REQUESTED-ADDRESS-FAMILY (420 %s): it cannot be asked for an %s relay address to reach %s",
			server, reason(ev.code), want, res.Target)
	case ev.code.Code != 0:
		res.Detail = fmt.Sprintf("the TURN server %s has no %s relay address for %s (%d %s)", server, want, res.Target, ev.code.Code, reason(ev.code))
	default:
		res.Detail = fmt.Sprintf("the TURN server %s was asked for an %s relay address and gave %s: it cannot reach %s",
			server, want, res.RelayAddr, res.Target)
	}
	res.Cause = fmt.Sprintf("the relay relays %s only (many relay IPv4 only); this says nothing about %s", other(want), res.Target.Addr())
	return res
}

// other is the family that is not f.
func other(f relayFamily) relayFamily {
	if f == familyIPv6 {
		return familyIPv4
	}
	return familyIPv6
}

// wrongFamily reports whether the relay allocated an address of the other
// family than the target's: a relay that ignored REQUESTED-ADDRESS-FAMILY
// cannot reach the target from it (it would refuse the peer with 443).
func (s *viaSession) wrongFamily(res ViaResult) bool {
	return res.RelayAddr.IsValid() && familyOf(res.RelayAddr.Addr()) != familyOf(res.Target.Addr())
}

// errWrongFamily is the error of a relayed address of the wrong family.
func errWrongFamily(res ViaResult) error {
	return fmt.Errorf("probe: check via %s: asked for an %s relayed address for %s, got %s",
		res.Relay, familyOf(res.Target.Addr()), res.Target, res.RelayAddr)
}
