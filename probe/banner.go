package probe

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"unicode/utf8"
)

// What a peer that is not a reach server looks like, in CheckResult.Peer.
const (
	PeerReach  = "reach"  // a reach server: the probe came back
	PeerHTTP   = "http"   // a web server: it answered "HTTP/..."
	PeerSSH    = "ssh"    // an SSH server: it sent its "SSH-" banner
	PeerTLS    = "tls"    // a TLS server: it sent a TLS record (an alert, mostly)
	PeerSilent = "silent" // connected, no byte in reply (a guide-style server only receives)
	PeerClosed = "closed" // connected, then closed without a byte
	PeerOther  = "other"  // some other reply, shown in Detail
)

// previewLen is how much of an unknown reply a detail line quotes: enough
// to recognise a banner, short enough for one line.
const previewLen = 48

// tlsAlerts names the TLS alerts a server sends to a non-TLS client.
var tlsAlerts = map[byte]string{
	10: "unexpected_message", 22: "record_overflow", 40: "handshake_failure",
	47: "illegal_parameter", 50: "decode_error", 70: "protocol_version",
	80: "internal_error", 112: "unrecognized_name",
}

// describeReply says what kind of peer sent b, the first bytes of a reply
// that is not our echo, and gives one line of evidence. A reply whose first
// four bytes read as a length of at most maxFrame is shown as a frame.
func describeReply(b []byte, maxFrame int) (peer, detail string) {
	switch {
	case bytes.HasPrefix(b, []byte("HTTP/")):
		return PeerHTTP, fmt.Sprintf("a web server answered %q, not our echo", firstLine(b))
	case bytes.HasPrefix(b, []byte("SSH-")):
		return PeerSSH, fmt.Sprintf("an SSH server answered with its banner %q", firstLine(b))
	case len(b) >= 2 && b[0] == 0x15 && b[1] == 0x03:
		alert := "a TLS alert"
		if len(b) >= 7 {
			name, ok := tlsAlerts[b[6]]
			if !ok {
				name = fmt.Sprintf("number %d", b[6])
			}
			alert = "the TLS alert " + name
		}
		return PeerTLS, fmt.Sprintf("a TLS server answered with %s (% x)", alert, b[:min(len(b), 7)])
	case len(b) >= 2 && b[0] == 0x16 && b[1] == 0x03:
		return PeerTLS, fmt.Sprintf("a TLS server answered with a handshake record (% x ...)", b[:min(len(b), 5)])
	}
	if len(b) >= 4 {
		if n := binary.LittleEndian.Uint32(b); int64(n) <= int64(maxFrame) {
			return PeerOther, fmt.Sprintf("a framed reply of %d bytes that is not our probe: %s", n, preview(b[4:min(len(b), 4+int(n))]))
		}
	}
	return PeerOther, fmt.Sprintf("the peer answered %d bytes that are not our echo: %s", len(b), preview(b))
}

// firstLine returns b up to its first line end, at most previewLen bytes.
func firstLine(b []byte) string {
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		b = b[:i]
	}
	return string(b[:min(len(b), previewLen)])
}

// preview quotes b if it is text and shows it in hex otherwise.
func preview(b []byte) string {
	more := ""
	if len(b) > previewLen {
		b, more = b[:previewLen], "..."
	}
	if len(b) == 0 {
		return `""`
	}
	if utf8.Valid(b) && printable(b) {
		return fmt.Sprintf("%q%s", b, more)
	}
	return fmt.Sprintf("hex %s%s", hex.EncodeToString(b), more)
}

// printable reports whether b is mostly text: at most one byte in eight is
// a control character other than tab and line ends.
func printable(b []byte) bool {
	bad := 0
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\r' && c != '\n' || c == 0x7f {
			bad++
		}
	}
	return bad*8 <= len(b)
}
