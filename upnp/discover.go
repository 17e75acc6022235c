package upnp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"
)

const (
	// igdGrace is how long NAT-PMP and PCP may still answer once the IGD
	// did: both answer within milliseconds when they are on.
	igdGrace = 50 * time.Millisecond
	// cachedHeadStart is how long the remembered description URL is tried
	// alone before SSDP starts too: a router on the LAN serves it in a few
	// milliseconds (1.3 ms measured against miniupnpd), so a router that
	// has moved costs the search only this much.
	cachedHeadStart = 25 * time.Millisecond
	// portProbeTimeout bounds each of the PCP and NAT-PMP probes: both
	// servers sit one hop away and answer in ~20 ms; their own probes give
	// up after 500 ms, this is the outer guard.
	portProbeTimeout = 600 * time.Millisecond
)

// MethodUPnP keys Discovery.Errors for UPnP IGD, whose version is unknown
// when none answered. "upnp" is also what --method accepts for either
// version.
const MethodUPnP Method = "upnp"

// Discovery is what Discover found on the gateway.
type Discovery struct {
	// Gateway is the router; LocalIP this host's address on the way to it.
	Gateway, LocalIP netip.Addr
	// IGD, PCP and NATPMP are the services that answered; nil if not.
	// With Config.IGDFirst, PCP and NATPMP are known only once Settle
	// returned.
	IGD    *IGD
	PCP    *PCP
	NATPMP *NATPMP
	// Others are other UPnP devices that answered the search (not the
	// gateway's IGD); reach never maps on them. It may be incomplete when
	// the remembered IGD answered before the search finished.
	Others []Device
	// Errors says why each service was not found, keyed by MethodUPnP,
	// MethodPCP and MethodNATPMP.
	Errors map[Method]error

	// late are the PCP and NAT-PMP probes that were still running when
	// Discover returned (Config.IGDFirst); nil once merged.
	late *lateProbes
}

// lateProbes collects what the PCP and NAT-PMP probes find, from their
// goroutines, until Settle merges it into the Discovery.
type lateProbes struct {
	wg     sync.WaitGroup
	mu     sync.Mutex
	pcp    *PCP
	natpmp *NATPMP
	errs   map[Method]error
}

// Settle waits for the PCP and NAT-PMP probes that Discover left running
// (Config.IGDFirst: at most igdGrace after the IGD answered) and adds what
// they found. It does nothing on a Discovery that is complete. Not safe
// for use by several goroutines at once.
func (d *Discovery) Settle() {
	p := d.late
	if p == nil {
		return
	}
	p.wg.Wait()
	d.late = nil
	if p.pcp != nil {
		d.PCP = p.pcp
	}
	if p.natpmp != nil {
		d.NATPMP = p.natpmp
	}
	for m, err := range p.errs {
		d.Errors[m] = err
	}
}

// Discover finds the gateway and probes it for UPnP IGD (SSDP, and the
// remembered description URL at the same time), PCP and NAT-PMP in
// parallel. It returns an error only when there is no gateway; a gateway
// without any mapping service gives a Discovery whose Best is nil (see
// Err). Call it again to find the services after a router reboot.
//
// Once the IGD answered, NAT-PMP and PCP have igdGrace more to answer
// (unless Config.AllServices). With Config.IGDFirst, Discover returns as
// soon as the IGD answered and those probes go on: a mapping can start on
// the IGD meanwhile, and Settle adds them when they are needed.
func Discover(ctx context.Context, cfg Config) (*Discovery, error) {
	gw, local, err := FindGateway(ctx, cfg)
	if err != nil {
		return nil, err
	}
	d := &Discovery{Gateway: gw, LocalIP: local, Errors: map[Method]error{}}
	early := cfg.IGDFirst && !cfg.AllServices
	// The NAT-PMP and PCP probes end early once the IGD answered, unless
	// the caller wants every service (diagnose): a router that silently
	// drops port 5351 must not hold up a mapping the IGD can make. When
	// Discover may return before they end, they run on without the
	// caller's deadline, bounded by the grace, which starts once the IGD
	// answered; every other way, the IGD answered or not, they end with
	// ctx as before.
	pctx := ctx
	if early {
		pctx = context.WithoutCancel(ctx)
	}
	pmpCtx, pmpCancel := context.WithCancel(pctx)
	p := &lateProbes{errs: map[Method]error{}}
	probe := func(m Method, pr interface{ Probe(context.Context) error }, found func()) {
		defer p.wg.Done()
		ctx, cancel := context.WithTimeout(pmpCtx, orDefault(cfg.probeTimeout, portProbeTimeout))
		defer cancel()
		err := pr.Probe(ctx)
		p.mu.Lock()
		defer p.mu.Unlock()
		if answered(err) {
			found()
		}
		if err != nil {
			p.errs[m] = err
		}
	}
	if cfg.wants(MethodPCP) {
		p.wg.Add(1)
		pcp := NewPCP(cfg, gw, local)
		go probe(MethodPCP, pcp, func() { p.pcp = pcp })
	}
	if cfg.wants(MethodNATPMP) {
		p.wg.Add(1)
		n := NewNATPMP(cfg, gw)
		go probe(MethodNATPMP, n, func() { p.natpmp = n })
	}
	if early {
		// Cancelled with ctx too, as long as Discover runs.
		stop := context.AfterFunc(ctx, pmpCancel)
		defer stop()
	}
	if cfg.wants(MethodUPnP) {
		// The UPnP branch is bounded by the SSDP search plus one
		// description fetch from a router that answered; when nothing
		// answers, it ends with the search.
		uctx, cancel := context.WithTimeout(ctx, orDefault(cfg.ssdpTimeout, ssdpTimeout)+orDefault(cfg.descTimeout, descriptionTimeout))
		igd, others, err := discoverIGD(uctx, cfg, gw, local)
		cancel()
		d.IGD, d.Others = igd, others
		switch {
		case err != nil:
			d.Errors[MethodUPnP] = err
		case !cfg.AllServices:
			time.AfterFunc(orDefault(cfg.igdGrace, igdGrace), pmpCancel)
		}
	}
	d.late = p
	if early && d.IGD != nil {
		go func() { p.wg.Wait(); pmpCancel() }()
		return d, nil
	}
	d.Settle()
	pmpCancel()
	return d, nil
}

