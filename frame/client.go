package frame

import (
	"errors"
	"io"
	"net"
	"os"
	"time"
)

// serveClient echoes c's frames until it leaves or misbehaves; n is the
// number of clients connected when it arrived.
func (s *Server) serveClient(c *client, n int) {
	defer s.wg.Done()
	s.emit(Event{Kind: EventConnect, Client: c.id, Remote: c.remote, Clients: n})
	dropped, err := s.echo(c)
	c.conn.Close()
	left := s.remove(c.id)
	if dropped {
		s.emit(Event{Kind: EventError, Client: c.id, Remote: c.remote, Err: err, Clients: left})
	}
	s.emit(Event{Kind: EventDisconnect, Client: c.id, Remote: c.remote, Err: err, Clients: left})
}

// echo writes every frame c sends back to it. It returns why it stopped:
// nil for a clean close by the peer, and whether the server dropped the
// client (bad frame, idle) rather than the connection ending by itself.
func (s *Server) echo(c *client) (dropped bool, err error) {
	r := NewReader(c.conn, s.cfg.MaxFrame)
	defer r.Release()
	for {
		// The deadline covers a whole frame, not each read: a peer sending
		// one byte a minute is still dropped at the idle timeout.
		c.conn.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		payload, err := r.Next()
		if err != nil {
			return s.readEnded(err)
		}
		c.conn.SetWriteDeadline(time.Now().Add(s.cfg.IdleTimeout))
		if _, err := c.conn.Write(r.Frame()); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return true, &IdleError{Timeout: s.cfg.IdleTimeout, Echo: true}
			}
			return s.ended(err)
		}
		c.frames.Add(1)
		s.emit(Event{Kind: EventMessage, Client: c.id, Remote: c.remote, Payload: payload, Clients: s.count()})
	}
}

// readEnded classifies the error that stopped reading from a client.
func (s *Server) readEnded(err error) (dropped bool, _ error) {
	switch {
	case err == io.EOF:
		return false, nil
	case errors.Is(err, ErrTooLarge), errors.Is(err, ErrTruncated):
		return true, err
	case errors.Is(err, os.ErrDeadlineExceeded):
		return true, &IdleError{Timeout: s.cfg.IdleTimeout}
	}
	return s.ended(err)
}

// ended reports a connection that ended by itself or by Shutdown.
func (s *Server) ended(err error) (dropped bool, _ error) {
	if errors.Is(err, net.ErrClosed) && s.isClosed() {
		return false, ErrServerClosed
	}
	return false, err
}

func (s *Server) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}
