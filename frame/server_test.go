package frame

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// waitLimit guards tests against hanging; it is never what a test checks.
const waitLimit = 30 * time.Second

// recorder keeps the events a server emits and lets a test wait for one.
type recorder struct {
	mu      sync.Mutex
	events  []Event
	changed chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) on(e Event) {
	e.Payload = bytes.Clone(e.Payload) // valid only during the callback
	r.mu.Lock()
	r.events = append(r.events, e)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// count returns how many events match.
func (r *recorder) count(match func(Event) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if match(e) {
			n++
		}
	}
	return n
}

// waitCount waits until at least n events match and returns them.
func (r *recorder) waitCount(t *testing.T, what string, n int, match func(Event) bool) []Event {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		r.mu.Lock()
		var got []Event
		for _, e := range r.events {
			if match(e) {
				got = append(got, e)
			}
		}
		ch := r.changed
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("waited %s for %d %s events, got %d", waitLimit, n, what, len(got))
		}
	}
}

func kind(k EventKind) func(Event) bool { return func(e Event) bool { return e.Kind == k } }

func errorIs(target error) func(Event) bool {
	return func(e Event) bool { return e.Kind == EventError && errors.Is(e.Err, target) }
}

// startServer serves cfg on a loopback port and shuts it down at cleanup,
// checking that Serve then returns ErrServerClosed.
func startServer(t testing.TB, cfg ServerConfig) (*Server, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startServerOn(t, cfg, ln)
}

// startServerOn is startServer on a listener the test made.
func startServerOn(t testing.TB, cfg ServerConfig, ln net.Listener) (*Server, string) {
	s := NewServer(cfg)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return s, ln.Addr().String()
}

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends payload as a frame on c and checks the echo.
func roundTrip(c net.Conn, r *Reader, payload []byte) error {
	if err := Write(c, payload); err != nil {
		return err
	}
	got, err := r.Next()
	if err != nil {
		return fmt.Errorf("reading echo of %d bytes: %w", len(payload), err)
	}
	if !bytes.Equal(got, payload) {
		return fmt.Errorf("echo of %d bytes came back as %d different bytes", len(payload), len(got))
	}
	return nil
}

// expectClosed checks that the server closed c (EOF or reset) without
// sending anything.
func expectClosed(t *testing.T, c net.Conn, why string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	n, err := c.Read(make([]byte, 16))
	if n != 0 || err == nil || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("%s: read %d bytes, err %v; want the server to close the connection", why, n, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: server did not close the connection", why)
	}
}

