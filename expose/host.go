package expose

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/reach-net/reach/frame"
	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
)

// Host keeps the exposure until ctx ends: it renews the mapping (at half
// its lease, at least every few minutes), re-creates it when the router
// lost it, watches for the user's program to come up (NoServe), and turns
// reach probes that arrive from outside into Verified events. It returns
// nil when ctx ends, or why hosting could not go on (the server failed).
func (s *Session) Host(ctx context.Context) error {
	var renew <-chan time.Time
	if s.lease != nil {
		renew = s.cfg.After(s.lease.RenewEvery())
	}
	var renew6 <-chan time.Time
	if s.pinhole != nil {
		renew6 = s.cfg.After(s.pinhole.RenewEvery())
	}
	var poll <-chan time.Time
	if l := s.ev.Listener; l != nil && !l.OnLAN {
		poll = s.cfg.After(listenPoll)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-s.served:
			s.served <- err
			return fmt.Errorf("expose: the echo server stopped: %w", err)
		case <-renew:
			next := s.renew(ctx)
			renew = s.cfg.After(next)
		case <-renew6:
			s.renewPinhole(ctx)
			renew6 = s.cfg.After(s.pinhole.RenewEvery())
		case <-poll:
			if s.listenerUp(ctx) {
				poll = nil
			} else {
				poll = s.cfg.After(listenPoll)
			}
		}
	}
}

// renew re-asserts the mapping and returns when to do it next.
func (s *Session) renew(ctx context.Context) time.Duration {
	r, err := s.lease.Renew(ctx)
	if ctx.Err() != nil {
		return s.lease.RenewEvery()
	}
	ev := &Renewed{OK: err == nil, How: r.How, Method: r.Method, Mapping: r.Mapping, Moved: r.Moved, Repaired: r.Repaired, Err: err}
	if err != nil {
		ev.RetryIn = renewRetry
		ev.Mapping = s.lease.Mapping()
		ev.Method = s.lease.Method()
	}
	s.emit(ev)
	if err != nil {
		return renewRetry
	}
	s.record(ctx) // the router may have moved it, or a new address
	s.selfCheck(ctx)
	return s.lease.RenewEvery()
}

// listenerUp looks again for the user's program; when it has come up it
// probes once more and emits Listening with the new verdict. A UDP look
// binds the port itself and closes it at once (lookForUDP): a program
// that starts in those few microseconds, once per listenPoll, could find
// the port taken, so the window is kept that small. A look that cannot
// tell keeps looking.
func (s *Session) listenerUp(ctx context.Context) bool {
	l, _ := s.lookForListener(ctx)
	if l == nil || !l.OnLAN {
		return false
	}
	s.mu.Lock()
	s.ev.Listener = l
	s.mu.Unlock()
	if target, _ := s.probeTarget(); target.IsValid() && s.cfg.Protocol == upnp.TCP {
		pe := s.probe(ctx, target)
		s.mu.Lock()
		s.ev.Probes = append(s.ev.Probes, pe)
		s.mu.Unlock()
	}
	s.mu.Lock()
	d := probe.Decide(s.ev)
	s.mu.Unlock()
	s.emit(&Listening{Addr: s.lanAddr(), Diagnosis: d})
	return true
}

// clientEvent watches the server's events for reach probes from outside:
// a probe from a public address that is not this network's own is a
// round trip through the public address, the proof a loopback could not
// give.
func (s *Session) clientEvent(ev frame.Event) {
	if s.ownProbe(ev) {
		return // the verify step says where it came from
	}
	if ev.Kind == frame.EventMessage && ev.Size <= len(ev.Payload) && probe.IsProbe(ev.Payload) {
		s.outsideProbe(ev.Remote)
	}
	s.emit(&Client{Event: ev, Protocol: s.cfg.Protocol})
}

