package probe

import (
	"net"
	"sync"

	"github.com/pion/stun/v3"
)

// turnWire is the control connection to a TURN server as the pion client
// sees it, watching the STUN messages that cross it: which requests are
// still unanswered and which error code each method last got. pion's
// errors lose the code (a Connect failure is only a string, an Allocate
// refused before authentication is "attribute not found"); the wire keeps
// the evidence. It also adds REQUESTED-ADDRESS-FAMILY to the Allocate
// requests when family is not familyDefault (see withRequestedFamily).
type turnWire struct {
	net.PacketConn
	onReadErr func() // called once when the connection fails
	family    relayFamily
	password  string // signs the Allocate requests the family is added to

	mu      sync.Mutex
	pending map[[stun.TransactionIDSize]byte]stun.Method // requests sent, not answered
	codes   map[stun.Method][]stun.ErrorCodeAttribute    // error responses per method, in order (Code 0: none given)
	ok      map[stun.Method]bool                         // a success response came
	heard   bool                                         // the server sent any STUN message
	readErr error                                        // what ended the connection
}

func newTURNWire(pc net.PacketConn, onReadErr func(), family relayFamily, password string) *turnWire {
	return &turnWire{
		PacketConn: pc,
		onReadErr:  onReadErr,
		family:     family,
		password:   password,
		pending:    make(map[[stun.TransactionIDSize]byte]stun.Method),
		codes:      make(map[stun.Method][]stun.ErrorCodeAttribute),
		ok:         make(map[stun.Method]bool),
	}
}

// decodeSTUN decodes a copy of b, or returns nil if it is not STUN.
func decodeSTUN(b []byte) *stun.Message {
	if !stun.IsMessage(b) {
		return nil
	}
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if m.Decode() != nil {
		return nil
	}
	return m
}

// WriteTo notes the requests pion sends, and adds the address family to
// its Allocate requests. It reports len(b) written when the request with
// the family went out whole.
func (w *turnWire) WriteTo(b []byte, addr net.Addr) (int, error) {
	m := decodeSTUN(b)
	if m == nil || m.Type.Class != stun.ClassRequest {
		return w.PacketConn.WriteTo(b, addr)
	}
	w.mu.Lock()
	w.pending[m.TransactionID] = m.Type.Method
	w.mu.Unlock()
	if m.Type.Method != stun.MethodAllocate || w.family == familyDefault {
		return w.PacketConn.WriteTo(b, addr)
	}
	out, err := withRequestedFamily(m, w.family, w.password)
	if err != nil {
		// Not a request pion v4.1.4 sends. Sent as it is, it gets the
		// relay's default family, which the check then reports as a
		// relayed address of the wrong family.
		return w.PacketConn.WriteTo(b, addr)
	}
	if _, err := w.PacketConn.WriteTo(out.Raw, addr); err != nil {
		return 0, err
	}
	return len(b), nil
}

// ReadFrom notes the answers pion receives, and the error that ends the
// connection.
func (w *turnWire) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := w.PacketConn.ReadFrom(b)
	if err != nil {
		w.mu.Lock()
		first := w.readErr == nil
		if first {
			w.readErr = err
		}
		w.mu.Unlock()
		if first && w.onReadErr != nil {
			w.onReadErr()
		}
		return n, from, err
	}
	if m := decodeSTUN(b[:n]); m != nil {
		w.mu.Lock()
		w.heard = true
		if m.Type.Class == stun.ClassSuccessResponse || m.Type.Class == stun.ClassErrorResponse {
			delete(w.pending, m.TransactionID)
		}
		switch m.Type.Class {
		case stun.ClassSuccessResponse:
			w.ok[m.Type.Method] = true
		case stun.ClassErrorResponse:
			var code stun.ErrorCodeAttribute // Code 0 when the server sent none
			_ = code.GetFrom(m)
			w.codes[m.Type.Method] = append(w.codes[m.Type.Method], code)
		}
		w.mu.Unlock()
	}
	return n, from, err
}

// errorsFor returns the error responses the server sent for method, in
// order.
func (w *turnWire) errorsFor(method stun.Method) []stun.ErrorCodeAttribute {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]stun.ErrorCodeAttribute(nil), w.codes[method]...)
}

// answered reports whether method got a success response.
func (w *turnWire) answered(method stun.Method) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ok[method]
}

// waiting reports whether a request of method is still unanswered.
func (w *turnWire) waiting(method stun.Method) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range w.pending {
		if m == method {
			return true
		}
	}
	return false
}

// state returns whether the server ever answered and the error that ended
// the connection.
func (w *turnWire) state() (heard bool, readErr error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.heard, w.readErr
}

// connPacket is a connected UDP socket as a net.PacketConn for pion: it
// reads only from, and writes only to, the TURN server it is connected to,
// and reports the server's ICMP port unreachable as a read error.
type connPacket struct{ net.Conn }

func (c connPacket) ReadFrom(b []byte) (int, net.Addr, error) {
	n, err := c.Read(b)
	return n, c.RemoteAddr(), err
}

func (c connPacket) WriteTo(b []byte, _ net.Addr) (int, error) { return c.Write(b) }
