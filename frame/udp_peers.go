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
	addr   netip.AddrPort // its key in the table
	remote string         // addr as events show it, made once per peer
	since  time.Time
	last   time.Time
	frames uint64
	// older and newer link the peers in the order they were last heard
	// from; nil at either end.
	older, newer *udpPeer
}

// udpPeers is the UDP server's table of peers: a map from address to peer,
// and the peers in the order they were last heard from, so that the one
// heard from longest ago (the next to fall idle, the first to forget when
// the table is full) is at hand without a scan. Its users hold the
// server's lock.
type udpPeers struct {
	byAddr map[netip.AddrPort]*udpPeer
	oldest *udpPeer
	newest *udpPeer
}

func newUDPPeers() udpPeers { return udpPeers{byAddr: make(map[netip.AddrPort]*udpPeer)} }

// unlink takes p out of the order.
func (t *udpPeers) unlink(p *udpPeer) {
	if p.older != nil {
		p.older.newer = p.newer
	} else {
		t.oldest = p.newer
	}
	if p.newer != nil {
		p.newer.older = p.older
	} else {
		t.newest = p.older
	}
	p.older, p.newer = nil, nil
}

// pushNewest puts p last in the order: heard from most recently.
func (t *udpPeers) pushNewest(p *udpPeer) {
	p.older, p.newer = t.newest, nil
	if t.newest != nil {
		t.newest.newer = p
	} else {
		t.oldest = p
	}
	t.newest = p
}

// remove forgets p.
func (t *udpPeers) remove(p *udpPeer) {
	t.unlink(p)
	delete(t.byAddr, p.addr)
}

// touch records a frame from ap, remembering it if new (forgetting the
// peer heard from longest ago when the table is full). It returns a copy
// of the peer, whether it is new, the peers forgotten and the table size.
func (s *UDPServer) touch(ap netip.AddrPort, now time.Time) (udpPeer, bool, []udpPeer, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &s.peers
	// Two Serve loops (two sockets) may take their times in one order and
	// the lock in the other: the order of the list is the order of last.
	if t.newest != nil && now.Before(t.newest.last) {
		now = t.newest.last
	}
	if p, ok := t.byAddr[ap]; ok {
		p.last = now
		p.frames++
		if p != t.newest {
			t.unlink(p)
			t.pushNewest(p)
		}
		return *p, false, nil, len(t.byAddr)
	}
	var gone []udpPeer
	for len(t.byAddr) >= s.cfg.MaxPeers && t.oldest != nil {
		g := t.oldest
		t.remove(g)
		gone = append(gone, *g)
	}
	s.nextID++
	p := &udpPeer{id: s.nextID, addr: ap, remote: ap.String(), since: now, last: now, frames: 1}
	t.byAddr[ap] = p
	t.pushNewest(p)
	return *p, true, gone, len(t.byAddr)
}

// known returns the id and the address as events show it of ap (id 0
// when not remembered), and the table size.
func (s *UDPServer) known(ap netip.AddrPort) (uint64, string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.peers.byAddr[ap]; ok {
		return p.id, p.remote, len(s.peers.byAddr)
	}
	return 0, ap.String(), len(s.peers.byAddr)
}

// nextExpiry is when the peer heard from longest ago falls idle; zero (no
// deadline) when no peer is remembered. It only moves later while peers
// are remembered: the oldest peer is replaced only by one heard from
// since.
func (s *UDPServer) nextExpiry() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peers.oldest == nil {
		return time.Time{}
	}
	return s.peers.oldest.last.Add(s.cfg.IdleTimeout)
}

// expire forgets the peers silent for the idle timeout and reports them.
func (s *UDPServer) expire(now time.Time) {
	s.mu.Lock()
	var gone []udpPeer
	for p := s.peers.oldest; p != nil && now.Sub(p.last) >= s.cfg.IdleTimeout; p = s.peers.oldest {
		s.peers.remove(p)
		gone = append(gone, *p)
	}
	n := len(s.peers.byAddr)
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
	out := make([]ClientInfo, 0, len(s.peers.byAddr))
	for _, p := range s.peers.byAddr {
		out = append(out, ClientInfo{ID: p.id, Remote: p.remote, Since: p.since, Frames: p.frames})
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b ClientInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
