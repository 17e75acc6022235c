package upnp

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// TestPCPMapRequestLayout checks the 60-byte MAP request against RFC 6887
// figures 2 and 9, byte by byte.
func TestPCPMapRequestLayout(t *testing.T) {
	r := pcpMapRequest{Protocol: pcpProtoUDP, InternalPort: 0x1234, ExternalPort: 0x5678, Lifetime: 0x01020304}
	copy(r.Nonce[:], "abcdefghijkl")
	got := r.encode(netip.MustParseAddr("192.168.1.10"))
	want := []byte{
		2, 1, 0, 0, 1, 2, 3, 4, // version, opcode MAP, reserved, lifetime
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 10, // client IP
		'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', // nonce
		17, 0, 0, 0, 0x12, 0x34, 0x56, 0x78, // protocol, reserved, ports
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0, // no external IP preference
	}
	if !bytes.Equal(got, want) {
		t.Errorf("MAP request\n got %x\nwant %x", got, want)
	}
}

// FuzzParsePCPResponse feeds arbitrary bytes to the PCP reply parser: it
// must not panic, and what it accepts must be a well-formed reply.
func FuzzParsePCPResponse(f *testing.F) {
	req := pcpMapRequest{Protocol: pcpProtoTCP, InternalPort: 1234}
	copy(req.Nonce[:], "0123456789ab")
	f.Add(pcpTestReply(req.encode(loopback), 0, 3600, 40000, wan))
	f.Add(pcpTestReply(pcpAnnounceRequest(loopback), 0, 0, 0, netip.Addr{}))
	f.Add([]byte{0, 129, 0, 1, 0, 0, 0, 0})
	f.Add([]byte{2, 0x81, 0, 8})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, op := range []byte{pcpOpAnnounce, pcpOpMap} {
			want := &req
			if op != pcpOpMap {
				want = nil
			}
			r, err := parsePCPReply(b, op, want)
			var pe *PCPError
			switch {
			case err == nil:
				if len(b) < pcpHeaderLen || len(b) > pcpMaxLen || len(b)%4 != 0 || b[0] != pcpVersion || b[3] != 0 {
					t.Fatalf("accepted a malformed or failed reply %x", b)
				}
				if op == pcpOpMap && (len(b) < pcpHeaderLen+pcpMapLen || r.Nonce != req.Nonce) {
					t.Fatalf("accepted a MAP reply without the request's nonce: %x", b)
				}
			case errors.As(err, &pe):
				if pe.Code == PCPSuccess {
					t.Fatalf("PCPError with code 0 for %x", b)
				}
			case !errors.Is(err, errPCPMalformed):
				t.Fatalf("error %v neither a *PCPError nor malformed", err)
			}
		}
	})
}

// FuzzParseNATPMPResponse feeds arbitrary bytes to the NAT-PMP reply
// parsers: they must not panic and accept only exact-size success replies.
func FuzzParseNATPMPResponse(f *testing.F) {
	f.Add([]byte{0, 128, 0, 0, 0, 0, 0, 1, 11, 0, 0, 2})
	f.Add([]byte{0, 130, 0, 0, 0, 0, 0, 1, 4, 210, 156, 64, 0, 0, 14, 16})
	f.Add([]byte{0, 129, 0, 3, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(err error, size int) {
			var pe *NATPMPError
			switch {
			case err == nil:
				if len(b) != size || b[2] != 0 || b[3] != 0 {
					t.Fatalf("accepted %x as a %d-byte success reply", b, size)
				}
			case errors.As(err, &pe):
				if pe.Result == NATPMPSuccess {
					t.Fatalf("NATPMPError with result 0 for %x", b)
				}
			case !errors.Is(err, errNATPMPMalformed):
				t.Fatalf("error %v neither a *NATPMPError nor malformed", err)
			}
		}
		_, err := parseNATPMPExternal(b)
		check(err, natpmpExternalLen)
		r, err := parseNATPMPMap(b, natpmpOpMapTCP, 1234)
		check(err, natpmpMapLen)
		if err == nil && r.InternalPort != 1234 {
			t.Fatalf("accepted a reply for internal port %d", r.InternalPort)
		}
	})
}
