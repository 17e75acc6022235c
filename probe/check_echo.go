package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/reach-net/reach/frame"
)

// answer is what came back for one probe.
type answer struct {
	echoed   bool
	got      []byte // bytes received, when not the whole echo
	partial  bool   // got is the start of the echo
	err      error  // what ended the wait, when not echoed
	writeErr bool   // err came from sending the probe
	waited   time.Duration
}

// roundTrip sends one probe on conn and reads the reply.
func roundTrip(ctx context.Context, conn net.Conn) (time.Duration, answer) {
	probe := NewProbe()
	want := frame.Append(nil, probe)
	start := time.Now()
	deadline := start.Add(echoWait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetDeadline(deadline)
	if err := ctx.Err(); err != nil { // canceled before the deadline was set
		return 0, answer{err: err}
	}
	if err := frame.Write(conn, probe); err != nil {
		return 0, answer{err: err, writeErr: true}
	}
	buf := make([]byte, replyPeek)
	got := 0
	for got < len(want) {
		n, err := conn.Read(buf[got:len(want)])
		got += n
		if !bytes.Equal(buf[:got], want[:got]) {
			// Not our echo: gather a little more to say what it is.
			if more := time.Now().Add(describeWait); more.Before(deadline) {
				conn.SetReadDeadline(more)
			}
			for err == nil && got < len(buf) {
				n, err = conn.Read(buf[got:])
				got += n
			}
			return 0, answer{got: buf[:got], err: err, waited: time.Since(start)}
		}
		if err != nil {
			return 0, answer{got: buf[:got], partial: got > 0, err: err, waited: time.Since(start)}
		}
	}
	return time.Since(start), answer{echoed: true}
}

// noEcho turns a probe that was not echoed into a verdict.
func noEcho(res CheckResult, ans answer, port string, maxFrame int) CheckResult {
	serve := serveAdvice(port)
	res.Verdict = Open
	switch {
	case ans.partial:
		res.Peer = PeerOther
		res.Detail = fmt.Sprintf("the echo stopped after %d bytes: %v", len(ans.got), ans.err)
		res.Cause = "the peer began to echo the probe and then stopped: a reach server that was stopped, or a path that cuts connections"
		res.Next = "run the check again; if it repeats, " + serve
	case len(ans.got) > 0:
		res.Peer, res.Detail = describeReply(ans.got, maxFrame)
		res.Cause = notReach(res.Peer)
		res.Next = "check which program listens on port " + port + " on the host; " + serve
	case errors.Is(ans.err, syscall.ECONNRESET) || errors.Is(ans.err, syscall.EPIPE):
		res.Verdict = Reset
		res.Detail = fmt.Sprintf("connected, then the connection was reset before any answer (%v)", ans.err)
		res.Cause = resetCause
		res.Next = "check the host's firewall and which program listens on port " + port + "; " + serve
	case errors.Is(ans.err, io.EOF):
		res.Peer = PeerClosed
		res.Detail = "connected, then the peer closed the connection without answering the probe"
		res.Cause = "a program listens on the port but is not a reach server: it closed the connection on our probe"
		res.Next = "check which program listens on port " + port + " on the host; " + serve
	case errors.Is(ans.err, context.Canceled):
		res.Verdict = Timeout
		res.Detail = "check canceled before the peer answered"
	case isTimeout(ans.err):
		res.Peer = PeerSilent
		res.Detail = fmt.Sprintf("connected, but no answer to the probe within %s", ans.waited.Round(time.Millisecond))
		res.Cause = "a program listens on the port but does not echo: for example a server built from the guide, which only receives " +
			"(a web server that waits for a whole request line looks the same)"
		res.Next = serve
	default:
		res.Peer = PeerOther
		res.Detail = fmt.Sprintf("connected, then: %v", ans.err)
		res.Cause = "the connection failed after it was made"
		res.Next = "run the check again; " + serve
	}
	return res
}

// resetCause explains a connection reset after the TCP handshake.
const resetCause = "something accepted the connection and then cut it: a program refusing this client, or a firewall or router dropping connections"

// serveAdvice says how to verify the path with a reach server on port.
func serveAdvice(port string) string {
	return fmt.Sprintf("to verify the path, run `reach serve --port %s` on the host in its place (or `reach expose --port %s`)", port, port)
}

// notReach says what kind of program answered instead of a reach server.
func notReach(peer string) string {
	switch peer {
	case PeerHTTP:
		return "a web server listens on the port, not a reach server"
	case PeerSSH:
		return "an SSH server listens on the port, not a reach server"
	case PeerTLS:
		return "a TLS server (HTTPS or similar) listens on the port, not a reach server"
	}
	return "another program listens on the port and answered with something other than our echo"
}
