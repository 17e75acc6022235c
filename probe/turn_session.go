package probe

import (
	"context"
	"io"
	"net"
	"sync"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v4"
)

// turnRTOUDP is the first retransmission timeout of a TURN request over
// UDP: pion's default 200 ms, a few tries within the check's 2 s.
const turnRTOUDP = 200 * time.Millisecond

// quietLogs keeps pion from printing: a library of reach never does.
var quietLogs = &logging.DefaultLoggerFactory{Writer: io.Discard, DefaultLogLevel: logging.LogLevelDisabled}

// viaSession is one client of a TURN server, for one check.
type viaSession struct {
	srv     TURNServer
	network string // "tcp4" or "udp4"
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	ctrl    net.Conn
	wire    *turnWire
	client  *turn.Client
	stop    func() bool // ends the context watch

	mu        sync.Mutex
	released  bool
	releases  []func() // run in reverse order on release
	interrupt []func() // run when the context ends
}

// openVia connects to the TURN server (TCP, or a connected UDP socket)
// and starts a pion client on it, watched by a turnWire.
func openVia(ctx context.Context, srv TURNServer, network string, cfg ViaConfig) (*viaSession, error) {
	s := &viaSession{srv: srv, network: network, dial: cfg.Dial}
	if s.dial == nil {
		s.dial = (&net.Dialer{}).DialContext
	}
	ctrl, err := s.dial(ctx, network, srv.Addr())
	if err != nil {
		return nil, err
	}
	s.ctrl = ctrl
	var pc net.PacketConn = connPacket{ctrl}
	rto := turnRTOUDP
	if network == "tcp4" {
		pc = turn.NewSTUNConn(ctrl)
		// No retransmission over TCP (RFC 8489 section 6.2.2): the
		// check's deadline ends a request that gets no answer.
		rto = time.Hour
	}
	s.wire = newTURNWire(pc, func() { s.closeClient() })
	client, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: ctrl.RemoteAddr().String(), // resolved already: pion resolves without a context
		Username:       srv.User,
		Password:       srv.Password,
		Conn:           s.wire,
		RTO:            rto,
		LoggerFactory:  quietLogs,
	})
	if err != nil {
		ctrl.Close()
		return nil, err
	}
	s.client = client
	if err := client.Listen(); err != nil {
		ctrl.Close()
		return nil, err
	}
	s.stop = context.AfterFunc(ctx, s.interrupted)
	return s, nil
}

// closeClient ends every pending TURN transaction.
func (s *viaSession) closeClient() {
	if s.client != nil {
		s.client.Close()
	}
}

// interrupted unblocks the check when its context ends.
func (s *viaSession) interrupted() {
	s.closeClient()
	s.mu.Lock()
	fs := append([]func(){}, s.interrupt...)
	s.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

// onInterrupt runs f when the context ends (at once if it has).
func (s *viaSession) onInterrupt(ctx context.Context, f func()) {
	s.mu.Lock()
	s.interrupt = append(s.interrupt, f)
	s.mu.Unlock()
	if ctx.Err() != nil {
		f()
	}
}

// onRelease runs f on release (at once if released already).
func (s *viaSession) onRelease(f func()) {
	s.mu.Lock()
	if s.released {
		s.mu.Unlock()
		f()
		return
	}
	s.releases = append(s.releases, f)
	s.mu.Unlock()
}

// release deallocates (what onRelease registered, newest first: the
// allocation's Refresh with lifetime 0), then closes the client and the
// control connection, which ends a TCP allocation on the server at once.
func (s *viaSession) release() {
	s.mu.Lock()
	if s.released {
		s.mu.Unlock()
		return
	}
	s.released = true
	fs := s.releases
	s.mu.Unlock()
	s.stop()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
	s.closeClient()
	s.ctrl.Close()
}
