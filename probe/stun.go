package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/pion/stun/v3"
)

// Waits of the STUN step.
const (
	// STUNTimeout bounds PublicAddr when ctx has no earlier deadline: public
	// STUN servers answer in well under 300 ms from anywhere; three seconds
	// covers a slow DNS lookup, a lost request and its resend.
	STUNTimeout = 3 * time.Second
	// stunResend is when a request is sent again if no reply came: UDP may
	// lose the first one, and STUN servers answer retransmissions (RFC 8489
	// 6.2.1, same transaction id). One resend is enough for a diagnosis.
	stunResend = 500 * time.Millisecond
	// stunMaxReply caps a read; a Binding response is under 100 bytes, and
	// RFC 8489 6.2.1 keeps STUN messages under 576 bytes without
	// fragmentation.
	stunMaxReply = 1500
)

// DefaultSTUNServers are well-known public STUN servers, asked in parallel
// when the user names none. Tests never use them.
var DefaultSTUNServers = []string{
	"stun.l.google.com:19302",
	"stun.cloudflare.com:3478",
}

// ErrSTUNNoAnswer means no STUN server gave a valid answer in time: UDP to
// the internet is blocked (a firewall), or the servers are unreachable.
var ErrSTUNNoAnswer = errors.New("probe: no STUN server answered; outgoing UDP may be blocked by a firewall, or pass --stun HOST:PORT")

// STUNResult is the public address one STUN server saw.
type STUNResult struct {
	// Server is the server as given ("host:port").
	Server string
	// Addr is this host's address and port as the server saw them.
	Addr netip.AddrPort
	// RTT is the time from the first request to the reply.
	RTT time.Duration
}

// PublicAddr asks every server (host:port) for this host's public address
// with one STUN Binding request each, in parallel over IPv4, and returns
// the first valid answer. It gives up after STUNTimeout or when ctx ends,
// with an error wrapping ErrSTUNNoAnswer and each server's failure.
func PublicAddr(ctx context.Context, servers []string) (STUNResult, error) {
	if len(servers) == 0 {
		return STUNResult{}, errors.New("probe: stun: no server given")
	}
	ctx, cancel := context.WithTimeout(ctx, STUNTimeout)
	defer cancel()
	type answer struct {
		res STUNResult
		err error
	}
	answers := make(chan answer, len(servers))
	for _, s := range servers {
		go func() {
			res, err := askSTUN(ctx, s)
			answers <- answer{res, err}
		}()
	}
	var errs []error
	for range servers {
		a := <-answers
		if a.err == nil {
			return a.res, nil // cancel (deferred) stops the others
		}
		errs = append(errs, a.err)
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return STUNResult{}, fmt.Errorf("probe: stun: %w", err)
	}
	return STUNResult{}, fmt.Errorf("%w: %w", ErrSTUNNoAnswer, errors.Join(errs...))
}

// askSTUN asks one server, resending once, until ctx ends.
func askSTUN(ctx context.Context, server string) (STUNResult, error) {
	addr, err := resolveSTUN(ctx, server)
	if err != nil {
		return STUNResult{}, err
	}
	conn, err := net.ListenUDP("udp4", nil)
	if err != nil {
		return STUNResult{}, fmt.Errorf("probe: stun %s: open socket: %w", server, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	req, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if err != nil {
		return STUNResult{}, fmt.Errorf("probe: stun: build request: %w", err)
	}
	var last error // the last reply rejected, to explain a timeout
	buf := make([]byte, stunMaxReply)
	start := time.Now()
	for attempt := 0; ; attempt++ {
		if attempt < 2 {
			if _, err := conn.WriteToUDPAddrPort(req.Raw, addr); err != nil {
				return STUNResult{}, fmt.Errorf("probe: stun %s (%s): send: %w", server, addr, err)
			}
		}
		deadline, _ := ctx.Deadline()
		if next := time.Now().Add(stunResend); attempt == 0 && next.Before(deadline) {
			deadline = next
		}
		conn.SetReadDeadline(deadline)
		if ctx.Err() != nil {
			return STUNResult{}, stunGaveUp(ctx, server, addr, last)
		}
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				if ctx.Err() != nil {
					return STUNResult{}, stunGaveUp(ctx, server, addr, last)
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break // resend
				}
				return STUNResult{}, fmt.Errorf("probe: stun %s (%s): read: %w", server, addr, err)
			}
			if from.Addr().Unmap() != addr.Addr() || from.Port() != addr.Port() {
				last = fmt.Errorf("ignored a reply from %s", from)
				continue
			}
			mapped, err := parseSTUNReply(buf[:n], req.TransactionID)
			if err != nil {
				last = err
				continue
			}
			return STUNResult{Server: server, Addr: mapped, RTT: time.Since(start)}, nil
		}
	}
}

