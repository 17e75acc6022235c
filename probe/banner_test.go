package probe

import (
	"strings"
	"testing"

	"github.com/reach-net/reach/frame"
)

func TestDescribeReply(t *testing.T) {
	tests := []struct {
		name     string
		reply    []byte
		peer     string
		contains string
	}{
		{"nginx 400 to a non-HTTP request",
			[]byte("HTTP/1.1 400 Bad Request\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\n\r\n<html>"),
			PeerHTTP, `"HTTP/1.1 400 Bad Request"`},
		{"OpenSSH banner", []byte("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"),
			PeerSSH, `"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"`},
		{"TLS 1.2 fatal decode_error alert", []byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32},
			PeerTLS, "decode_error"},
		{"TLS handshake record", []byte{0x16, 0x03, 0x01, 0x00, 0x7a, 0x02},
			PeerTLS, "handshake"},
		{"SMTP greeting", []byte("220 mail.example.net ESMTP Postfix\r\n"),
			PeerOther, `"220 mail.example.net ESMTP Postfix\r\n"`},
		{"a framed reply that is not the echo", frame.Append(nil, []byte("got it")),
			PeerOther, `framed reply of 6 bytes that is not our probe: "got it"`},
		{"binary", []byte{0x90, 0x01, 0xfe, 0x00, 0x00, 0x7f, 0x03, 0x04, 0x05},
			PeerOther, "hex 9001fe00007f030405"},
		{"long text is cut", []byte(strings.Repeat("a", 100)),
			PeerOther, `"` + strings.Repeat("a", previewLen) + `"...`},
	}
	for _, tc := range tests {
		peer, detail := describeReply(tc.reply, frame.DefaultMaxFrame)
		if peer != tc.peer || !strings.Contains(detail, tc.contains) {
			t.Errorf("%s: got %s, %q; want %s containing %q", tc.name, peer, detail, tc.peer, tc.contains)
		}
	}
}
