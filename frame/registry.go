package frame

import (
	"cmp"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"
)

// ClientInfo describes one connected client of the echo server.
type ClientInfo struct {
	ID     uint64    // counting from 1 in order of arrival
	Remote string    // ip:port
	Since  time.Time // when it connected
	Frames uint64    // frames echoed so far
}

// client is one connection the server serves.
type client struct {
	id     uint64
	ip     netip.Addr
	remote string
	since  time.Time
	conn   net.Conn
	frames atomic.Uint64
	// read and write are conn's deadlines, owned by its goroutine.
	read, write deadline
}

// admit registers conn as a new client and returns it with the number of
// clients now connected. It returns a nil client when the server is closed
// or full (then with the id it gave the refused connection).
func (s *Server) admit(conn net.Conn) (c *client, id uint64, n int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, 0, len(s.clients), ErrServerClosed
	}
	s.nextID++
	if len(s.clients) >= s.cfg.MaxClients {
		return nil, s.nextID, len(s.clients), &FullError{Max: s.cfg.MaxClients}
	}
	ip := remoteIP(conn)
	if s.cfg.MaxPerIP > 0 && s.perIP[ip] >= s.cfg.MaxPerIP {
		return nil, s.nextID, len(s.clients), &PerIPError{IP: ip, Max: s.cfg.MaxPerIP}
	}
	c = &client{id: s.nextID, ip: ip, remote: conn.RemoteAddr().String(), since: time.Now(), conn: conn}
	s.clients[c.id] = c
	s.connected.Store(int64(len(s.clients)))
	s.perIP[ip]++
	s.wg.Add(1)
	return c, c.id, len(s.clients), nil
}

// remove forgets client id and returns the number of clients left.
func (s *Server) remove(id uint64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[id]; ok {
		if s.perIP[c.ip]--; s.perIP[c.ip] <= 0 {
			delete(s.perIP, c.ip)
		}
		delete(s.clients, id)
		s.connected.Store(int64(len(s.clients)))
	}
	return len(s.clients)
}

// Clients returns the connected clients, oldest first.
func (s *Server) Clients() []ClientInfo {
	s.mu.Lock()
	out := make([]ClientInfo, 0, len(s.clients))
	for _, c := range s.clients {
		out = append(out, ClientInfo{ID: c.id, Remote: c.remote, Since: c.since, Frames: c.frames.Load()})
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b ClientInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// remoteIP is the address conn comes from; zero if it is not an IP
// connection (then all such clients share one count).
func remoteIP(conn net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(conn.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}
