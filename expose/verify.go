package expose

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
)

// probeTarget is where the loopback probe goes: the mapped external
// address, or where no mapping was made the public address STUN saw (a
// port forwarded by hand). Zero when there is nothing to probe.
func (s *Session) probeTarget() (netip.AddrPort, string) {
	s.mu.Lock() // outside probes add to s.ev while hosting
	ev := s.ev
	s.mu.Unlock()
	if probe.ClassifyAddr(ev.LocalIP) == probe.AddrPublic {
		return netip.AddrPort{}, "a probe from this host to its own address never leaves it; check from outside"
	}
	if s.lease != nil {
		ext := ev.ExternalAddr
		if !ext.IsValid() || probe.ClassifyAddr(ext) == probe.AddrUnspecified {
			if ev.STUN.IsValid() {
				ext = ev.STUN
			} else {
				return netip.AddrPort{}, "the router gave no external address to probe"
			}
		}
		return netip.AddrPortFrom(ext.Unmap(), s.lease.Mapping().ExternalPort), ""
	}
	switch {
	case ev.STUN.IsValid():
		return netip.AddrPortFrom(ev.STUN.Unmap(), s.cfg.ExternalPort), ""
	case probe.ClassifyAddr(ev.ExternalAddr) == probe.AddrPublic:
		return netip.AddrPortFrom(ev.ExternalAddr.Unmap(), s.cfg.ExternalPort), ""
	}
	return netip.AddrPort{}, "no public address known to probe (no mapping, no STUN answer)"
}

// verify probes the public address from this host (it needs NAT loopback
// on the router), then has the TURN relays probe it from outside.
func (s *Session) verify(ctx context.Context) {
	if l := s.ev.Listener; l != nil && !l.OnLAN {
		s.emit(&Step{Name: "verify", Mark: MarkWarn, Detail: "skipped: nothing listens on the forwarded address yet"})
		return
	}
	target, why := s.probeTarget()
	if !target.IsValid() {
		s.emit(&Step{Name: "verify", Mark: MarkWarn, Detail: "skipped: " + why})
		if local := s.ev.LocalIP; probe.ClassifyAddr(local) == probe.AddrPublic {
			s.viaProbes(ctx, netip.AddrPortFrom(local.Unmap(), s.cfg.ExternalPort))
		}
		return
	}
	if s.cfg.Protocol == upnp.UDP && s.cfg.NoServe {
		// No echo can come back through the router. A relay's probe
		// still tells: any answer of the program through the relay shows
		// the port open from outside, and silence is judged as silence.
		detail := "skipped: your own UDP program does not echo reach probes; test it from outside with its own client"
		if len(s.cfg.Via) > 0 {
			detail = "no probe through the router: your own UDP program does not echo reach probes; asking the TURN relay"
		}
		s.emit(&Step{Name: "verify", Mark: MarkWarn, Detail: detail})
		s.viaProbes(ctx, target)
		return
	}
	pe := s.probe(ctx, target)
	s.ev.Probes = append(s.ev.Probes, pe)
	switch {
	case pe.Verdict == probe.Verified:
		detail := fmt.Sprintf("probe echoed through %s in %s", target, probe.Round(pe.RTT))
		s.pmu.Lock()
		if s.probeFrom != "" {
			detail += fmt.Sprintf(" (it came back in from %s, the router)", s.probeFrom)
		}
		s.pmu.Unlock()
		s.emit(&Step{Name: "verify", Mark: MarkOK, Detail: detail})
	case pe.Verdict == probe.Open && s.cfg.NoServe:
		s.emit(&Step{Name: "verify", Mark: MarkOK, Detail: fmt.Sprintf("a connection through %s reached your program (it does not echo reach probes)", target)})
	default:
		next := "; check from outside"
		if len(s.cfg.Via) > 0 {
			next = "; asking the TURN relay"
		}
		s.emit(&Step{Name: "verify", Mark: MarkWarn, Detail: fmt.Sprintf("no echo through %s (%s)%s", target, pe.Verdict, next)})
	}
	s.viaProbes(ctx, target)
}

// viaProbes asks each TURN relay to probe target from outside and keeps
// what they saw.
func (s *Session) viaProbes(ctx context.Context, target netip.AddrPort) {
	s.ev.Probes = append(s.ev.Probes, s.relayProbes(ctx, target, false)...)
}

// relayProbes asks each TURN relay to probe target from outside until one
// echoes, with a turn step for each, and returns what they saw of the
// target; pinhole names it in the steps as the IPv6 pinhole. A relay that
// fails on its own side (unreachable, credentials, policy, no relayed
// address of the target's family) says nothing about the target and is a
// step, not evidence.
func (s *Session) relayProbes(ctx context.Context, target netip.AddrPort, pinhole bool) []probe.ProbeEvidence {
	where, side := target.String(), ""
	if pinhole {
		where, side = "the IPv6 pinhole "+target.String(), "IPv6: "
	}
	var seen []probe.ProbeEvidence
	for _, srv := range s.cfg.Via {
		s.emit(&Progress{What: fmt.Sprintf("probing %s from the TURN relay %s", where, srv.Addr())})
		res := s.cfg.CheckVia(ctx, srv, target, string(s.cfg.Protocol), probe.ViaConfig{})
		if ctx.Err() != nil {
			return seen
		}
		if res.Verdict == "" {
			s.emit(&Step{Name: "turn", Mark: MarkWarn, Detail: fmt.Sprintf("%s%s: %s", side, srv, res.Detail), Err: res.Err})
			continue
		}
		seen = append(seen, probe.ProbeEvidence{Target: target, Via: probe.ViaTURN, Verdict: res.Verdict, Detail: res.Detail, RTT: res.RTT})
		if res.Verified() {
			s.emit(&Step{Name: "turn", Mark: MarkOK, Detail: fmt.Sprintf("probe echoed from the TURN relay %s through %s in %s", srv.Addr(), where, probe.Round(res.RTT))})
			return seen
		}
		s.emit(&Step{Name: "turn", Mark: MarkWarn, Detail: fmt.Sprintf("%sfrom the TURN relay %s: %s", side, srv.Addr(), res.Detail), Err: res.Err})
	}
	return seen
}