// errCachedWon ends the search unstarted: the remembered IGD answered.
var errCachedWon = errors.New("upnp: the remembered IGD answered")

// answered reports whether a PCP or NAT-PMP probe found the service: it
// worked, or the router answered with a result code of the protocol (for
// example "no external address" behind another NAT), which is itself the
// evidence diagnose needs. A router that does not speak the version asked
// is not a service of that kind.
func answered(err error) bool {
	var pe *PCPError
	if errors.As(err, &pe) {
		return pe.Code != PCPUnsuppVersion
	}
	var ne *NATPMPError
	if errors.As(err, &ne) {
		return ne.Result != NATPMPUnsupportedVersion
	}
	return err == nil
}

// discoverIGD races the remembered description URL of gw (if any) against
// an SSDP search; the first that yields a working IGD wins. A remembered
// URL that fails is forgotten; a found one is remembered.
func discoverIGD(ctx context.Context, cfg Config, gw, local netip.Addr) (*IGD, []Device, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cache := newDescriptionCache(cfg)

	type result struct {
		igd    *IGD
		others []Device
		err    error
		cached bool
	}
	results := make(chan result, 2)
	running := 1
	// cachedDone tells the search whether the remembered IGD worked.
	cachedDone := make(chan bool, 1)
	loc := cache.Get(gw)
	if loc == "" {
		cachedDone <- false
	} else {
		running++
		go func() {
			u, err := checkLocation(loc, gw)
			var igd *IGD
			if err == nil {
				igd, err = OpenIGD(ctx, cfg, gw, local, u)
			}
			if err != nil && ctx.Err() == nil { // failed on its own, not cut short by SSDP winning
				cfg.logf("upnp: forgetting remembered IGD %s of %s: %v", loc, gw, trimPrefix(err))
				cache.Drop(gw, loc)
			}
			cachedDone <- igd != nil
			results <- result{igd: igd, err: err, cached: true}
		}()
	}
	go func() {
		// The remembered router goes first: many routers serve SSDP and
		// HTTP from one thread, and a search at the same moment slows the
		// description fetch it competes with.
		select {
		case ok := <-cachedDone:
			if ok && !cfg.AllServices { // diagnose searches anyway, to list the other devices
				results <- result{err: errCachedWon}
				return
			}
		case <-time.After(orDefault(cfg.cachedHeadStart, cachedHeadStart)):
		}
		if ctx.Err() != nil {
			results <- result{err: ctx.Err()}
			return
		}
		res, err := searchSSDP(ctx, cfg, gw, local)
		if err != nil {
			results <- result{others: res.Others, err: err}
			return
		}
		igd, err := openIGD(ctx, cfg, gw, local, res.Location, res.announcement())
		if err == nil && res.Repointed == "" { // a repointed one needs the SSDP answer to be trusted again
			cache.Put(gw, res.Location.String())
		}
		results <- result{igd: igd, others: res.Others, err: err}
	}()

	var (
		won                *IGD
		others             []Device
		searchErr, memoErr error
	)
	for ; running > 0; running-- {
		r := <-results
		others = append(others, r.others...)
		switch {
		case r.igd != nil && won == nil:
			won = r.igd
			if !cfg.AllServices {
				cancel() // stop the other attempt; it is drained by this loop
			}
		case r.cached:
			memoErr = r.err
		default:
			searchErr = r.err
		}
	}
	switch {
	case won != nil:
		return won, others, nil
	case memoErr != nil:
		return nil, others, fmt.Errorf("%w; the remembered IGD failed too: %s", searchErr, strings.TrimPrefix(memoErr.Error(), "upnp: "))
	}
	return nil, others, searchErr
}

// Best returns the service to map with: UPnP IGD if it answered (it can list
// and tell who holds a port), else PCP, else NAT-PMP; nil if none answered.
func (d *Discovery) Best() Mapper {
	switch {
	case d.IGD != nil:
		return d.IGD
	case d.PCP != nil:
		return d.PCP
	case d.NATPMP != nil:
		return d.NATPMP
	}
	return nil
}

// Err explains why Best is nil: ErrNoMappingService with each service's
// reason, worded as Router.Err words it; nil when some service answered.
func (d *Discovery) Err() error { return d.router(Config{}).Err() }
