package upnp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Waits of a lease.
const (
	// defaultRequestTimeout bounds one request to the router when
	// MapRequest.Timeout is zero: every service answers in milliseconds
	// when it works, and NAT-PMP gives up after 2 s on its own.
	defaultRequestTimeout = 5 * time.Second
	// undoWait bounds deleting what an unanswered add may have made; it
	// runs even after Ctrl-C, so it must be short.
	undoWait = 3 * time.Second
	// reassertEvery caps the time between renewals, also of permanent
	// mappings: a router that rebooted and lost the mapping gets it back
	// within this long, at the cost of one cheap request.
	reassertEvery = 5 * time.Minute
)

// MapRequest is a mapping to make, and how.
type MapRequest struct {
	// Mapping is what to map: a zero ExternalPort means InternalPort, a
	// zero InternalIP the router's LocalIP.
	Mapping
	// Family is the service to use. FamilyAuto tries the services in order
	// and hands over to the next only on a refusal in the protocol's own
	// words, or on an HTTP error without a UPnP fault once the router is
	// seen to hold nothing of the add: not on a timeout (the first may have
	// made it anyway), not on a conflict (the port is taken whoever asks).
	Family Family
	// AnyPort takes a free external port (see FreePort) when another host
	// holds the one asked; Lease.Moved then reports it.
	AnyPort bool
	// Timeout bounds each request to the router; zero means 5s.
	Timeout time.Duration
	// OnAttempt, if not nil, is called after each service's attempt.
	OnAttempt func(Attempt)
	// FindRouter finds the router again when a renewal needs it; nil means
	// the package's FindRouter.
	FindRouter func(ctx context.Context, cfg Config) (*Router, error)
}

// Attempt is one service's try at a mapping.
type Attempt struct {
	Method    Method
	Want, Got Mapping
	Err       error
	// Undone reports whether what an unanswered add may have made was
	// deleted again.
	Undone bool
}

// RenewHow says how a renewal kept the mapping.
type RenewHow string

// The ways Renew keeps a mapping.
const (
	// Renewed: the router still held it and refreshed it.
	Renewed RenewHow = "renewed"
	// ReCreated: the router had lost it (a reboot) and made it again.
	ReCreated RenewHow = "re-created"
)

// Renewal is what a renewal did.
type Renewal struct {
	How     RenewHow
	Mapping Mapping
	// Moved reports whether the external port differs from the one held
	// before.
	Moved  bool
	Method Method
	// Repaired reports that the router had changed the mapping's internal
	// port (some rewrite it to the external port on a refresh) and the
	// renewal set it back.
	Repaired bool
}

// Lease is a mapping on the router that reach made and keeps: it renews
// it, finds the router again after a reboot, and releases it. Use it from
// one goroutine at a time.
type Lease struct {
	router   *Router
	svc      Mapper
	find     func(ctx context.Context, cfg Config) (*Router, error)
	timeout  time.Duration
	asked    Mapping    // the request, with its defaults filled in
	want     Mapping    // what renewals ask for: the granted port, lease 0 after 725
	got      Mapping    // as granted last
	ext      netip.Addr // the external address from a PCP MAP reply
	ownIP    bool       // the internal address is this host's and follows LocalIP
	repaired bool       // the last add set back an internal port the router had changed
	released bool
}

// keep records a granted mapping as what later renewals ask for, and
// reports whether its external port moved.
func (l *Lease) keep(got Mapping, ext netip.Addr) bool {
	if !got.InternalIP.IsValid() {
		got.InternalIP = l.want.InternalIP
	}
	moved := got.ExternalPort != l.want.ExternalPort
	l.want.ExternalPort = got.ExternalPort
	if l.want.Lease > 0 && got.Lease == 0 {
		l.want.Lease = 0 // 725: the router takes only permanent mappings
	}
	l.got, l.ext = got, ext
	return moved
}

// Method is the protocol that holds the mapping.
func (l *Lease) Method() Method { return l.svc.Method() }

// Router is the router that holds the mapping: after a renewal that found
// the router again, the new one (this host may have a new LocalIP).
func (l *Lease) Router() *Router { return l.router }

