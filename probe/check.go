package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/reach-net/reach/frame"
)

// Verdict is what a check concluded about a target.
type Verdict string

// The verdicts of a check, as `reach check` prints them.
const (
	Verified    Verdict = "verified"    // a reach server echoed the probe
	Open        Verdict = "open"        // TCP connected, but no valid echo
	Refused     Verdict = "refused"     // the connection attempt was refused (TCP reset)
	Timeout     Verdict = "timeout"     // no answer to the connection attempt
	Unreachable Verdict = "unreachable" // a router reported no route, or the name does not resolve
	Reset       Verdict = "reset"       // connected, then reset before any answer
)

const (
	// DefaultCheckTimeout bounds a whole check: a TCP connect that gets no
	// answer in 5 s will not get one (the first SYN retry is at 1 s, the
	// second at 3 s), and a person is waiting.
	DefaultCheckTimeout = 5 * time.Second
	// echoWait is the longest wait for one echo: a reach server echoes
	// within one round trip, which is under 1 s on any path but a satellite
	// one; waiting longer only delays the "silent" verdict.
	echoWait = 2 * time.Second
	// describeWait is how long to gather the rest of a reply that is not
	// our echo: a banner or status line comes in one segment.
	describeWait = 250 * time.Millisecond
	// replyPeek is the most bytes of a reply kept to describe it.
	replyPeek = 512
)

// CheckConfig configures Check.
type CheckConfig struct {
	Count    int           // probes sent, one after another on one connection; zero means 1
	Timeout  time.Duration // the whole check; zero means DefaultCheckTimeout
	MaxFrame int           // a reply whose header announces at most this is described as a frame; zero means frame.DefaultMaxFrame
	// Dial opens the connection; nil means a net.Dialer. Tests inject one.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// CheckResult is the outcome of Check, with its evidence and advice.
type CheckResult struct {
	Target  string
	Verdict Verdict
	RTTs    []time.Duration // round trip of each echoed probe
	Detail  string          // one line of evidence
	Cause   string          // the likely cause, in plain words; empty when verified
	Next    string          // what to do next; empty when verified
	// Peer is what the program at the target looks like: PeerReach when
	// verified; when open PeerHTTP, PeerSSH, PeerTLS, PeerSilent,
	// PeerClosed or PeerOther; empty when no connection was made.
	Peer string
	// Scope says what a connection to the target proves: ScopeInternet
	// for a public address; ScopeLoopback or ScopeLAN only that the
	// server answers there, nothing about the internet. Empty when no
	// connection was made.
	Scope string
}

// The scopes of a check target.
const (
	ScopeLoopback = "loopback" // this host
	ScopeLAN      = "lan"      // a private, shared or link-local address
	ScopeInternet = "internet" // a public address
)

// ScopeOf says what reaching a at all proves.
func ScopeOf(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case a.IsLoopback():
		return ScopeLoopback
	case ClassifyAddr(a) == AddrPublic:
		return ScopeInternet
	}
	return ScopeLAN
}

// withDefaults fills in cfg's zero values.
func (cfg CheckConfig) withDefaults() CheckConfig {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultCheckTimeout
	}
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = frame.DefaultMaxFrame
	}
	if cfg.Dial == nil {
		cfg.Dial = (&net.Dialer{}).DialContext
	}
	return cfg
}

// Min returns the shortest round trip, or zero if none.
func (r CheckResult) Min() time.Duration {
	var m time.Duration
	for i, d := range r.RTTs {
		if i == 0 || d < m {
			m = d
		}
	}
	return m
}

// Max returns the longest round trip, or zero if none.
func (r CheckResult) Max() time.Duration {
	var m time.Duration
	for _, d := range r.RTTs {
		m = max(m, d)
	}
	return m
}

// Avg returns the mean round trip, or zero if none.
func (r CheckResult) Avg() time.Duration {
	if len(r.RTTs) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range r.RTTs {
		sum += d
	}
	return sum / time.Duration(len(r.RTTs))
}