func stunGaveUp(ctx context.Context, server string, addr netip.AddrPort, last error) error {
	err := fmt.Errorf("probe: stun %s (%s): no valid reply", server, addr)
	if last != nil {
		err = fmt.Errorf("%w (%v)", err, last)
	}
	if cause := context.Cause(ctx); !errors.Is(cause, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", err, cause)
	}
	return err
}

// resolveSTUN turns host:port into an IPv4 address: the NAT verdict is
// about the IPv4 path, which is the one behind NAT.
func resolveSTUN(ctx context.Context, server string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(server)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("probe: stun server %q: want host:port: %w", server, err)
	}
	p, err := net.LookupPort("udp", port)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("probe: stun server %q: bad port: %w", server, err)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !ip.Unmap().Is4() {
			return netip.AddrPort{}, fmt.Errorf("probe: stun server %q: want an IPv4 address or a name with one", server)
		}
		return netip.AddrPortFrom(ip.Unmap(), uint16(p)), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("probe: stun server %q: %w", server, err)
	}
	return netip.AddrPortFrom(ips[0].Unmap(), uint16(p)), nil
}

// parseSTUNReply checks that b is a STUN Binding success response to the
// request with transaction id tid and returns the address it reports:
// XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS from servers that predate it.
func parseSTUNReply(b []byte, tid [stun.TransactionIDSize]byte) (netip.AddrPort, error) {
	if !stun.IsMessage(b) {
		return netip.AddrPort{}, fmt.Errorf("probe: stun: %d bytes that are not a STUN message", len(b))
	}
	m := new(stun.Message)
	if err := stun.Decode(b, m); err != nil {
		return netip.AddrPort{}, fmt.Errorf("probe: stun: malformed reply: %w", err)
	}
	if m.TransactionID != tid {
		return netip.AddrPort{}, fmt.Errorf("probe: stun: reply to another transaction (%x)", m.TransactionID)
	}
	if m.Type != stun.BindingSuccess {
		var code stun.ErrorCodeAttribute
		if code.GetFrom(m) == nil {
			return netip.AddrPort{}, fmt.Errorf("probe: stun: server answered %v: %d %s", m.Type, code.Code, stunText(string(code.Reason)))
		}
		return netip.AddrPort{}, fmt.Errorf("probe: stun: server answered %v, want a binding success", m.Type)
	}
	if m.Contains(stun.AttrFingerprint) {
		if err := stun.Fingerprint.Check(m); err != nil {
			return netip.AddrPort{}, fmt.Errorf("probe: stun: bad fingerprint: %w", err)
		}
	}
	var ip net.IP
	var port int
	var xor stun.XORMappedAddress
	if err := xor.GetFrom(m); err == nil {
		ip, port = xor.IP, xor.Port
	} else {
		var mapped stun.MappedAddress
		if err := mapped.GetFrom(m); err != nil {
			return netip.AddrPort{}, errors.New("probe: stun: reply carries no XOR-MAPPED-ADDRESS nor MAPPED-ADDRESS")
		}
		ip, port = mapped.IP, mapped.Port
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok || port <= 0 || port > 0xffff {
		return netip.AddrPort{}, fmt.Errorf("probe: stun: invalid mapped address %v port %d", ip, port)
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
}

// stunText keeps a peer's text printable and short before it reaches a log.
func stunText(s string) string {
	const max = 80
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}
