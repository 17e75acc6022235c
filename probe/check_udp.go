package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/reach-net/reach/frame"
)

// NoAnswer is the verdict of a UDP check that heard nothing back. Silence
// proves nothing by itself: the port may not be forwarded, a firewall may
// drop it, or the program there may not echo.
const NoAnswer Verdict = "no-answer"

const (
	// udpResends is how many times a UDP probe is sent again after the
	// first: one lost datagram must not make a reachable port look silent.
	udpResends = 3
	// udpResendGap is the pause between sends: far above a home path's
	// round trip, so that an echo on the way is not sent for again, short
	// enough that four sends take under a second.
	udpResendGap = 250 * time.Millisecond
	// udpLastWait is how long to wait after the last send: an echo takes
	// one round trip, under a second on any path but a satellite one.
	udpLastWait = time.Second
)

// udpAnswer is what came back for one UDP probe.
type udpAnswer struct {
	echoed   bool
	rtt      time.Duration
	sent     int    // datagrams sent
	other    []byte // the first reply that was not an echo, at most replyPeek bytes
	refused  bool   // ICMP port unreachable
	err      error  // what ended the wait, when not echoed
	writeErr bool   // err came from sending
	waited   time.Duration
}

// CheckUDP sends a probe frame in one UDP datagram to target (host:port),
// resent udpResends times udpResendGap apart, each time with a fresh
// nonce, and waits for the echo of any of them; cfg.Count probes in turn.
// Verdicts: Verified, Open (a reply that is not the echo), Refused (ICMP
// port unreachable, which a connected socket reports), NoAnswer, or
// Unreachable. Cfg.Dial is called with network "udp". It never takes
// longer than cfg.Timeout; on cancel it returns early (NoAnswer if
// nothing came) and callers tell that case by ctx.Err().
func CheckUDP(ctx context.Context, target string, cfg CheckConfig) CheckResult {
	cfg = cfg.withDefaults()
	timeout, maxFrame, dial := cfg.Timeout, cfg.MaxFrame, cfg.Dial
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res := CheckResult{Target: target}
	port := portOf(target)

	conn, err := dial(ctx, "udp", target)
	if err != nil {
		return dialFailed(res, err, timeout, port)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	scope := ""
	if ap, err := netip.ParseAddrPort(conn.RemoteAddr().String()); err == nil {
		scope = ScopeOf(ap.Addr())
	}

	count := max(cfg.Count, 1)
	for i := range count {
		ans := udpRoundTrip(ctx, conn)
		if ans.echoed || ans.refused || len(ans.other) > 0 {
			res.Scope = scope
		}
		if !ans.echoed {
			out := udpNoEcho(res, ans, port, maxFrame)
			if i == 0 {
				return out
			}
			res.Verdict, res.Peer = Verified, PeerReach
			res.Detail = fmt.Sprintf("%d of %d UDP probes echoed (rtt %s), then: %s", i, count, rttSummary(res), out.Detail)
			return res
		}
		res.RTTs = append(res.RTTs, ans.rtt)
	}
	res.Verdict, res.Peer = Verified, PeerReach
	if count == 1 {
		res.Detail = fmt.Sprintf("a reach server echoed the UDP probe in %s", Round(res.RTTs[0]))
	} else {
		res.Detail = fmt.Sprintf("a reach server echoed %d of %d UDP probes; rtt %s", count, count, rttSummary(res))
	}
	return res
}

// udpRoundTrip sends one probe on a connected UDP socket, resending it
// udpResends times, and reads until its echo, a refusal or the end.
func udpRoundTrip(ctx context.Context, conn net.Conn) udpAnswer {
	send := func(b []byte) error { _, err := conn.Write(b); return err }
	return udpExchange(ctx, send, conn.Read, conn.SetReadDeadline)
}

// udpExchange sends a probe frame with send, again every udpResendGap up
// to udpResends times (each with a fresh nonce), and reads datagrams with
// recv until one is the echo of any of them, recv or send fails, or
// udpLastWait after the last send. setReadDeadline bounds each recv.
func udpExchange(ctx context.Context, send func([]byte) error, recv func([]byte) (int, error),
	setReadDeadline func(time.Time) error) udpAnswer {
	start := time.Now()
	var ans udpAnswer
	var sent [][]byte      // the frames sent, each with its own nonce
	var sentAt []time.Time // when each was sent
	buf := make([]byte, 64<<10)
	for {
		if err := ctx.Err(); err != nil {
			ans.err, ans.waited = err, time.Since(start)
			return ans
		}
		if len(sent) <= udpResends && (len(sent) == 0 || time.Since(sentAt[len(sent)-1]) >= udpResendGap) {
			f := frame.Append(nil, NewProbe())
			if err := send(f); err != nil {
				ans.refused = errors.Is(err, syscall.ECONNREFUSED)
				ans.err, ans.writeErr, ans.waited = err, true, time.Since(start)
				return ans
			}
			sent, sentAt = append(sent, f), append(sentAt, time.Now())
			ans.sent = len(sent)
		}
		wait := udpResendGap
		if len(sent) > udpResends {
			wait = udpLastWait
		}
		setReadDeadline(sentAt[len(sent)-1].Add(wait))
		n, err := recv(buf)
		if err != nil {
			if isTimeout(err) && ctx.Err() == nil && len(sent) <= udpResends {
				continue // time to send again
			}
			ans.refused = errors.Is(err, syscall.ECONNREFUSED)
			ans.err, ans.waited = err, time.Since(start)
			return ans
		}
		for i, f := range sent {
			if bytes.Equal(buf[:n], f) {
				ans.echoed, ans.rtt = true, time.Since(sentAt[i])
				return ans
			}
		}
		if ans.other == nil {
			ans.other = bytes.Clone(buf[:min(n, replyPeek)])
		}
	}
}

// udpNoEcho turns a UDP probe that was not echoed into a verdict.
func udpNoEcho(res CheckResult, ans udpAnswer, port string, maxFrame int) CheckResult {
	serve := fmt.Sprintf("to verify the path, run `reach serve --port %s --proto udp` on the host in its place "+
		"(or `reach expose --port %s --proto udp`)", port, port)
	switch {
	case len(ans.other) > 0:
		res.Verdict = Open
		var what string
		res.Peer, what = describeReply(ans.other, maxFrame)
		res.Detail = fmt.Sprintf("UDP port %s answered, but not with our echo: %s", port, what)
		res.Cause = "a program receives UDP on the port and answers, but is not a reach server"
		res.Next = "the path works for that program; " + serve
	case ans.refused:
		res.Verdict = Refused
		res.Detail = fmt.Sprintf("ICMP port unreachable: nothing receives UDP port %s there (%v)", port, ans.err)
		res.Cause = "no program listens on that UDP port at that address: the router does not forward it " +
			"(and answered for itself), or nothing listens on the host"
		res.Next = fmt.Sprintf("on the host run `reach expose --port %s --proto udp`, or forward UDP port %s on the router by hand", port, port)
	case errors.Is(ans.err, syscall.EHOSTUNREACH), errors.Is(ans.err, syscall.ENETUNREACH):
		res.Verdict = Unreachable
		res.Detail = fmt.Sprintf("a router reported the host or network unreachable (%v)", ans.err)
		res.Cause = "a wrong address, a host that is off, or no route from here"
		res.Next = "check the address (`reach diagnose` on the host shows its public address) and this machine's own connection"
	case errors.Is(ans.err, context.Canceled):
		res.Verdict = NoAnswer
		res.Detail = "check canceled before any answer"
	default:
		res.Verdict = NoAnswer
		res.Detail = fmt.Sprintf("no answer to %d UDP probes in %s; silence proves nothing by itself", ans.sent, ans.waited.Round(time.Millisecond))
		res.Cause = fmt.Sprintf("the router does not forward UDP port %s, a firewall drops it, or the program there does not echo "+
			"(a game server answers only its own protocol)", port)
		res.Next = serve + "; with the program itself, test with its own client from outside"
	}
	return res
}
