package frame

import (
	"cmp"
	"net/netip"
	"slices"
	"time"
)

// udpPeer is one remembered sender.
type udpPeer struct {
	id     uint64
	remote string
	since  time.Time
	last   time.Time
	frames uint64
}

// touch records a frame from ap, remembering it if new (forgetting the
// peer heard from longest ago when the table is full). It returns a copy
// of the peer, whether it is new, the peers forgotten and the table size.
func (s *UDPServer) touch(ap netip.AddrPort, remote string, now time.Time) (udpPeer, bool, []udpPeer, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.peers[ap]; ok {
		p.last = now
		p.frames++
		return *p, false, nil, len(s.peers)
	}
	var gone []udpPeer
	for len(s.peers) >= s.cfg.MaxPeers {
		var oldest netip.AddrPort
		var op *udpPeer
		for k, p := range s.peers {
			if op == nil || p.last.Before(op.last) {
				oldest, op = k, p
			}
		}
		delete(s.peers, oldest)
		gone = append(gone, *op)
	}
	s.nextID++
	p := &udpPeer{id: s.nextID, remote: remote, since: now, last: now, frames: 1}
	s.peers[ap] = p
	return *p, true, gone, len(s.peers)
}

// known returns the id of ap if remembered (else 0) and the table size.
func (s *UDPServer) known(ap netip.AddrPort) (uint64, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.peers[ap]; ok {
		return p.id, len(s.peers)
	}
	return 0, len(s.peers)
}

// nextExpiry is when the peer heard from longest ago falls idle; zero (no
// deadline) when no peer is remembered.
func (s *UDPServer) nextExpiry() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var t time.Time
	for _, p := range s.peers {
		if t.IsZero() || p.last.Before(t) {
			t = p.last
		}
	}
	if t.IsZero() {
		return t
	}
	return t.Add(s.cfg.IdleTimeout)
}

// expire forgets the peers silent for the idle timeout and reports them.
func (s *UDPServer) expire(now time.Time) {
	s.mu.Lock()
	var gone []udpPeer
	for k, p := range s.peers {
		if now.Sub(p.last) >= s.cfg.IdleTimeout {
			gone = append(gone, *p)
			delete(s.peers, k)
		}
	}
	n := len(s.peers)
	s.mu.Unlock()
	slices.SortFunc(gone, func(a, b udpPeer) int { return cmp.Compare(a.id, b.id) })
	for _, g := range gone {
		s.emit(Event{Kind: EventDisconnect, Client: g.id, Remote: g.remote, Err: &IdleError{Timeout: s.cfg.IdleTimeout}, Clients: n})
	}
}

// Clients returns the remembered peers, oldest first; Frames counts the
// frames echoed to each.
func (s *UDPServer) Clients() []ClientInfo {
	s.mu.Lock()
	out := make([]ClientInfo, 0, len(s.peers))
	for _, p := range s.peers {
		out = append(out, ClientInfo{ID: p.id, Remote: p.remote, Since: p.since, Frames: p.frames})
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b ClientInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
