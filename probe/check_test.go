package probe

import (
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

	"github.com/reach-net/reach/frame"
)

// shortTimeout keeps checks against silent fakes quick; the verdict, not
// the time taken, is what the tests check.
const shortTimeout = 300 * time.Millisecond

// fakePeer listens on loopback and hands each connection to handle.
func fakePeer(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// echoServer starts a reach frame server on loopback.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := frame.NewServer(frame.ServerConfig{})
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return ln.Addr().String()
}

// readUntilClosed reads and drops everything, like a guide server that
// only receives; it returns when the client leaves.
func readUntilClosed(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(10 * shortTimeout))
	io.Copy(io.Discard, c)
}

func wantVerdict(t *testing.T, r CheckResult, v Verdict, peer string) {
	t.Helper()
	if r.Verdict != v || r.Peer != peer {
		t.Fatalf("verdict %s (peer %q), want %s (peer %q); detail: %s", r.Verdict, r.Peer, v, peer, r.Detail)
	}
	if r.Detail == "" || strings.Contains(r.Detail, "\n") {
		t.Errorf("detail %q is not one line of evidence", r.Detail)
	}
	if v != Verified && (r.Cause == "" || r.Next == "") {
		t.Errorf("verdict %s without cause (%q) or next step (%q)", v, r.Cause, r.Next)
	}
}

func TestCheckVerified(t *testing.T) {
	addr := echoServer(t)
	r := Check(t.Context(), addr, CheckConfig{Count: 3})
	wantVerdict(t, r, Verified, PeerReach)
	if len(r.RTTs) != 3 {
		t.Fatalf("%d RTTs, want 3", len(r.RTTs))
	}
	if r.Min() <= 0 || r.Min() > r.Avg() || r.Avg() > r.Max() {
		t.Errorf("rtt min/avg/max %s/%s/%s out of order", r.Min(), r.Avg(), r.Max())
	}
	if r.Target != addr || r.Cause != "" {
		t.Errorf("result %+v", r)
	}
	one := Check(t.Context(), addr, CheckConfig{})
	wantVerdict(t, one, Verified, PeerReach)
	if len(one.RTTs) != 1 {
		t.Errorf("Count 0: %d RTTs, want 1", len(one.RTTs))
	}
}

// TestCheckEchoThenSilence: a server that echoes once and then only reads.
func TestCheckEchoThenSilence(t *testing.T) {
	addr := fakePeer(t, func(c net.Conn) {
		r := frame.NewReader(c, 0)
		if p, err := r.Next(); err == nil {
			frame.Write(c, p)
		}
		readUntilClosed(c)
	})
	r := Check(t.Context(), addr, CheckConfig{Count: 3, Timeout: shortTimeout})
	wantVerdict(t, r, Verified, PeerReach)
	if len(r.RTTs) != 1 || !strings.Contains(r.Detail, "1 of 3") {
		t.Fatalf("%d RTTs, detail %q; want 1 RTT and the loss said", len(r.RTTs), r.Detail)
	}
}

func TestCheckOpen(t *testing.T) {
	tests := []struct {
		name     string
		handle   func(net.Conn)
		peer     string
		contains string
	}{
		{"guide server that only receives", readUntilClosed, PeerSilent, "no answer"},
		{"ssh", func(c net.Conn) {
			c.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
			readUntilClosed(c)
		}, PeerSSH, "SSH-2.0-OpenSSH_9.2"},
		{"http server rejecting the probe", func(c net.Conn) {
			c.Read(make([]byte, 1024)) // like nginx: the first byte is no method, 400 at once
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nConnection: close\r\n\r\n"))
		}, PeerHTTP, "HTTP/1.1 400 Bad Request"},
		{"tls alert", func(c net.Conn) {
			c.Read(make([]byte, 1024))
			c.Write([]byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32})
		}, PeerTLS, "decode_error"},
		{"framed reply that is not the echo", func(c net.Conn) {
			if _, err := frame.NewReader(c, 0).Next(); err == nil {
				frame.Write(c, []byte("thanks"))
			}
			readUntilClosed(c)
		}, PeerOther, `"thanks"`},
		{"half an echo", func(c net.Conn) {
			r := frame.NewReader(c, 0)
			if _, err := r.Next(); err == nil {
				c.Write(r.Frame()[:10])
			}
		}, PeerOther, "stopped after 10 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakePeer(t, tc.handle)
			r := Check(t.Context(), addr, CheckConfig{Timeout: shortTimeout})
			wantVerdict(t, r, Open, tc.peer)
			if !strings.Contains(r.Detail, tc.contains) {
				t.Errorf("detail %q does not contain %q", r.Detail, tc.contains)
			}
		})
	}
}

