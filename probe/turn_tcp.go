package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/pion/stun/v3"
)

// evidence starts the evidence of a step that stopped.
func (s *viaSession) evidence(ctx context.Context, res ViaResult, phase viaPhase, err error, since time.Time, timeout time.Duration, cfg ViaConfig) viaEvidence {
	heard, connErr := s.wire.state()
	return viaEvidence{
		phase: phase, srv: s.srv, network: s.network, err: err, ctx: ctx.Err(),
		asked: s.asked, heard: heard, connErr: connErr, timeout: timeout, waited: time.Since(since),
		port: strconv.Itoa(int(res.Target.Port())), max: cfg.MaxFrame,
	}
}

// refusal fills in the TURN error behind a failed request of method:
// pion's own when it kept it, else the last the wire saw (for an
// Allocate, not the 401 challenge that starts every authenticated one).
func (s *viaSession) refusal(ev viaEvidence, method stun.Method, err error) viaEvidence {
	var te *stun.TurnError
	if errors.As(err, &te) {
		ev.code, ev.refused = te.ErrorCodeAttr, true
		return ev
	}
	errs := s.wire.errorsFor(method)
	if len(errs) == 0 {
		return ev
	}
	last := errs[len(errs)-1]
	if method == stun.MethodAllocate && last.Code == stun.CodeUnauthorized && len(errs) < 2 {
		return ev
	}
	ev.code, ev.refused = last, true
	return ev
}

// checkTCP allocates a TCP relay, has it connect to the target (RFC 6062
// Connect, then ConnectionBind on a second connection to the server) and
// runs the probe's round trip on that connection.
func (s *viaSession) checkTCP(ctx context.Context, res ViaResult, timeout time.Duration, cfg ViaConfig) ViaResult {
	start := time.Now()
	alloc, err := s.client.AllocateTCP()
	if err != nil {
		ev := s.evidence(ctx, res, phaseAllocate, err, start, timeout, cfg)
		return judgeVia(res, s.refusal(ev, stun.MethodAllocate, err))
	}
	s.onRelease(func() { alloc.Close() })
	if ap, err := netip.ParseAddrPort(alloc.Addr().String()); err == nil {
		res.RelayAddr = ap
	}
	if s.wrongFamily(res) {
		return judgeVia(res, s.evidence(ctx, res, phaseRelayFamily, errWrongFamily(res), start, timeout, cfg))
	}

	// The data connection goes to the same server address as the control
	// connection, already resolved.
	start = time.Now()
	data, err := s.dial(ctx, s.network, s.ctrl.RemoteAddr().String())
	if err != nil {
		return judgeVia(res, s.evidence(ctx, res, phaseDial, err, start, timeout, cfg))
	}
	s.onRelease(func() { data.Close() })
	s.onInterrupt(ctx, func() { data.SetDeadline(time.Now()) })
	tcpData, ok := data.(*net.TCPConn)
	if !ok {
		res.Failure = ViaTURNError
		res.Err = fmt.Errorf("probe: check via %s: the dialer returned a %T, not a TCP connection", s.srv, data)
		res.Detail = res.Err.Error()
		return res
	}

	start = time.Now()
	conn, err := alloc.DialTCPWithConn(tcpData, s.network, net.TCPAddrFromAddrPort(res.Target))
	if err != nil {
		phase, method := phaseBind, stun.MethodConnectionBind
		switch {
		case !s.wire.answered(stun.MethodCreatePermission):
			phase, method = phasePermission, stun.MethodCreatePermission
		case !s.wire.answered(stun.MethodConnect):
			phase, method = phaseConnect, stun.MethodConnect
		}
		ev := s.evidence(ctx, res, phase, err, start, timeout, cfg)
		if phase != phaseBind {
			ev = s.refusal(ev, method, err)
		}
		return judgeVia(res, ev)
	}

	rtt, ans := roundTrip(ctx, conn)
	if !ans.echoed {
		ev := s.evidence(ctx, res, phaseEcho, ans.err, start, timeout, cfg)
		ev.tcp = ans
		return judgeVia(res, ev)
	}
	res.Verdict, res.Peer, res.RTT = Verified, PeerReach, rtt
	res.Detail = fmt.Sprintf("a reach server at %s echoed the probe through the TURN relay %s (relay address %s) in %s",
		res.Target, s.srv.Addr(), res.RelayAddr, Round(rtt))
	return res
}
