package upnp

import (
	"context"
	"errors"
	"net/netip"
	"strings"
)

// Map asks the router for req and returns the lease of the mapping made.
// The error is the last attempt's. After an IGD add that got no answer
// (a timeout, ctx cancelled), what the router may have made is deleted
// again, so that no stray mapping stays behind; NAT-PMP and PCP mappings
// without an answer expire with their lease.
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
	var err error
	for _, svc := range cands {
		var got Mapping
		var ext netip.Addr
		if got, ext, err = l.attempt(ctx, svc, want, req); err == nil {
			l.svc, l.want = svc, want
			l.keep(got, ext)
			return l, nil
		}
		if ctx.Err() != nil || !refusal(err) || Kind(err) == KindConflict {
			break
		}
	}
	return nil, err
}

// attempt is one service's try, with a second on a free port when the
// port is taken and req.AnyPort allows it.
func (l *Lease) attempt(ctx context.Context, svc Mapper, want Mapping, req MapRequest) (Mapping, netip.Addr, error) {
	got, ext, err := l.add(ctx, svc, want)
	a := Attempt{Method: svc.Method(), Want: want, Got: got, Err: err}
	if err != nil {
		a.Err = l.explain(ctx, svc, want, err)
		a.Undone = l.undo(ctx, svc, want, a.Err)
	}
	report(req, a)
	var ce *ConflictError
	if !req.AnyPort || !errors.As(a.Err, &ce) || ce.Free == 0 {
		return got, ext, a.Err
	}
	want.ExternalPort = ce.Free
	got, ext, err = l.add(ctx, svc, want)
	a = Attempt{Method: svc.Method(), Want: want, Got: got, Err: err}
	if err != nil {
		a.Err = l.explain(ctx, svc, want, err)
		a.Undone = l.undo(ctx, svc, want, a.Err)
	}
	report(req, a)
	return got, ext, a.Err
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

// undo deletes what an add that got no answer may have made, and reports
// whether it did. Only UPnP can tell whose a mapping is (Delete checks the
// holder), so only a Lister's mapping is removed.
func (l *Lease) undo(ctx context.Context, svc Mapper, want Mapping, err error) bool {
	if _, ok := svc.(Lister); !ok || refusal(err) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoWait)
	defer cancel()
	return svc.Delete(ctx, want) == nil
}
