package upnp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// An IPv6 pinhole: IPv6 needs no NAT, but a home router's IPv6 firewall
// drops unsolicited inbound traffic until a pinhole lets one port through
// to one address of the LAN. Two services open one: UPnP IGDv2's
// WANIPv6FirewallControl (pinhole_igd.go) and PCP MAP with an IPv6
// internal address (pcp6.go). Both refuse a request that does not come
// from the address the pinhole opens to, so every request is sent from it.

// PinholeMethod names the service that holds a pinhole, as expose's ready
// event reports it.
type PinholeMethod string

// The pinhole services reach speaks, in the order OpenPinhole tries them.
const (
	PinholeIGD2 PinholeMethod = "upnp-igd2-pinhole"
	PinholePCP  PinholeMethod = "pcp"
)

// Waits and leases of a pinhole.
const (
	// defaultPinholeLease is the lease asked when Pinhole.Lease is zero,
	// the same as a mapping's: short enough that a pinhole left by a
	// killed reach closes soon, long enough to be renewed rarely.
	defaultPinholeLease = 10 * time.Minute
	// maxPinholeLease is the longest lease IGDv2 allows (86400 s).
	maxPinholeLease = 24 * time.Hour
	// pinholeTimeout bounds one request to the router: it is one hop away
	// and answers in milliseconds when it works.
	pinholeTimeout = 5 * time.Second
	// pinholeUndoWait bounds undoing what an open without a clear answer
	// may have made (asking again, deleting); it runs even after Ctrl-C,
	// so it must be short.
	pinholeUndoWait = 3 * time.Second
	// pinholeRetry is the longest pause after a failed renewal, as a
	// mapping's: a rebooted router gets the pinhole back within a minute.
	pinholeRetry = 30 * time.Second
)

// Pinhole is an opening in the router's IPv6 firewall: inbound Protocol
// traffic from anywhere to Addr:Port.
type Pinhole struct {
	Protocol Protocol
	// Addr is this host's global IPv6 address, the pinhole's internal
	// client; every request is sent from it.
	Addr netip.Addr
	Port uint16
	// Lease is the lease asked for (zero means 10 minutes; at most 24
	// hours), or granted.
	Lease time.Duration
	// ID is the router's UniqueID of an IGDv2 pinhole; zero for PCP.
	ID uint16
}

// String is the pinhole as "[2001:db8:1::10]:1234/tcp".
func (p Pinhole) String() string {
	return fmt.Sprintf("%s/%s", netip.AddrPortFrom(p.Addr, p.Port), p.Protocol)
}

// PinholeTry is one service's attempt at a pinhole.
type PinholeTry struct {
	Method PinholeMethod
	Err    error
	// Undone reports that the try got no clear answer (a timeout, an HTTP
	// error without a UPnP fault, a dropped connection) and that what the
	// router may have opened was closed again; Unsure that it could not
	// be: the router may hold the pinhole until its lease ends.
	Undone, Unsure bool
}

// PinholeError means no service opened the pinhole; Tries says why each
// failed, in order. errors.As finds each try's error (a *PinholeRefusal, a
// *PCPError, ErrPCPNoReply...).
type PinholeError struct {
	Pinhole Pinhole
	Gateway netip.Addr
	Tries   []PinholeTry
}

// Error names the pinhole, the router and each service's reason, and
// whether the router may hold the pinhole all the same.
func (e *PinholeError) Error() string {
	why := make([]string, len(e.Tries))
	for i, t := range e.Tries {
		why[i] = fmt.Sprintf("%s: %s", t.Method, trimPrefix(t.Err))
		switch {
		case t.Unsure:
			why[i] += fmt.Sprintf("; the router may have opened it all the same, for at most %v", e.Pinhole.Lease)
		case t.Undone:
			why[i] += "; reach closed what the router may have opened"
		}
	}
	if e.Pinhole.Port == 0 {
		return fmt.Sprintf("upnp: no IPv6 pinhole service on the router %s (%s)", e.Gateway, strings.Join(why, "; "))
	}
	return fmt.Sprintf("upnp: no IPv6 pinhole for %s on the router %s (%s)", e.Pinhole, e.Gateway, strings.Join(why, "; "))
}

