package probe

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
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
	network string // "tcp4", "tcp6", "udp4" or "udp6": to the TURN server
	asked   relayFamily
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

// serverNetwork is the network on which to dial the TURN server host for
// transport ("tcp" or "udp"): its address's family, or for a name IPv4
// if it has an IPv4 address (reach reached names over IPv4 before it knew
// IPv6 relays, and a host's IPv6 may be broken where its IPv4 works),
// else IPv6. The dialer then resolves the name again for that family and
// tries each of its addresses. A name that does not resolve is the
// lookup's error, with transport as the network.
func serverNetwork(ctx context.Context, transport, host string) (string, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return networkFor(transport, []netip.Addr{a}), nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return transport, err
	}
	return networkFor(transport, addrs), nil
}

// networkFor is transport with the family suffix for the first choice of
// addrs: "4" if any is IPv4, else "6"; transport alone without any.
func networkFor(transport string, addrs []netip.Addr) string {
	for _, a := range addrs {
		if a.Unmap().Is4() {
			return transport + "4"
		}
	}
	if len(addrs) > 0 {
		return transport + "6"
	}
	return transport
}

// openVia connects to the TURN server (TCP, or a connected UDP socket)
// and starts a pion client on it, watched by a turnWire that asks for the
// relayed address family target needs.
func openVia(ctx context.Context, srv TURNServer, network string, target netip.AddrPort, cfg ViaConfig) (*viaSession, error) {
	s := &viaSession{srv: srv, network: network, dial: cfg.Dial}
	if s.dial == nil {
		s.dial = (&net.Dialer{}).DialContext
	}
	ctrl, err := s.dial(ctx, network, srv.Addr())
	if err != nil {
		return nil, err
	}
	s.ctrl = ctrl
	server, _ := netip.ParseAddrPort(ctrl.RemoteAddr().String())
	s.asked = requestedFamily(target.Addr(), server.Addr())
	var pc net.PacketConn = connPacket{ctrl}
	rto := turnRTOUDP
	if isTCP(network) {
		pc = turn.NewSTUNConn(ctrl)
		// No retransmission over TCP (RFC 8489 section 6.2.2): the
		// check's deadline ends a request that gets no answer.
		rto = time.Hour
	}
	s.wire = newTURNWire(pc, func() { s.closeClient() }, s.asked, srv.Password)
	client, err := turn.NewClient(&turn.ClientConfig{
		// No TURNServerAddr: pion resolves it as "udp4" only, which an
		// IPv6 server fails, and without a context. It only uses it as
		// the destination of its writes, which both reach's
		// PacketConns ignore: they are connected to the server already.
		Username:      srv.User,
		Password:      srv.Password,
		Conn:          s.wire,
		RTO:           rto,
		LoggerFactory: quietLogs,
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

// isTCP reports whether network is a TCP one ("tcp4", "tcp6").
func isTCP(network string) bool { return strings.HasPrefix(network, "tcp") }

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