// Check connects to target (host:port), sends a probe frame and waits for
// its echo, cfg.Count times on one connection, and says what it found. It
// never takes longer than cfg.Timeout. When ctx is canceled it returns
// early with the verdict so far (Timeout if none); callers tell that case by
// ctx.Err().
func Check(ctx context.Context, target string, cfg CheckConfig) CheckResult {
	cfg = cfg.withDefaults()
	timeout, maxFrame, dial := cfg.Timeout, cfg.MaxFrame, cfg.Dial
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res := CheckResult{Target: target}
	port := portOf(target)

	conn, err := dial(ctx, "tcp", target)
	if err != nil {
		return dialFailed(res, err, timeout, port)
	}
	defer conn.Close()
	if ap, err := netip.ParseAddrPort(conn.RemoteAddr().String()); err == nil {
		res.Scope = ScopeOf(ap.Addr())
	}
	// Each wait below has a deadline; this ends it at once on cancel.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	count := max(cfg.Count, 1)
	for i := range count {
		rtt, ans := roundTrip(ctx, conn)
		if !ans.echoed {
			if i == 0 {
				return noEcho(res, ans, port, maxFrame)
			}
			why := noEcho(res, ans, port, maxFrame).Detail
			res.Verdict, res.Peer = Verified, PeerReach
			res.Detail = fmt.Sprintf("%d of %d probes echoed (rtt %s), then: %s", i, count, rttSummary(res), why)
			return res
		}
		res.RTTs = append(res.RTTs, rtt)
	}
	res.Verdict, res.Peer = Verified, PeerReach
	if count == 1 {
		res.Detail = fmt.Sprintf("a reach server echoed the probe in %s", Round(res.RTTs[0]))
	} else {
		res.Detail = fmt.Sprintf("a reach server echoed %d of %d probes; rtt %s", count, count, rttSummary(res))
	}
	return res
}

// rttSummary is "min/avg/max a/b/c".
func rttSummary(r CheckResult) string {
	return fmt.Sprintf("min/avg/max %s/%s/%s", Round(r.Min()), Round(r.Avg()), Round(r.Max()))
}

// Round shortens a round trip for people: 112µs, 1.23ms, 1.2s.
func Round(d time.Duration) time.Duration {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond)
	case d < 100*time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

// portOf returns the port of host:port, or "PORT" if there is none.
func portOf(target string) string {
	if _, port, err := net.SplitHostPort(target); err == nil && port != "" {
		return port
	}
	return "PORT"
}

// dialFailed turns a failed connection attempt into a verdict.
func dialFailed(res CheckResult, err error, timeout time.Duration, port string) CheckResult {
	res.Detail = err.Error()
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		res.Verdict = Refused
		res.Cause = "nothing listens on that port at that address, or the router does not forward it and answers with a reset"
		res.Next = fmt.Sprintf("on the host run `reach expose --port %s` (it maps the port and serves), or forward port %s on the router by hand", port, port)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.EHOSTDOWN), errors.Is(err, syscall.ENETDOWN):
		res.Verdict = Unreachable
		res.Cause = "a router on the way reported the host or network unreachable: a wrong address, a host that is off, or no route from here (for example no IPv6 on this network)"
		res.Next = "check the address (`reach diagnose` on the host shows its public address) and this machine's own connection"
	case errors.Is(err, syscall.ECONNRESET):
		res.Verdict = Reset
		// The handshake completed (a refusal would be ECONNREFUSED), then a
		// reset came before the dialer looked: the same as a later reset.
		res.Cause = resetCause
		res.Next = fmt.Sprintf("check the host's firewall and which program listens on port %s; %s", port, serveAdvice(port))
	case errors.As(err, &dnsErr) && !dnsErr.IsTimeout:
		res.Verdict = Unreachable
		res.Cause = "the name does not resolve"
		res.Next = "check the spelling, or use the public address `reach diagnose` shows on the host"
	case errors.Is(err, context.Canceled):
		res.Verdict = Timeout
		res.Detail = "check canceled before the connection was made"
	case isTimeout(err):
		res.Verdict = Timeout
		res.Detail = fmt.Sprintf("no answer to the connection attempt within %s (%v)", timeout, err)
		res.Cause = "no answer: a firewall drops the packets, or the router does not forward the port"
		res.Next = fmt.Sprintf("on the host run `reach expose --port %s`, or forward port %s on the router by hand; check the host's firewall allows TCP port %s", port, port, port)
	default:
		res.Verdict = Unreachable
		res.Cause = "the connection could not be made"
		res.Next = "check the address and this machine's own connection"
	}
	return res
}

// isTimeout reports whether err is a deadline or a connection timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, syscall.ETIMEDOUT) || errors.As(err, &ne) && ne.Timeout()
}
