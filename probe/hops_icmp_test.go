package probe

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"testing"
)

// Answers to echo requests with TTL 1, 2 and 3 (identifier 0x5248,
// sequence 0x9c01 to 0x9c03, data "reach hop probe"), captured with their
// IPv4 headers on a raw socket at 192.168.77.10 behind two Linux routers
// in network namespaces: a home router that masquerades (192.168.77.1)
// and a carrier router (100.64.77.1) in front of the target 11.77.0.2.
const (
	capturedTimeExceededHomeRouter = "45c00047df5f000040017f3ac0a84d01c0a84d0a0b00f4ff000000004500002b5e174000010102bac0a84d0a0b4d00020800b06752489c01726561636820686f702070726f6265"
	// The carrier router quotes the masqueraded request; the home
	// router's conntrack translated it back to 192.168.77.10.
	capturedTimeExceededCarrier = "45c0004781f400003f013a0e64404d01c0a84d0a0b00f4ff000000004500002b5e184000010102b9c0a84d0a0b4d00020800b06652489c02726561636820686f702070726f6265"
	capturedEchoReplyTarget     = "4500002b013200003e01629f0b4d0002c0a84d0a0000b86552489c03726561636820686f702070726f6265"
	// TTL 3 toward 11.78.0.1, to which the carrier router has no route.
	capturedNetUnreachableCarrier = "45c00047411d00003f017ae564404d01c0a84d0a0300fcff000000004500002b658340000201fa4dc0a84d0a0b4e00010800b06552489c03726561636820686f702070726f6265"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseEchoAnswerCaptured(t *testing.T) {
	ip := netip.MustParseAddr
	for _, tc := range []struct {
		name    string
		capture string
		want    echoAnswer
	}{
		{"time exceeded from the home router", capturedTimeExceededHomeRouter,
			echoAnswer{Type: icmpTimeExceeded, Src: ip("192.168.77.1"), Dst: ip("11.77.0.2"), ID: 0x5248, Seq: 0x9c01}},
		{"time exceeded from the carrier, quoting through the NAT", capturedTimeExceededCarrier,
			echoAnswer{Type: icmpTimeExceeded, Src: ip("100.64.77.1"), Dst: ip("11.77.0.2"), ID: 0x5248, Seq: 0x9c02}},
		{"echo reply from the target", capturedEchoReplyTarget,
			echoAnswer{Type: icmpEchoReply, Src: ip("11.77.0.2"), Dst: ip("11.77.0.2"), ID: 0x5248, Seq: 0x9c03}},
		{"net unreachable from the carrier", capturedNetUnreachableCarrier,
			echoAnswer{Type: icmpUnreachable, Src: ip("100.64.77.1"), Dst: ip("11.78.0.1"), ID: 0x5248, Seq: 0x9c03}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := unhex(t, tc.capture)
			got, ok := parseEchoAnswer(b)
			if !ok || got != tc.want {
				t.Errorf("with IPv4 header: %+v, %v; want %+v", got, ok, tc.want)
			}
			// Linux datagram sockets and Go's IPConn give the ICMP message
			// alone: the same answer, without the sender.
			want := tc.want
			want.Src = netip.Addr{}
			if want.Type == icmpEchoReply {
				want.Dst = netip.Addr{}
			}
			got, ok = parseEchoAnswer(b[20:])
			if !ok || got != want {
				t.Errorf("without IPv4 header: %+v, %v; want %+v", got, ok, want)
			}
		})
	}
}

// TestNewEchoRequestMatchesCapture: the request reach builds is byte for
// byte the one the routers quoted and the target answered (a wrong
// checksum gets no reply).
func TestNewEchoRequestMatchesCapture(t *testing.T) {
	b := unhex(t, capturedTimeExceededHomeRouter)
	quoted := b[20+8+20:]
	if got := newEchoRequest(0x5248, 0x9c01, echoPayload); !bytes.Equal(got, quoted) {
		t.Errorf("echo request\n %x\nwant the captured\n %x", got, quoted)
	}
}

func TestParseEchoAnswerRejects(t *testing.T) {
	te := unhex(t, capturedTimeExceededHomeRouter)
	udpQuoted := bytes.Clone(te)
	udpQuoted[20+8+9] = 17 // the error quotes a UDP datagram
	otherRequest := newEchoRequest(1, 2, nil)
	badCode := unhex(t, capturedEchoReplyTarget)
	badCode[21] = 1
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short ICMP header", te[20:26]},
		{"header only", te[:20]},
		{"error cut inside the quoted header", te[:20+8+12]},
		{"error cut inside the quoted request", te[:20+8+20+4]},
		{"error quoting UDP", udpQuoted},
		{"an echo request, not an answer", otherRequest},
		{"echo reply with a code", badCode},
		{"router advertisement", []byte{9, 0, 0, 0, 1, 0, 0, 30}},
	} {
		if a, ok := parseEchoAnswer(tc.b); ok {
			t.Errorf("%s: parsed as %+v, want rejected", tc.name, a)
		}
	}
}

// FuzzParseEchoAnswer: any bytes a socket hands over are read without a
// panic, and an accepted answer is an ICMP type reach acts on.
func FuzzParseEchoAnswer(f *testing.F) {
	for _, c := range []string{capturedTimeExceededHomeRouter, capturedTimeExceededCarrier, capturedEchoReplyTarget, capturedNetUnreachableCarrier} {
		b, _ := hex.DecodeString(c)
		f.Add(b)
		f.Add(b[20:])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, ok := parseEchoAnswer(b)
		if ok && a.Type != icmpEchoReply && a.Type != icmpTimeExceeded && a.Type != icmpUnreachable {
			t.Errorf("accepted ICMP type %d", a.Type)
		}
	})
}
