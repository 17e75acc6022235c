package expose

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"github.com/reach-net/reach/ledger"
	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
)

// mapPort asks the router for the mapping, each attempt a step, then reads
// the external address.
func (s *Session) mapPort(ctx context.Context) {
	cfg := s.cfg
	want := upnp.Mapping{Protocol: cfg.Protocol, ExternalPort: cfg.ExternalPort, InternalIP: s.router.LocalIP,
		InternalPort: cfg.Port, Description: cfg.Description, Lease: cfg.Lease, Enabled: true}
	req := upnp.MapRequest{Mapping: want, Family: cfg.Family, AnyPort: cfg.AnyPort, Timeout: cfg.Timeout, FindRouter: cfg.FindRouter}
	attempts := 0
	req.OnAttempt = func(a upnp.Attempt) {
		attempts++
		if a.Err == nil {
			return
		}
		st := &Step{Name: "map", Mark: MarkFail, Detail: fmt.Sprintf("%s: %s", a.Method, upnp.Summary(a.Err)), Err: a.Err}
		if a.Undone {
			st.Notes = append(st.Notes, "removed what the unanswered request may have made")
		}
		if s.router.Settled() { // Map waited for the other services: the IGD refused
			s.showServices()
		}
		s.emit(st)
	}
	s.emit(&Progress{What: fmt.Sprintf("mapping port %d/%s", want.ExternalPort, want.Protocol)})
	// The external address is asked alongside the look for an existing
	// mapping and the mapping itself: round trips less before the verdict.
	first := s.router.Services[0]
	extc := make(chan extAnswer, 1)
	go func() {
		ectx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		a, err := first.ExternalAddr(ectx)
		extc <- extAnswer{a, err}
	}()
	why, held := s.existing(ctx, want)
	s.held = held
	// An expose takes a held mapping over without recording it: it is not
	// its own, and the ledger would have a later reach remove it once this
	// expose is gone. A reach map's mapping outlives it anyway: map records
	// what it holds, so that the entry's lease runs from now, for the next
	// map and for reach mappings.
	s.adopted = held && !cfg.MapOnly
	lease, err := upnp.Map(ctx, s.router, req)
	s.showServices()
	s.ev.Mapping = MappingEvidence(want.ExternalPort, lease, err)
	if err != nil {
		if attempts == 0 { // Map failed before asking anyone
			s.emit(&Step{Name: "map", Mark: MarkFail, Detail: upnp.Summary(err), Err: err})
		}
		if ctx.Err() == nil {
			s.external(first.Method(), <-extc)
		}
		return
	}
	s.lease = lease
	s.record(ctx)
	got := lease.Mapping()
	detail := fmt.Sprintf("%d/%s -> %s:%d via %s, %s", got.ExternalPort, got.Protocol, got.InternalIP, got.InternalPort, lease.Method(), leaseText(got))
	mark := MarkOK
	if lease.Permanent() {
		detail += " (the router accepts only permanent mappings; reach removes it when it stops)"
		mark = MarkWarn
	}
	if lease.Moved() {
		detail += fmt.Sprintf(" (port %d was taken; the router gave %d)", want.ExternalPort, got.ExternalPort)
		mark = MarkWarn
	}
	switch {
	case held && cfg.MapOnly:
		detail += " (" + why + ")"
	case held:
		detail += " (" + why + ": kept on exit)"
	}
	s.emit(&Step{Name: "map", Mark: mark, Detail: detail})
	if lease.Method() == first.Method() {
		s.external(first.Method(), <-extc)
		return
	}
	s.emit(&Progress{What: "reading the external address"})
	ectx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	a, err := lease.ExternalAddr(ectx)
	cancel()
	s.external(lease.Method(), extAnswer{a, err})
}

// extAnswer is a service's answer to "what is your external address".
type extAnswer struct {
	addr netip.Addr
	err  error
}

// existing reports whether the router already forwards the port to this
// host's same port (a mapping the user made, or an earlier reach map's),
// and why reach believes so: the session then renews it but leaves it on
// exit. UPnP says so itself; NAT-PMP and PCP cannot list, so there the
// evidence is the ledger: a mapping an earlier reach map recorded whose
// lease still runs. A router that cannot answer counts as not holding it.
func (s *Session) existing(ctx context.Context, want upnp.Mapping) (why string, held bool) {
	for _, e := range s.live {
		if e.Kind == "" && e.ExternalPort == want.ExternalPort && e.Protocol == string(want.Protocol) && e.Command == "expose" {
			return "", false // an expose's own: healed or refused already
		}
	}
	if h, ok := s.router.Services[0].(interface {
		Holds(context.Context, upnp.Mapping) (bool, error)
	}); ok {
		hctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		defer cancel()
		if held, err := h.Holds(hctx, want); err != nil || !held {
			return "", false
		}
		return "it was there before reach started", true
	}
	if e := mappedBefore(s.live, want, time.Now()); e != nil {
		return fmt.Sprintf("an earlier reach map made it at %s and its lease still runs", e.Created.Format("15:04")), true
	}
	return "", false
}

