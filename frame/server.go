package frame

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	// DefaultMaxClients bounds the clients served at once: far more than a
	// home server sees, far fewer than the file descriptors a host allows.
	DefaultMaxClients = 1024
	// DefaultIdleTimeout is how long a client may take to send one whole
	// frame, or to read one echo, before it is dropped: long enough for a
	// person typing, short enough that a slowloris cannot pin a slot.
	DefaultIdleTimeout = 5 * time.Minute
)

const (
	// acceptBackoffMin is the first pause after a temporary accept error
	// (out of file descriptors): short, since a client may close any moment.
	acceptBackoffMin = 5 * time.Millisecond
	// acceptBackoffMax caps the doubling pause, so that service resumes
	// within a second of resources coming back.
	acceptBackoffMax = time.Second
)

// ServerConfig configures an echo Server.
type ServerConfig struct {
	MaxClients  int           // clients served at once; zero means DefaultMaxClients
	IdleTimeout time.Duration // time allowed per frame and per echo; zero means DefaultIdleTimeout
	MaxFrame    int           // largest payload accepted; zero means DefaultMaxFrame
	// MaxPerIP bounds the clients served at once from one IP address, so
	// one host cannot take every slot (a slowloris); zero means no limit.
	MaxPerIP int
	// Preview, when positive, is how much of each message's payload its
	// event needs (Event.Payload; Event.Size is the whole length): the
	// rest of a big frame may then be passed from the socket straight
	// back to it without being read (splice on Linux). Zero: every event
	// carries the whole payload.
	Preview int
	// OnEvent receives every connect, message, disconnect and error; nil
	// means no events. It is called from the client goroutines (and, for
	// refused clients, the accept loop) concurrently: it must be safe for
	// that and should return quickly.
	OnEvent func(Event)
	// OnMessages, when set, receives the message events instead of
	// OnEvent: those of one read of one client together, in order
	// (connects, drops and disconnects still go to OnEvent). Messages and
	// its payloads are valid only during the call; it is called as
	// OnEvent is.
	OnMessages func(Messages)
}

// Server is the framed echo server of the guide: it writes every frame it
// receives back, unchanged, on the same connection. One goroutine serves
// each connection; an idle one holds no payload buffer.
type Server struct {
	cfg ServerConfig

	mu        sync.Mutex
	closed    bool
	done      chan struct{} // closed by Shutdown
	listeners map[net.Listener]struct{}
	clients   map[uint64]*client
	connected atomic.Int64       // len(clients), read without the lock by every batch's event
	perIP     map[netip.Addr]int // connected clients per remote address
	nextID    uint64
	wg        sync.WaitGroup // accept loops and client goroutines
}

// NewServer returns a Server with cfg's zero values replaced by defaults.
func NewServer(cfg ServerConfig) *Server {
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = DefaultMaxClients
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	return &Server{
		cfg:       cfg,
		done:      make(chan struct{}),
		listeners: make(map[net.Listener]struct{}),
		clients:   make(map[uint64]*client),
		perIP:     make(map[netip.Addr]int),
	}
}

// Serve accepts connections on ln and serves each until Shutdown, then
// returns ErrServerClosed. Temporary accept errors (such as running out of
// file descriptors) are retried with a growing pause; any other accept
// error is returned. Serve closes ln when it returns.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
		s.wg.Done()
	}()

	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			if !temporary(err) {
				return fmt.Errorf("frame: accept on %s: %w", ln.Addr(), err)
			}
			backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
			select {
			case <-time.After(backoff):
			case <-s.done:
				return ErrServerClosed
			}
			continue
		}
		backoff = 0
		s.accept(conn)
	}
}

// accept starts serving conn, or refuses it when the server is full.
func (s *Server) accept(conn net.Conn) {
	c, id, n, err := s.admit(conn)
	if c != nil {
		go s.serveClient(c, n)
		return
	}
	remote := conn.RemoteAddr().String()
	conn.Close()
	if errors.Is(err, ErrServerFull) || errors.Is(err, ErrTooManyFromIP) {
		s.emit(Event{Kind: EventError, Client: id, Remote: remote, Err: err, Clients: n})
	}
}

// temporary reports whether an accept error is worth retrying.
func temporary(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS,
		syscall.ENOMEM, syscall.ECONNABORTED, syscall.EINTR, syscall.EAGAIN} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// emit hands e to OnEvent, stamped with the time.
func (s *Server) emit(e Event) {
	if s.cfg.OnEvent != nil {
		e.Time = time.Now()
		s.cfg.OnEvent(e)
	}
}

// Shutdown stops accepting, closes every listener and every client, and
// waits until all their goroutines have ended or ctx is done. The server
// cannot be used again.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
	for ln := range s.listeners {
		ln.Close()
	}
	for _, c := range s.clients {
		c.conn.Close()
	}
	s.mu.Unlock()

	finished := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("frame: shutdown: %d clients still closing: %w", len(s.Clients()), ctx.Err())
	}
}