// probe sends reach probes to target until one comes back or the window
// closes.
func (s *Session) probe(ctx context.Context, target netip.AddrPort) probe.ProbeEvidence {
	s.emit(&Progress{What: fmt.Sprintf("probing %s through the router", target)})
	s.mu.Lock()
	own := []netip.Addr{s.ev.Gateway.Unmap(), s.ev.ExternalAddr.Unmap(), s.ev.STUN.Unmap(), s.ev.LocalIP.Unmap()}
	s.mu.Unlock()
	s.pmu.Lock()
	s.probing, s.probeFrom, s.ownAddrs = true, "", own
	s.pmu.Unlock()
	defer func() {
		s.pmu.Lock()
		s.probing = false
		s.pmu.Unlock()
	}()
	deadline := time.Now().Add(verifyWindow)
	var last probe.CheckResult
	for {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		check := s.cfg.Check
		if s.cfg.Protocol == upnp.UDP {
			check = s.cfg.CheckUDP
		}
		last = check(ctx, target.String(), probe.CheckConfig{Timeout: left})
		if last.Verdict == probe.Verified || ctx.Err() != nil || (last.Verdict == probe.Open && s.cfg.NoServe) {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(verifyPeriod):
		}
	}
	pe := probe.ProbeEvidence{Target: target, Via: probe.ViaLoopback, Verdict: last.Verdict, Detail: last.Detail}
	if len(last.RTTs) > 0 {
		pe.RTT = last.RTTs[0]
	}
	if pe.Verdict == "" {
		pe.Verdict = probe.Timeout
	}
	return pe
}

// announce decides and emits Ready.
func (s *Session) announce(path probe.Path) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &Ready{Diagnosis: probe.Decide(s.ev), Evidence: s.ev, Method: upnp.MethodNone,
		ExternalAddr: s.ev.ExternalAddr, PublicAddr: path.Public(), LocalIP: s.ev.LocalIP, Gateway: s.ev.Gateway,
		Port: s.cfg.Port, Protocol: s.cfg.Protocol, Serving: s.shutdown != nil}
	if s.lease != nil {
		m := s.lease.Mapping()
		r.Mapping, r.Method = &m, s.lease.Method()
	}
	if s.pinhole != nil {
		p := s.pinhole.Pinhole()
		r.Pinhole, r.PinholeMethod = &p, s.pinhole.Method()
	}
	s.ready = r
	s.emit(r)
}

// selfCheck probes again after a renewal when the setup was proved by
// loopback; a failed probe deletes and re-makes the mapping (unless it
// was there before reach started), then probes once more.
func (s *Session) selfCheck(ctx context.Context) {
	s.mu.Lock()
	proved := s.ready != nil && s.ready.Diagnosis.VerifiedBy == probe.ViaLoopback
	s.mu.Unlock()
	if !proved || s.cfg.NoServe {
		return
	}
	target, _ := s.probeTarget()
	if !target.IsValid() {
		return
	}
	if pe := s.probe(ctx, target); pe.Verdict == probe.Verified {
		s.emit(&SelfCheck{OK: true, Target: target, Detail: "probe echoed through " + target.String()})
		return
	}
	if ctx.Err() != nil {
		return
	}
	if s.adopted {
		// Not reach's to delete and make again: it was there first.
		s.emit(&SelfCheck{Target: target, Detail: "the probe did not come back; the mapping was there before reach started, so reach leaves it as it is"})
		return
	}
	rctx, cancel := context.WithTimeout(ctx, releaseWait)
	s.lease.Release(rctx)
	cancel()
	req := upnp.MapRequest{Mapping: s.lease.Mapping(), Family: s.lease.Method().Fam(), Timeout: s.cfg.Timeout, FindRouter: s.cfg.FindRouter}
	lease, err := upnp.Map(ctx, s.lease.Router(), req)
	if err != nil {
		s.emit(&SelfCheck{Target: target, Detail: "the probe did not come back and the mapping could not be made again: " + upnp.Summary(err)})
		return
	}
	s.lease = lease
	s.record(ctx)
	pe := s.probe(ctx, target)
	ev := &SelfCheck{Repaired: true, OK: pe.Verdict == probe.Verified, Target: target}
	ev.Detail = "the probe did not come back although the router listed the mapping; deleted and made it again: "
	if ev.OK {
		ev.Detail += "it echoes again"
	} else {
		ev.Detail += "still no echo (" + string(pe.Verdict) + ")"
	}
	s.emit(ev)
}