// mappedBefore returns the entry among live (the ledger's entries for
// the router) of a mapping a reach map made of want, whose lease still
// runs at now, if any.
func mappedBefore(live []ledger.Entry, want upnp.Mapping, now time.Time) *ledger.Entry {
	for i, e := range live {
		if e.Kind == "" && e.Command == "map" && e.Protocol == string(want.Protocol) && e.ExternalPort == want.ExternalPort &&
			e.InternalIP == want.InternalIP && e.InternalPort == want.InternalPort &&
			(e.Lease == 0 || now.Before(e.Created.Add(e.Lease))) {
			return &live[i]
		}
	}
	return nil
}

// external records the router's external address (evidence whether or
// not a mapping was made) and says what it is.
func (s *Session) external(m upnp.Method, ans extAnswer) {
	for i := range s.ev.Services {
		if se := &s.ev.Services[i]; se.Method == string(m) && se.Err == nil {
			se.Asked = true
			if ans.err != nil {
				se.Err, se.FailKind, se.Summary = ans.err, string(upnp.Kind(ans.err)), "did not say its external address: "+upnp.Summary(ans.err)
			}
			se.ExternalAddr = ans.addr
		}
	}
	if ans.err != nil {
		s.emit(&Step{Name: "external", Mark: MarkWarn, Detail: "the router did not say: " + upnp.Summary(ans.err), Err: ans.err})
		return
	}
	s.ev.ExternalAddr = ans.addr
	mark, text := ClassifyText(ans.addr)
	s.emit(&Step{Name: "external", Mark: mark, Detail: text})
}

func leaseText(m upnp.Mapping) string {
	if m.Lease == 0 {
		return "permanent"
	}
	return "lease " + m.Lease.String()
}

// ClassifyText says what an external address means for reachability.
func ClassifyText(ext netip.Addr) (Mark, string) {
	switch probe.ClassifyAddr(ext) {
	case probe.AddrPublic:
		return MarkOK, fmt.Sprintf("%s (public)", ext)
	case probe.AddrPrivate:
		return MarkWarn, fmt.Sprintf("%s (private: another router sits in front of this one, double NAT)", ext)
	case probe.AddrShared:
		return MarkWarn, fmt.Sprintf("%s (shared 100.64.0.0/10: your provider uses carrier-grade NAT)", ext)
	case probe.AddrUnspecified:
		return MarkWarn, "unspecified (the router is not connected, or hides its address)"
	}
	return MarkWarn, fmt.Sprintf("%s (reserved: not reachable from the internet)", ext)
}

// listenError explains why the echo server could not listen.
func listenError(port uint16, addr string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("expose: port %d is already in use: another program listens there", port)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("expose: not allowed to listen on port %d: ports below 1024 need root; pick a port from 1024 up", port)
	}
	return fmt.Errorf("expose: listen on %s: %w", addr, err)
}

// MappingEvidence is what a mapping request showed: the lease granted, or
// why not (with the holder of a taken port and a free one).
func MappingEvidence(asked uint16, lease *upnp.Lease, err error) *probe.MappingEvidence {
	me := &probe.MappingEvidence{ExternalPort: asked}
	if err != nil {
		me.FailKind, me.Failure = string(upnp.Kind(err)), upnp.Summary(err)
		var ce *upnp.ConflictError
		if errors.As(err, &ce) {
			if ce.Holder.InternalIP.IsValid() {
				me.Holder = netip.AddrPortFrom(ce.Holder.InternalIP, ce.Holder.InternalPort).String()
				me.HolderDescription = ce.Holder.Description
			}
			me.Free = ce.Free
		}
		return me
	}
	got := lease.Mapping()
	me.Made, me.Method, me.ExternalPort = true, string(lease.Method()), got.ExternalPort
	me.Moved, me.Permanent = lease.Moved(), lease.Permanent()
	return me
}

// StateEvidence is what one service's state says, as evidence.
func StateEvidence(s upnp.ServiceState) probe.ServiceEvidence {
	se := probe.ServiceEvidence{Method: string(s.Method), ExternalAddr: s.External, Err: s.Err, Asked: true}
	switch s.Status {
	case "":
	case "Connected":
		se.Connected = ptr(true)
	default:
		se.Connected = ptr(false)
	}
	if s.Err != nil {
		se.FailKind, se.Summary = string(upnp.Kind(s.Err)), upnp.Summary(s.Err)
		if se.FailKind == probe.FailNoExternal {
			se.Connected = ptr(false)
		}
	}
	return se
}

func ptr[T any](v T) *T { return &v }