func TestServerEchoesManyClients(t *testing.T) {
	rec := newRecorder()
	s, addr := startServer(t, ServerConfig{OnEvent: rec.on})
	const clients, frames = 200, 10
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			r := NewReader(c, 0)
			for j := range frames {
				payload := []byte(strings.Repeat(fmt.Sprintf("client %d frame %d;", i, j), i*j%50))
				if i == 7 && j == 3 {
					payload = bytes.Repeat([]byte{byte(i)}, 200_000) // bigger than firstChunk
				}
				if err := roundTrip(c, r, payload); err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	disc := rec.waitCount(t, "disconnect", clients, kind(EventDisconnect))
	for _, e := range disc {
		if e.Err != nil {
			t.Errorf("client %d %s disconnected with %v, want a clean close", e.Client, e.Remote, e.Err)
		}
	}
	if n := rec.count(kind(EventMessage)); n != clients*frames {
		t.Errorf("%d message events, want %d", n, clients*frames)
	}
	if n := rec.count(kind(EventError)); n != 0 {
		t.Errorf("%d error events for well-behaved clients", n)
	}
	if got := s.Clients(); len(got) != 0 {
		t.Errorf("Clients() after all left = %v", got)
	}
}

func TestServerEventsAndClients(t *testing.T) {
	rec := newRecorder()
	s, addr := startServer(t, ServerConfig{OnEvent: rec.on})
	c := dial(t, addr)
	r := NewReader(c, 0)
	for _, m := range []string{"hola", "", "adiós"} {
		if err := roundTrip(c, r, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	msgs := rec.waitCount(t, "message", 3, kind(EventMessage))
	if string(msgs[0].Payload) != "hola" || string(msgs[2].Payload) != "adiós" || msgs[0].Client != 1 {
		t.Errorf("message events = %+v", msgs)
	}
	if msgs[0].Remote != c.LocalAddr().String() {
		t.Errorf("event remote %q, want the client's address %q", msgs[0].Remote, c.LocalAddr())
	}
	info := s.Clients()
	if len(info) != 1 || info[0].ID != 1 || info[0].Frames != 3 || info[0].Remote != c.LocalAddr().String() {
		t.Errorf("Clients() = %+v, want client 1 from %s with 3 frames", info, c.LocalAddr())
	}
	conn := rec.waitCount(t, "connect", 1, kind(EventConnect))
	if conn[0].Clients != 1 || conn[0].Time.IsZero() {
		t.Errorf("connect event = %+v", conn[0])
	}
	c.Close()
	d := rec.waitCount(t, "disconnect", 1, kind(EventDisconnect))
	if d[0].Client != 1 || d[0].Clients != 0 || d[0].Err != nil {
		t.Errorf("disconnect event = %+v", d[0])
	}
}

func TestServerShutdown(t *testing.T) {
	rec := newRecorder()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(ServerConfig{OnEvent: rec.on})
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	var conns []net.Conn
	for range 5 {
		c := dial(t, ln.Addr().String())
		if err := roundTrip(c, NewReader(c, 0), []byte("x")); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v, want ErrServerClosed", err)
	}
	for i, c := range conns {
		expectClosed(t, c, fmt.Sprintf("client %d after Shutdown", i+1))
	}
	if got := s.Clients(); len(got) != 0 {
		t.Errorf("Clients() after Shutdown = %v", got)
	}
	// Shutdown waited for every client goroutine: all disconnects are in.
	if n := rec.count(func(e Event) bool {
		return e.Kind == EventDisconnect && errors.Is(e.Err, ErrServerClosed)
	}); n != 5 {
		t.Errorf("%d disconnect events with ErrServerClosed, want 5", n)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("listener still accepts after Shutdown")
	}
	if err := s.Serve(ln); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown = %v, want ErrServerClosed", err)
	}
}

// flakyListener fails its first accepts with EMFILE, like a process out of
// file descriptors, then accepts for real.
type flakyListener struct {
	net.Listener
	mu       sync.Mutex
	failures int
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	fail := l.failures > 0
	l.failures--
	l.mu.Unlock()
	if fail {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

func TestServerRetriesTemporaryAcceptErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(ServerConfig{})
	served := make(chan error, 1)
	go func() { served <- s.Serve(&flakyListener{Listener: ln, failures: 3}) }()
	c := dial(t, ln.Addr().String())
	if err := roundTrip(c, NewReader(c, 0), []byte("after EMFILE")); err != nil {
		t.Fatalf("no echo after temporary accept errors: %v", err)
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve = %v, want ErrServerClosed", err)
	}
}

type brokenListener struct{ net.Listener }

func (brokenListener) Accept() (net.Conn, error) { return nil, errors.New("listener broken") }

func TestServerReturnsPermanentAcceptError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	err = NewServer(ServerConfig{}).Serve(brokenListener{ln})
	if err == nil || errors.Is(err, ErrServerClosed) || !strings.Contains(err.Error(), "listener broken") {
		t.Fatalf("Serve = %v, want the accept error", err)
	}
}

// TestShutdownGivesUpAtContext: a client goroutine stuck in OnEvent keeps
// Shutdown waiting only until its context ends.
func TestShutdownGivesUpAtContext(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(ServerConfig{OnEvent: func(e Event) {
		if e.Kind == EventConnect {
			entered <- struct{}{}
			<-release
		}
	}})
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	dial(t, ln.Addr().String())
	<-entered
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
	close(release)
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatalf("second Shutdown = %v", err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve = %v", err)
	}
}

// readReportingListener hands the server connections that report the size
// of each of its reads that returned bytes.
type readReportingListener struct {
	net.Listener
	reads chan int
}

func (l readReportingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return readReportingConn{c, l.reads}, nil
}

type readReportingConn struct {
	net.Conn
	reads chan<- int
}

func (c readReportingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.reads <- n
	}
	return n, err
}

// One frame sent in pieces, each read by the server before the next is
// sent (the header itself split), is one message, echoed whole.
func TestServerOneFrameSplitAcrossReads(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reads := make(chan int, 1024)
	rec := newRecorder()
	_, addr := startServerOn(t, ServerConfig{OnEvent: rec.on}, readReportingListener{ln, reads})
	c := dial(t, addr)
	payload := []byte(strings.Repeat("one frame, many reads; ", 400)) // 9 KiB
	wire := Append(nil, payload)
	cuts := [][2]int{{0, 1}, {1, 3}, {3, 100}, {100, 3000}, {3000, 7000}, {7000, len(wire)}}
	var sizes []int
	for i, cut := range cuts {
		if _, err := c.Write(wire[cut[0]:cut[1]]); err != nil {
			t.Fatal(err)
		}
		// The next piece is not sent before the server has read all of
		// this one, so none of its reads can hold bytes of two pieces.
		for got := 0; got < cut[1]-cut[0]; {
			select {
			case n := <-reads:
				got += n
				sizes = append(sizes, n)
			case <-time.After(waitLimit):
				t.Fatalf("the server read %d of the %d bytes of piece %d", got, cut[1]-cut[0], i)
			}
		}
		if i < len(cuts)-1 && rec.count(kind(EventMessage)) != 0 {
			t.Fatalf("a message event after %d of the frame's %d bytes", cut[1], len(wire))
		}
	}
	if len(sizes) < len(cuts) {
		t.Fatalf("the server read the frame in %d reads (%v), want at least %d", len(sizes), sizes, len(cuts))
	}
	readEchoes(t, c, wire)
	msgs := rec.waitCount(t, "message", 1, kind(EventMessage))
	if len(msgs) != 1 || !bytes.Equal(msgs[0].Payload, payload) {
		t.Fatalf("%d message events; want one with the whole payload", len(msgs))
	}
}
