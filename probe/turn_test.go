package probe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/stun/v3"
)

func TestParseTURN(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want TURNServer
	}{
		{"turn:reach:secret@11.0.0.1:3478", TURNServer{"reach", "secret", "11.0.0.1", 3478}},
		{"turn:reach:secret@turn.example.net", TURNServer{"reach", "secret", "turn.example.net", DefaultTURNPort}},
		{"TURN:u:p@h:80", TURNServer{"u", "p", "h", 80}},
		{"turn://u:p@h:80", TURNServer{"u", "p", "h", 80}},
		{"turn:u:p@ss:w@rd@h:5349", TURNServer{"u", "p@ss:w@rd", "h", 5349}},
		{"turn:u:p@[2001:db8::1]:3478", TURNServer{"u", "p", "2001:db8::1", 3478}},
		{"turn:u:p@[2001:db8::1]", TURNServer{"u", "p", "2001:db8::1", DefaultTURNPort}},
	} {
		got, err := ParseTURN(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseTURN(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, why string }{
		{"", "no turn: scheme"},
		{"11.0.0.1:3478", "scheme"},
		{"stun:u:hunter2@h", "scheme"},
		{"turns:u:hunter2@h", "TLS"},
		{"turn:reach:hunter2", "no USER:PASS@"},
		{"turn:hunter2@h", "no ':' between user and password"},
		{"turn::hunter2@h", "empty user"},
		{"turn:u:@h", "empty password"},
		{"turn:u:hunter2@", "empty host"},
		{"turn:u:hunter2@h:0", "port"},
		{"turn:u:hunter2@h:99999", "port"},
		{"turn:u:hunter2@h:x", "port"},
		{"turn:u:hunter2@2001:db8::1", "brackets"},
		{"turn:u:hunter2@h:3478?transport=tcp", "not supported"},
	} {
		_, err := ParseTURN(tc.in)
		if err == nil {
			t.Errorf("ParseTURN(%q) accepted it", tc.in)
			continue
		}
		if !errors.Is(err, ErrTURNSyntax) || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("ParseTURN(%q) = %v; want ErrTURNSyntax saying %q", tc.in, err, tc.why)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseTURN(%q) error shows the password: %v", tc.in, err)
		}
	}
}

func TestTURNServerStringHidesPassword(t *testing.T) {
	s := TURNServer{User: "reach", Password: "hunter2", Host: "2001:db8::1", Port: 3478}
	if got := s.String(); got != "turn:reach:***@[2001:db8::1]:3478" {
		t.Errorf("String() = %q", got)
	}
	if got := fmt.Sprint(s); strings.Contains(got, "hunter2") {
		t.Errorf("fmt.Sprint shows the password: %q", got)
	}
}

func TestJudgeVia(t *testing.T) {
	srv := TURNServer{User: "reach", Password: "x", Host: "11.0.0.1", Port: 3478}
	target := netip.MustParseAddrPort("11.0.0.2:1234")
	code := func(c stun.ErrorCode) stun.ErrorCodeAttribute { return stun.ErrorCodeAttribute{Code: c} }
	for _, tc := range []struct {
		name    string
		ev      viaEvidence
		failure ViaFailure
		verdict Verdict
		detail  string
	}{
		{"dial refused", viaEvidence{phase: phaseDial, err: syscall.ECONNREFUSED, network: "tcp4"}, ViaTURNUnreachable, "", "no connection"},
		{"dial timeout", viaEvidence{phase: phaseDial, err: context.DeadlineExceeded, ctx: context.DeadlineExceeded, network: "tcp4"}, ViaTURNUnreachable, "", "within"},
		{"canceled anywhere", viaEvidence{phase: phaseConnect, ctx: context.Canceled}, ViaCanceled, "", "canceled"},
		{"401", viaEvidence{phase: phaseAllocate, code: code(401), refused: true}, ViaAuthRefused, "", "refused the credentials"},
		{"442 on tcp", viaEvidence{phase: phaseAllocate, code: code(442), refused: true, network: "tcp4"}, ViaTCPUnsupported, "", "does not relay TCP"},
		{"486", viaEvidence{phase: phaseAllocate, code: code(486), refused: true}, ViaTURNError, "", "refused the allocation (486"},
		{"udp silence", viaEvidence{phase: phaseAllocate, network: "udp4", ctx: context.DeadlineExceeded}, ViaTURNUnreachable, "", "no answer from the TURN server"},
		{"udp icmp", viaEvidence{phase: phaseAllocate, network: "udp4", connErr: syscall.ECONNREFUSED}, ViaTURNUnreachable, "", "ICMP port unreachable"},
		{"answered then silent", viaEvidence{phase: phaseAllocate, heard: true, ctx: context.DeadlineExceeded}, ViaTURNError, "", "stopped answering"},
		{"403 permission", viaEvidence{phase: phasePermission, code: code(403), refused: true}, ViaPeerForbidden, "", "refused 11.0.0.2 as a peer (403"},
		{"permission without code", viaEvidence{phase: phasePermission, refused: true}, ViaPeerForbidden, "", "without a code"},
		{"permission unanswered", viaEvidence{phase: phasePermission, heard: true, ctx: context.DeadlineExceeded}, ViaTURNError, "", "stopped answering"},
		{"447 at once", viaEvidence{phase: phaseConnect, code: code(447), refused: true, waited: 5 * time.Millisecond}, ViaPeerRefused, Refused, "failed after 5ms"},
		{"447 late", viaEvidence{phase: phaseConnect, code: code(447), refused: true, waited: 1500 * time.Millisecond}, ViaPeerTimeout, Timeout, "no answer within 1.5s (TURN 447"},
		{"connect unanswered", viaEvidence{phase: phaseConnect, heard: true, ctx: context.DeadlineExceeded, waited: 2 * time.Second}, ViaPeerTimeout, Timeout, "no answer within 2s"},
		{"403 connect", viaEvidence{phase: phaseConnect, code: code(403), refused: true}, ViaPeerForbidden, "", "refused to connect"},
		{"bind failed", viaEvidence{phase: phaseBind, err: errors.New("x")}, ViaTURNError, Open, "connected to 11.0.0.2:1234"},
		{"tcp silent", viaEvidence{phase: phaseEcho, network: "tcp4", tcp: answer{err: fmt.Errorf("read: %w", context.DeadlineExceeded)}}, ViaNoEcho, Open, "through the relay"},
		{"udp silent", viaEvidence{phase: phaseEcho, network: "udp4", udp: udpAnswer{sent: 4}}, ViaNoEcho, NoAnswer, "proves nothing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.ev.srv = srv
			if tc.ev.err == nil {
				tc.ev.err = errors.New("some error")
			}
			res := judgeVia(ViaResult{Target: target}, tc.ev)
			if res.Failure != tc.failure || res.Verdict != tc.verdict {
				t.Fatalf("judgeVia = %+v; want failure %q verdict %q", res, tc.failure, tc.verdict)
			}
			if !strings.Contains(res.Detail, tc.detail) {
				t.Errorf("detail %q lacks %q", res.Detail, tc.detail)
			}
			if tc.failure != ViaCanceled && res.Cause == "" {
				t.Errorf("no cause: %+v", res)
			}
			if res.Failure.RelaySide() && res.Verdict != "" && tc.ev.phase != phaseBind {
				t.Errorf("a relay-side failure gave a verdict about the target: %+v", res)
			}
		})
	}
}