// ownProbe reports whether ev belongs to the session's own loopback probe:
// a client from this network's own addresses (the router, its public
// address, this host) while the session probes. Its lines would puzzle a
// user among the steps (the router's masquerade address); the verify step
// names where it came in from instead.
func (s *Session) ownProbe(ev frame.Event) bool {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	if _, ok := s.hidden[ev.Client]; ok {
		if ev.Kind == frame.EventMessage && s.probeFrom == "" {
			s.probeFrom = ev.Remote
		}
		if ev.Kind == frame.EventDisconnect {
			delete(s.hidden, ev.Client)
		}
		return true
	}
	if !s.probing || ev.Kind != frame.EventConnect {
		return false
	}
	from, err := netip.ParseAddrPort(ev.Remote)
	if err != nil {
		return false
	}
	a := from.Addr().Unmap()
	own := a.IsLoopback()
	for _, o := range s.ownAddrs {
		own = own || a == o
	}
	if own {
		s.hidden[ev.Client] = struct{}{}
	}
	return own
}

func (s *Session) outsideProbe(remote string) {
	from, err := netip.ParseAddrPort(remote)
	if err != nil {
		return
	}
	a := from.Addr().Unmap()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready == nil {
		return
	}
	if a.Is6() {
		s.outsideProbe6(from)
		return
	}
	if probe.ClassifyAddr(a) != probe.AddrPublic {
		return
	}
	ev := s.ev
	if a == ev.ExternalAddr.Unmap() || a == ev.STUN.Unmap() || a == ev.LocalIP.Unmap() {
		return // our own network's address: a loopback, not the outside
	}
	for _, p := range ev.Probes {
		if p.Via == probe.ViaOutside && p.Verdict == probe.Verified {
			return // proved once is enough
		}
	}
	target := s.ready.Diagnosis.Target
	if !target.IsValid() {
		target = netip.AddrPortFrom(netip.IPv4Unspecified(), s.cfg.ExternalPort)
	}
	s.ev.Probes = append(s.ev.Probes, probe.ProbeEvidence{Target: target, Via: probe.ViaOutside, Verdict: probe.Verified, From: from})
	d := probe.Decide(s.ev)
	s.emit(&Verified{Diagnosis: d, By: probe.ViaOutside, From: from})
}

// Close stops the server and removes the mapping the session made, and
// only that one; cause is why hosting ended (nil or a cancelled context:
// a clean stop). It emits Stopped and returns it.
func (s *Session) Close(ctx context.Context, cause error) *Stopped {
	ctx = context.WithoutCancel(ctx)
	if s.shutdown != nil {
		sctx, cancel := context.WithTimeout(ctx, shutdownGrace)
		s.shutdown(sctx)
		cancel()
		<-s.served
		s.shutdown = nil
	}
	st := &Stopped{}
	if errors.Is(cause, context.Canceled) {
		cause = nil
	}
	st.Cause = cause
	if s.lease != nil && s.held {
		st.Mapped, st.Kept, st.Mapping, st.Method = true, true, s.lease.Mapping(), s.lease.Method()
	} else if s.lease != nil {
		st.Mapped, st.Mapping, st.Method = true, s.lease.Mapping(), s.lease.Method()
		rctx, cancel := context.WithTimeout(ctx, releaseWait)
		err := s.lease.Release(rctx)
		cancel()
		st.Deleted, st.Err = err == nil, err
		if err == nil {
			s.lease = nil
			s.forget(ctx)
		}
	}
	if s.pinhole != nil {
		st.Pinhole = true
		rctx, cancel := context.WithTimeout(ctx, releaseWait)
		err := s.pinhole.Release(rctx)
		cancel()
		var lingers *upnp.PinholeLingersError
		switch {
		case err == nil:
			st.PinholeClosed = true
			s.forgetPinhole(ctx)
		case errors.As(err, &lingers):
			st.PinholeClosed, st.PinholeNote = true, lingers.Error()
			s.forgetPinhole(ctx)
		default:
			st.PinholeNote = "could not close the IPv6 pinhole: " + upnp.Summary(err)
		}
		s.pinhole = nil
	}
	s.emit(st)
	return st
}
