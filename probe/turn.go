package probe

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// DefaultTURNPort is the port of a TURN server whose address names none
// (RFC 8656: 3478 for TURN over UDP and TCP).
const DefaultTURNPort = 3478

// ErrTURNSyntax: a TURN server address that is not turn:USER:PASS@HOST[:PORT].
var ErrTURNSyntax = errors.New("probe: bad TURN server address")

// TURNServer is a TURN relay reach may use as an outside vantage point,
// with long-term credentials (RFC 8656).
type TURNServer struct {
	User     string
	Password string
	Host     string // a name or an address, without brackets
	Port     uint16
}

// Addr is host:port, with brackets around an IPv6 address.
func (s TURNServer) Addr() string {
	return net.JoinHostPort(s.Host, strconv.Itoa(int(s.Port)))
}

// String is the server as turn:USER:***@HOST:PORT; the password never
// appears in it.
func (s TURNServer) String() string {
	return fmt.Sprintf("turn:%s:***@%s", s.User, s.Addr())
}

// ParseTURN parses turn:USER:PASS@HOST[:PORT] (the port defaults to
// DefaultTURNPort). The password may hold any character, '@' and ':'
// included; the user may not hold ':'. Errors wrap ErrTURNSyntax and never
// show the password.
func ParseTURN(s string) (TURNServer, error) {
	var srv TURNServer
	bad := func(shown, format string, args ...any) (TURNServer, error) {
		if shown != "" {
			shown = " " + strconv.Quote(shown)
		}
		return TURNServer{}, fmt.Errorf("%w%s: %s (want turn:USER:PASS@HOST:PORT)", ErrTURNSyntax, shown, fmt.Sprintf(format, args...))
	}
	scheme, rest, ok := strings.Cut(s, ":")
	switch {
	case !ok || s == "":
		return bad("", "no turn: scheme")
	case strings.EqualFold(scheme, "turns"):
		return bad("", "TURN over TLS (turns:) is not supported; use a turn: address")
	case !strings.EqualFold(scheme, "turn"):
		return bad("", "scheme %q, want turn:", scheme)
	}
	rest = strings.TrimPrefix(rest, "//")
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		// Without '@' the text may be USER:PASS with the host forgotten:
		// show none of it.
		return bad("", "no USER:PASS@ in front of the host")
	}
	userinfo, hostport := rest[:at], rest[at+1:]
	user, pass, ok := strings.Cut(userinfo, ":")
	shown := "turn:" + user + ":***@" + hostport
	switch {
	case !ok:
		return bad("turn:***@"+hostport, "no ':' between user and password")
	case user == "":
		return bad(shown, "empty user")
	case pass == "":
		return bad(shown, "empty password")
	}
	if strings.ContainsAny(hostport, "?/#") {
		return bad(shown, "options and paths (?transport=...) are not supported: reach picks the transport for each check")
	}
	host, port := hostport, ""
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
		host = hostport[1 : len(hostport)-1]
	} else if strings.Count(hostport, ":") > 0 {
		return bad(shown, "bad host:port %q (an IPv6 address needs brackets: [2001:db8::1]:3478)", hostport)
	}
	if host == "" {
		return bad(shown, "empty host")
	}
	srv = TURNServer{User: user, Password: pass, Host: host, Port: DefaultTURNPort}
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return bad(shown, "port %q is not a number from 1 to 65535", port)
		}
		srv.Port = uint16(n)
	}
	return srv, nil
}