func TestCheckSilentSaysGuide(t *testing.T) {
	r := Check(t.Context(), fakePeer(t, readUntilClosed), CheckConfig{Timeout: shortTimeout})
	wantVerdict(t, r, Open, PeerSilent)
	if !strings.Contains(r.Cause, "guide") {
		t.Errorf("cause %q does not name the guide-style server", r.Cause)
	}
}

// TestCheckClosedAtOnce: the peer accepts and closes before the probe
// arrives (the dialer waits for that, so the order is certain).
func TestCheckClosedAtOnce(t *testing.T) {
	closed := make(chan struct{}, 1)
	addr := fakePeer(t, func(c net.Conn) {
		c.Close()
		closed <- struct{}{}
	})
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			<-closed
		}
		return c, err
	}
	r := Check(t.Context(), addr, CheckConfig{Timeout: shortTimeout, Dial: dial})
	wantVerdict(t, r, Open, PeerClosed)
}

func TestCheckReset(t *testing.T) {
	addr := fakePeer(t, func(c net.Conn) {
		c.(*net.TCPConn).SetLinger(0) // close with a reset, not a FIN
		c.Close()
	})
	r := Check(t.Context(), addr, CheckConfig{Timeout: shortTimeout})
	wantVerdict(t, r, Reset, "")
}

func TestCheckRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := Check(t.Context(), addr, CheckConfig{Timeout: shortTimeout})
	wantVerdict(t, r, Refused, "")
	if !strings.Contains(r.Cause, "nothing listens") || !strings.Contains(r.Next, "reach expose --port "+portOf(addr)) {
		t.Errorf("cause %q / next %q", r.Cause, r.Next)
	}
}

func TestCheckDialFailures(t *testing.T) {
	blackhole := func(ctx context.Context, network, addr string) (net.Conn, error) {
		<-ctx.Done() // a firewall that drops the SYN: no answer at all
		return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
	}
	failWith := func(err error) func(context.Context, string, string) (net.Conn, error) {
		return func(context.Context, string, string) (net.Conn, error) { return nil, err }
	}
	tests := []struct {
		name  string
		dial  func(context.Context, string, string) (net.Conn, error)
		want  Verdict
		cause string
	}{
		{"dropped", blackhole, Timeout, "firewall"},
		{"host unreachable", failWith(&net.OpError{Op: "dial", Net: "tcp",
			Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}), Unreachable, "unreachable"},
		{"network unreachable", failWith(&net.OpError{Op: "dial", Net: "tcp",
			Err: os.NewSyscallError("connect", syscall.ENETUNREACH)}), Unreachable, "no route"},
		{"no such host", failWith(&net.OpError{Op: "dial", Net: "tcp",
			Err: &net.DNSError{Err: "no such host", Name: "nope.invalid", IsNotFound: true}}), Unreachable, "does not resolve"},
		{"connect timeout", failWith(&net.OpError{Op: "dial", Net: "tcp",
			Err: os.NewSyscallError("connect", syscall.ETIMEDOUT)}), Timeout, "router does not forward"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Check(t.Context(), "198.51.100.7:1234", CheckConfig{Timeout: shortTimeout, Dial: tc.dial})
			wantVerdict(t, r, tc.want, "")
			if !strings.Contains(r.Cause, tc.cause) {
				t.Errorf("cause %q does not contain %q", r.Cause, tc.cause)
			}
		})
	}
}

func TestCheckCanceled(t *testing.T) {
	addr := fakePeer(t, readUntilClosed)
	ctx, cancel := context.WithCancel(t.Context())
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		cancel() // Ctrl-C while waiting for the echo
		return c, err
	}
	r := Check(ctx, addr, CheckConfig{Timeout: time.Hour, Dial: dial})
	if r.Verdict != Timeout || !strings.Contains(r.Detail, "canceled") {
		t.Fatalf("verdict %s, detail %q; want timeout and the cancel said", r.Verdict, r.Detail)
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatal(ctx.Err())
	}
}

func ExampleCheck() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	s := frame.NewServer(frame.ServerConfig{})
	go s.Serve(ln)
	defer s.Shutdown(context.Background())
	r := Check(context.Background(), ln.Addr().String(), CheckConfig{Count: 2})
	fmt.Println(r.Verdict, r.Peer, len(r.RTTs))
	// Output: verified reach 2
}