// Advice says what the user can do when the router may hold the pinhole
// though no service said it opened it; empty otherwise (a try's own error
// may have advice: a *PinholeRefusal, an *HTTPError).
func (e *PinholeError) Advice() string {
	for _, t := range e.Tries {
		if t.Unsure {
			return fmt.Sprintf("the router may have opened it anyway: it closes by itself within %v, or remove it in the router's IPv6 firewall settings; then try again",
				e.Pinhole.Lease)
		}
	}
	return ""
}

// Unwrap is every try's error.
func (e *PinholeError) Unwrap() []error {
	errs := make([]error, len(e.Tries))
	for i, t := range e.Tries {
		errs[i] = t.Err
	}
	return errs
}

// pinholer is one pinhole service for one pinhole.
type pinholer interface {
	method() PinholeMethod
	// open creates or refreshes p and returns it as granted.
	open(ctx context.Context, p Pinhole) (Pinhole, error)
	// update extends the lease of the granted pinhole p; a pinhole the
	// router no longer holds gives ErrNoSuchPinhole.
	update(ctx context.Context, p Pinhole) (Pinhole, error)
	// close deletes the granted pinhole p.
	close(ctx context.Context, p Pinhole) error
}

// pinholeUndoer is a pinholer that can close what an open without a
// clear answer may have made, though it does not know the pinhole's id.
type pinholeUndoer interface {
	// undo reports whether it closed it (undone), and whether the router
	// is then known to hold nothing of it (clean).
	undo(ctx context.Context, p Pinhole) (undone, clean bool)
}

// ErrNoSuchPinhole means the router no longer holds the pinhole (it
// expired, or the router restarted).
var ErrNoSuchPinhole = errors.New("upnp: the router holds no such pinhole")

// OpenPinhole opens want in the IPv6 firewall of the router r found over
// IPv4 (or of any router at gw6): first through the IGD's
// WANIPv6FirewallControl service, when its description lists one, then
// through PCP. gw6 is the router's IPv6 address (the IPv6 default gateway;
// a link-local one needs its zone), where every request goes, sent from
// want.Addr. r may be nil (PCP only).
//
// PCP is tried when the IGD clearly did not open the pinhole: it refused
// (a UPnP fault), or the request never reached it (no connection). After
// an IGD failure without a clear answer (a timeout, an HTTP error without
// a UPnP fault, ctx cancelled), what the router may have opened is closed
// again first; if that fails too, OpenPinhole stops there, and the error
// says the router may hold the pinhole (PinholeTry.Unsure).
func OpenPinhole(ctx context.Context, r *Router, gw6 netip.Addr, want Pinhole) (*PinholeLease, error) {
	want, err := checkPinhole(gw6, want)
	if err != nil {
		return nil, err
	}
	perr := &PinholeError{Pinhole: want, Gateway: gw6}
	for _, svc := range pinholers(r, gw6, want.Addr) {
		rctx, cancel := context.WithTimeout(ctx, pinholeTimeout)
		got, err := svc.open(rctx, want)
		cancel()
		if err == nil {
			return &PinholeLease{svc: svc, gw: gw6, want: want, got: got}, nil
		}
		try := PinholeTry{Method: svc.method(), Err: err}
		if u, ok := svc.(pinholeUndoer); ok && !refusal(err) && !unsent(err) {
			var clean bool
			try.Undone, clean = u.undo(ctx, want)
			try.Unsure = !clean
		}
		perr.Tries = append(perr.Tries, try)
		if ctx.Err() != nil || try.Unsure {
			break
		}
	}
	return nil, perr
}

// unsent reports whether err is a request that never reached the router:
// the connection to it could not be made (goupnp keeps only the text of
// net/http's "dial tcp ...: connect: connection refused").
func unsent(err error) bool {
	return strings.Contains(err.Error(), ": dial tcp")
}

// checkPinhole refuses what no router could open and fills in the lease.
func checkPinhole(gw6 netip.Addr, p Pinhole) (Pinhole, error) {
	if !gw6.Is6() || gw6.Is4In6() {
		return p, fmt.Errorf("upnp: pinhole %s: the router's IPv6 address is %q, not an IPv6 address", p, gw6)
	}
	if !p.Addr.Is6() || p.Addr.Is4In6() || !p.Addr.IsGlobalUnicast() && !p.Addr.IsLoopback() {
		return p, fmt.Errorf("upnp: pinhole %s: %s is not a global IPv6 address of this host", p, p.Addr)
	}
	if p.Port == 0 {
		return p, fmt.Errorf("upnp: pinhole %s: port 0", p)
	}
	if _, err := pcpProto(p.Protocol); err != nil {
		return p, err
	}
	if p.Lease <= 0 {
		p.Lease = defaultPinholeLease
	}
	p.Lease = min(p.Lease, maxPinholeLease).Truncate(time.Second)
	p.ID = 0
	return p, nil
}

