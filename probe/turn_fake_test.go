package probe

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v3"
)

// fakeTCPTURN is a TURN server on loopback with just enough of RFC 6062 for
// a TCP check: Allocate with long-term credentials (user reach, password
// secret, realm lab), CreatePermission, Connect (it dials the peer itself),
// ConnectionBind (it then splices the two connections), Refresh. pion's
// own server relays UDP only. It honours REQUESTED-ADDRESS-FAMILY (RFC
// 8656): an IPv6 allocation gets the relayed address [::1]:50000, and a
// peer of the other family than the allocation's gets 443.
type fakeTCPTURN struct {
	ln             net.Listener
	listen         string // the server's address; "" means 127.0.0.1:0
	tcpUnsupported bool   // answer a TCP Allocate with 442
	forbid         bool   // answer CreatePermission with 403
	hangConnect    bool   // never answer Connect
	noIPv6         bool   // answer an Allocate for IPv6 with 440

	mu       sync.Mutex
	peers    map[uint32]net.Conn
	nextCID  uint32
	open     int    // control and data connections not yet closed by the client
	families []byte // REQUESTED-ADDRESS-FAMILY of each authenticated Allocate, 0 when absent
	done     chan struct{}
}

// fakeTURNConnect bounds the fake's own connection to a peer.
const fakeTURNConnect = time.Second

func newFakeTCPTURN(t *testing.T, setup func(*fakeTCPTURN)) *fakeTCPTURN {
	t.Helper()
	f := &fakeTCPTURN{listen: "127.0.0.1:0", peers: make(map[uint32]net.Conn), done: make(chan struct{}, 16)}
	if setup != nil {
		setup(f)
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		t.Fatal(err)
	}
	f.ln = ln
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.open++
			f.mu.Unlock()
			go f.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return f
}

func (f *fakeTCPTURN) server(user, pass string) TURNServer {
	ap := f.ln.Addr().(*net.TCPAddr).AddrPort()
	return TURNServer{User: user, Password: pass, Host: ap.Addr().String(), Port: ap.Port()}
}

// waitClosed waits until the client closed every connection it opened
// (which releases a TCP allocation), failing t after a generous bound.
func (f *fakeTCPTURN) waitClosed(t *testing.T) {
	t.Helper()
	stop := time.After(10 * time.Second)
	for {
		f.mu.Lock()
		open := f.open
		f.mu.Unlock()
		if open == 0 {
			return
		}
		select {
		case <-f.done:
		case <-stop:
			t.Fatalf("%d connections to the TURN server still open after the check returned", open)
		}
	}
}

func readSTUN(r io.Reader) (*stun.Message, error) {
	hdr := make([]byte, 20)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, err
	}
	raw := append(hdr, make([]byte, binary.BigEndian.Uint16(hdr[2:4]))...)
	if _, err := io.ReadFull(r, raw[20:]); err != nil {
		return nil, err
	}
	m := &stun.Message{Raw: raw}
	return m, m.Decode()
}

// requested returns the Allocate requests' families, in order.
func (f *fakeTCPTURN) requested() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]byte(nil), f.families...)
}

