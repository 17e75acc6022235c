package upnp

import (
	"context"
	"errors"
	"net/netip"
	"strings"
)

// Map asks the router for req and returns the lease of the mapping made.
// The error is the last attempt's. After an IGD add that got no clear
// answer (a timeout, ctx cancelled, an HTTP error without a UPnP fault),
// what the router may have made is deleted again, so that no stray
// mapping stays behind; NAT-PMP and PCP mappings without an answer expire
// with their lease. With FamilyAuto the next service is tried after a
// refusal in the protocol's words, and after an HTTP error once the
// router was seen to hold nothing of the add; not after a timeout.
func Map(ctx context.Context, r *Router, req MapRequest) (*Lease, error) {
	if r == nil {
		return nil, errors.New("upnp: map: no router")
	}
	cands := r.Services
	if req.Family != FamilyAuto || len(cands) == 0 {
		svc, err := r.Pick(req.Family)
		if err != nil {
			return nil, err
		}
		cands = []Mapper{svc}
	}
	want := req.Mapping
	if want.ExternalPort == 0 {
		want.ExternalPort = want.InternalPort
	}
	l := &Lease{router: r, find: req.FindRouter, timeout: orDefault(req.Timeout, defaultRequestTimeout),
		ownIP: !want.InternalIP.IsValid()}
	if l.find == nil {
		l.find = FindRouter
	}
	if l.ownIP {
		want.InternalIP = r.LocalIP
	}
	want.Enabled = true
	l.asked = want
	var err, refused error // refused: the last refusal handed over from
	for i := 0; i < len(cands); i++ {
		svc := cands[i]
		var got Mapping
		var ext netip.Addr
		var clean bool
		if got, ext, clean, err = l.attempt(ctx, svc, want, req); err == nil {
			l.svc, l.want = svc, want
			l.keep(got, ext)
			return l, nil
		}
		if ctx.Err() != nil || !handOver(err, clean) {
			break
		}
		if refusal(err) {
			refused = err
		}
		if i == len(cands)-1 && req.Family == FamilyAuto && !r.Settled() {
			// The IGD refused: the services still being probed get their
			// turn, in preference order after it.
			r.Settle()
			cands = r.Services
		}
	}
	if refused != nil && !refusal(err) && ctx.Err() == nil {
		return nil, &HandedOverError{Refused: refused, Last: err}
	}
	return nil, err
}

// HandedOverError is a mapping one service refused in its protocol's
// words and the next, tried after it, failed without a word (no reply,
// an HTTP error): the refusal is what the router said, so it is what
// Kind and Summary tell. Both errors are in the chain.
type HandedOverError struct {
	Refused, Last error
}

func (e *HandedOverError) Error() string {
	return e.Refused.Error() + "; then " + e.Last.Error()
}

func (e *HandedOverError) Unwrap() []error { return []error{e.Refused, e.Last} }

// handOver reports whether Map may try the next service after err: a
// refusal in the protocol's words but a conflict (the port is taken
// whoever asks), or an HTTP error without a UPnP fault when clean (the
// router holds nothing of the add). Not a timeout: the router may still
// be making it.
func handOver(err error, clean bool) bool {
	var he *HTTPError
	switch {
	case Kind(err) == KindConflict:
		return false
	case errors.As(err, &he):
		return clean
	}
	return refusal(err)
}

// attempt is one service's try, with a second on a free port when the
// port is taken and req.AnyPort allows it. clean reports that the router
// holds nothing of a failed try: it refused, or what it may have made is
// gone again.
func (l *Lease) attempt(ctx context.Context, svc Mapper, want Mapping, req MapRequest) (got Mapping, ext netip.Addr, clean bool, err error) {
	got, ext, clean, err = l.try(ctx, svc, want, req)
	var ce *ConflictError
	if !req.AnyPort || !errors.As(err, &ce) || ce.Free == 0 {
		return got, ext, clean, err
	}
	want.ExternalPort = ce.Free
	return l.try(ctx, svc, want, req)
}

// try is one add, explained, undone when it got no clear answer, and
// reported.
func (l *Lease) try(ctx context.Context, svc Mapper, want Mapping, req MapRequest) (Mapping, netip.Addr, bool, error) {
	got, ext, err := l.add(ctx, svc, want)
	a := Attempt{Method: svc.Method(), Want: want, Got: got, Err: err}
	clean := err == nil
	if err != nil {
		a.Err = l.explain(ctx, svc, want, err)
		a.Undone, clean = l.undo(ctx, svc, want, a.Err)
	}
	report(req, a)
	return got, ext, clean, a.Err
}

func report(req MapRequest, a Attempt) {
	if req.OnAttempt != nil {
		req.OnAttempt(a)
	}
}

// add is one request, bounded by the lease's timeout. PCP also gives the
// external address its reply carried; UPnP whether it repaired the entry.
func (l *Lease) add(ctx context.Context, svc Mapper, want Mapping) (Mapping, netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	l.repaired = false
	if g, ok := svc.(interface {
		addChecked(context.Context, Mapping) (Mapping, bool, error)
	}); ok {
		got, repaired, err := g.addChecked(ctx, want)
		l.repaired = repaired
		return got, netip.Addr{}, err
	}
	if p, ok := svc.(interface {
		addExternal(context.Context, Mapping) (Mapping, netip.Addr, error)
	}); ok {
		return p.addExternal(ctx, want)
	}
	got, err := svc.Add(ctx, want)
	return got, netip.Addr{}, err
}

// explain adds to a failed add what the router can tell about it: a free
// port next to a conflict (from a Lister's table), and whether a UPnP
// ActionFailed comes from a router without an external address.
func (l *Lease) explain(ctx context.Context, svc Mapper, want Mapping, err error) error {
	if ctx.Err() != nil {
		return err
	}
	lister, ok := svc.(Lister)
	if !ok {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	var ce *ConflictError
	if errors.As(err, &ce) && ce.Free == 0 {
		free, ferr := FreePort(ctx, lister, want.Protocol, want.ExternalPort)
		if ferr != nil {
			return err
		}
		old := ce.Error()
		ce.Free = free
		return &wrapped{msg: strings.Replace(err.Error(), old, ce.Error(), 1), err: err}
	}
	if faultCode(err) == CodeActionFailed {
		if ext, xerr := svc.ExternalAddr(ctx); xerr == nil && ext.IsUnspecified() {
			return &noExternalError{err: err}
		}
	}
	return err
}

// undo deletes what an add that got no clear answer may have made, and
// reports whether it did, and whether the router is then known to hold
// nothing of the add (clean: it refused, or the delete succeeded or found
// nothing). Only UPnP can tell whose a mapping is (Delete checks the
// holder), so only a Lister's mapping is removed.
func (l *Lease) undo(ctx context.Context, svc Mapper, want Mapping, err error) (undone, clean bool) {
	if refusal(err) {
		return false, true
	}
	if _, ok := svc.(Lister); !ok {
		return false, false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoWait)
	defer cancel()
	derr := svc.Delete(ctx, want)
	return derr == nil, derr == nil || errors.Is(derr, ErrNoSuchMapping)
}