// pinholers are the services to try, in order: the IGD's firewall
// control when r has an IGD that lists one, then PCP.
func pinholers(r *Router, gw6, local netip.Addr) []pinholer {
	var out []pinholer
	var cfg Config
	if r != nil {
		cfg = r.Config
		if fw, err := firewallOf(r, gw6, local); err == nil {
			out = append(out, fw)
		}
	}
	return append(out, &pcpPinholer{pcp: NewPCP(cfg, gw6, local)})
}

// PinholeLease is a pinhole reach opened and keeps: it renews it and
// deletes it. Use it from one goroutine at a time.
type PinholeLease struct {
	svc       pinholer
	gw        netip.Addr
	want, got Pinhole
	released  bool
	// failed reports that the last Renew failed: the next one comes sooner.
	failed bool
}

// Method is the service that holds the pinhole.
func (l *PinholeLease) Method() PinholeMethod { return l.svc.method() }

// Gateway is the router's IPv6 address the pinhole was asked of.
func (l *PinholeLease) Gateway() netip.Addr { return l.gw }

// Pinhole is the pinhole as the router granted it last.
func (l *PinholeLease) Pinhole() Pinhole { return l.got }

// RenewEvery is when to call Renew next: half the granted lease, at most
// 5 minutes (as a mapping's, so one lost in a reboot comes back soon);
// after a failed Renew, 30 seconds, or half the lease when that is
// shorter, so that the retry comes while the pinhole still holds.
func (l *PinholeLease) RenewEvery() time.Duration {
	every := reassertEvery
	if l.got.Lease > 0 && l.got.Lease/2 < reassertEvery {
		every = l.got.Lease / 2
	}
	if l.failed {
		return min(pinholeRetry, every)
	}
	return every
}

// Renew extends the pinhole's lease (IGD UpdatePinhole, a PCP MAP with
// the same nonce). One the router no longer holds is opened again through
// the same service: then it says ReCreated. After a failed Renew,
// RenewEvery is shorter until one succeeds.
func (l *PinholeLease) Renew(ctx context.Context) (RenewHow, error) {
	if l.released {
		return "", errors.New("upnp: renew pinhole: the pinhole was released")
	}
	how, err := l.renew(ctx)
	l.failed = err != nil
	return how, err
}

// renew is Renew without the bookkeeping of failures.
func (l *PinholeLease) renew(ctx context.Context) (RenewHow, error) {
	rctx, cancel := context.WithTimeout(ctx, pinholeTimeout)
	got, err := l.svc.update(rctx, l.got)
	cancel()
	if err == nil {
		l.got = got
		return Renewed, nil
	}
	if !errors.Is(err, ErrNoSuchPinhole) {
		return "", wrapf(err, "renew pinhole %s on %s", l.got, l.gw)
	}
	rctx, cancel = context.WithTimeout(ctx, pinholeTimeout)
	got, rerr := l.svc.open(rctx, l.want)
	cancel()
	if rerr != nil {
		return "", fmt.Errorf("upnp: renew pinhole %s on %s: %w; opening it again: %w", l.got, l.gw, bare(err), bare(rerr))
	}
	l.got = got
	return ReCreated, nil
}

// Release deletes the pinhole; one the router no longer holds counts as
// released. A router that refuses the delete gets the shortest lease
// instead: then Release returns a *PinholeLingersError, and the pinhole
// counts as released (nothing more can be done about it).
func (l *PinholeLease) Release(ctx context.Context) error {
	if l.released {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, pinholeTimeout)
	defer cancel()
	err := l.svc.close(ctx, l.got)
	var lingers *PinholeLingersError
	switch {
	case errors.As(err, &lingers):
		l.released = true
		return err
	case err != nil && !errors.Is(err, ErrNoSuchPinhole):
		return wrapf(err, "delete pinhole %s on %s", l.got, l.gw)
	}
	l.released = true
	return nil
}