func (f *fakeTCPTURN) serve(c net.Conn) {
	spliced := false
	v6 := false // the allocation on this connection is IPv6
	defer func() {
		if !spliced {
			c.Close()
			f.closed()
		}
	}()
	for {
		m, err := readSTUN(c)
		if err != nil {
			return
		}
		reply := func(class stun.MessageClass, attrs ...stun.Setter) {
			setters := append([]stun.Setter{stun.NewTransactionIDSetter(m.TransactionID), stun.NewType(m.Type.Method, class)}, attrs...)
			out, err := stun.Build(append(setters, stun.Fingerprint)...)
			if err == nil {
				c.Write(out.Raw)
			}
		}
		fail := func(code stun.ErrorCode, extra ...stun.Setter) {
			reply(stun.ClassErrorResponse, append([]stun.Setter{code}, extra...)...)
		}
		if m.Type.Class != stun.ClassRequest {
			continue
		}
		if !m.Contains(stun.AttrMessageIntegrity) {
			fail(stun.CodeUnauthorized, stun.NewRealm("lab"), stun.NewNonce("fake-nonce"))
			continue
		}
		var user stun.Username
		if user.GetFrom(m) != nil || user.String() != "reach" || stun.NewLongTermIntegrity("reach", "lab", "secret").Check(m) != nil {
			fail(stun.CodeUnauthorized, stun.NewRealm("lab"), stun.NewNonce("fake-nonce"))
			continue
		}
		switch m.Type.Method {
		case stun.MethodAllocate:
			var family byte
			if v, err := m.Get(stun.AttrRequestedAddressFamily); err == nil && len(v) == 4 {
				family = v[0]
			}
			f.mu.Lock()
			f.families = append(f.families, family)
			f.mu.Unlock()
			if f.tcpUnsupported {
				fail(stun.CodeUnsupportedTransProto)
				continue
			}
			relayed := stun.XORMappedAddress{IP: net.IPv4(127, 0, 0, 1), Port: 50000}
			if v6 = family == 0x02; v6 {
				if f.noIPv6 {
					fail(stun.CodeAddrFamilyNotSupported)
					continue
				}
				relayed.IP = net.IPv6loopback
			}
			reply(stun.ClassSuccessResponse, attrAs{relayed, stun.AttrXORRelayedAddress},
				&stun.XORMappedAddress{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, uint32Attr{stun.AttrLifetime, 600})
		case stun.MethodCreatePermission:
			if f.forbid {
				fail(stun.CodeForbidden)
				continue
			}
			var peer stun.XORMappedAddress
			if peer.GetFromAs(m, stun.AttrXORPeerAddress) == nil && (peer.IP.To4() == nil) != v6 {
				fail(stun.CodePeerAddrFamilyMismatch)
				continue
			}
			reply(stun.ClassSuccessResponse)
		case stun.MethodRefresh:
			reply(stun.ClassSuccessResponse, uint32Attr{stun.AttrLifetime, 0})
		case stun.MethodConnect:
			if f.hangConnect {
				continue
			}
			var peer stun.XORMappedAddress
			if peer.GetFromAs(m, stun.AttrXORPeerAddress) != nil {
				fail(stun.CodeBadRequest)
				continue
			}
			if (peer.IP.To4() == nil) != v6 {
				fail(stun.CodePeerAddrFamilyMismatch)
				continue
			}
			pc, err := net.DialTimeout("tcp", peer.String(), fakeTURNConnect)
			if err != nil {
				fail(stun.CodeConnTimeoutOrFailure)
				continue
			}
			f.mu.Lock()
			f.nextCID++
			cid := f.nextCID
			f.peers[cid] = pc
			f.mu.Unlock()
			reply(stun.ClassSuccessResponse, uint32Attr{stun.AttrConnectionID, cid})
		case stun.MethodConnectionBind:
			v, err := m.Get(stun.AttrConnectionID)
			if err != nil || len(v) != 4 {
				fail(stun.CodeBadRequest)
				continue
			}
			f.mu.Lock()
			pc := f.peers[binary.BigEndian.Uint32(v)]
			delete(f.peers, binary.BigEndian.Uint32(v))
			f.mu.Unlock()
			if pc == nil {
				fail(stun.CodeBadRequest)
				continue
			}
			reply(stun.ClassSuccessResponse)
			spliced = true
			go func() { io.Copy(pc, c); pc.Close() }()
			go func() { io.Copy(c, pc); c.Close(); f.closed() }()
			return
		default:
			fail(stun.CodeBadRequest)
		}
	}
}

func (f *fakeTCPTURN) closed() {
	f.mu.Lock()
	f.open--
	f.mu.Unlock()
	select {
	case f.done <- struct{}{}:
	default:
	}
}

// attrAs adds an address as the attribute type t.
type attrAs struct {
	a stun.XORMappedAddress
	t stun.AttrType
}

func (a attrAs) AddTo(m *stun.Message) error { return a.a.AddToAs(m, a.t) }

// uint32Attr is a 4-byte attribute (LIFETIME, CONNECTION-ID).
type uint32Attr struct {
	t stun.AttrType
	v uint32
}

func (u uint32Attr) AddTo(m *stun.Message) error {
	m.Add(u.t, binary.BigEndian.AppendUint32(nil, u.v))
	return nil
}