// Mapping is the mapping as the router granted it last. Its Lease is 0
// when the router made it permanent (see Permanent).
func (l *Lease) Mapping() Mapping { return l.got }

// Permanent reports whether the router made the mapping permanent though
// a lease was asked for (it accepts only permanent ones, UPnP 725).
func (l *Lease) Permanent() bool { return l.asked.Lease > 0 && l.got.Lease == 0 }

// Moved reports whether the granted external port differs from the one
// asked for.
func (l *Lease) Moved() bool { return l.got.ExternalPort != l.asked.ExternalPort }

// RenewEvery is how often to call Renew: half the granted lease, so the
// router never sees it lapse, and at most 5 minutes, also for a permanent
// mapping, so that one lost in a reboot comes back soon.
func (l *Lease) RenewEvery() time.Duration {
	lease := l.got.Lease
	if lease <= 0 || lease/2 > reassertEvery {
		return reassertEvery
	}
	return lease / 2
}

// ExternalAddr is the router's external address: from the PCP reply that
// made or renewed the mapping, else asked of the service.
func (l *Lease) ExternalAddr(ctx context.Context) (netip.Addr, error) {
	if l.ext.IsValid() {
		return l.ext, nil
	}
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	return l.svc.ExternalAddr(ctx)
}

// Renew asserts the mapping again. If the router no longer answers or
// refuses, Renew finds the router again (with the Config it was found
// with) and re-creates the mapping through the same family only, so that
// no mapping made through another protocol is left behind; the internal
// address follows this host's new LocalIP unless the request named one.
// For UPnP it reads the entry back first, and says ReCreated when the
// router had lost it.
func (l *Lease) Renew(ctx context.Context) (Renewal, error) {
	if l.released {
		return Renewal{}, errors.New("upnp: renew: the mapping was released")
	}
	how := Renewed
	if h, ok := l.svc.(interface {
		Holds(context.Context, Mapping) (bool, error)
	}); ok {
		hctx, cancel := context.WithTimeout(ctx, l.timeout)
		held, err := h.Holds(hctx, l.want)
		cancel()
		if err == nil && !held {
			how = ReCreated
		}
	}
	got, ext, err := l.add(ctx, l.svc, l.want)
	if err == nil {
		return l.renewed(how, got, ext), nil
	}
	if ctx.Err() != nil {
		return Renewal{}, wrapf(err, "renew mapping %s", what(l.want))
	}

	fctx, cancel := context.WithTimeout(ctx, l.timeout)
	r, ferr := l.find(fctx, l.router.Config)
	cancel()
	if ferr != nil {
		return Renewal{}, fmt.Errorf("upnp: renew mapping %s: %w; finding the router again: %w", what(l.want), bare(err), bare(ferr))
	}
	fam := l.svc.Method().Fam()
	svc, perr := r.Pick(fam)
	if perr != nil {
		return Renewal{}, fmt.Errorf("upnp: renew mapping %s: %w; found again, %w", what(l.want), bare(err), bare(perr))
	}
	want := l.want
	if l.ownIP {
		want.InternalIP = r.LocalIP
	}
	got, ext, rerr := l.add(ctx, svc, want)
	if rerr != nil {
		return Renewal{}, fmt.Errorf("upnp: renew mapping %s: %w; re-creating it on the router found again: %w", what(l.want), bare(err), bare(rerr))
	}
	l.router, l.svc, l.want = r, svc, want
	return l.renewed(ReCreated, got, ext), nil
}

func (l *Lease) renewed(how RenewHow, got Mapping, ext netip.Addr) Renewal {
	moved := l.keep(got, ext)
	return Renewal{How: how, Mapping: l.got, Moved: moved, Method: l.svc.Method(), Repaired: l.repaired}
}

// Release deletes exactly this mapping; one the router no longer holds
// counts as released. It never deletes another host's mapping (the
// service refuses: ErrNotOurs).
func (l *Lease) Release(ctx context.Context) error {
	if l.released {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	m := l.want
	m.Lease = l.got.Lease
	err := l.svc.Delete(ctx, m)
	if err != nil && !errors.Is(err, ErrNoSuchMapping) {
		return err
	}
	l.released = true
	return nil
}
