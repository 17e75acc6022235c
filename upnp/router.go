package upnp

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
)

// Router is the gateway and the mapping services that answered on it.
type Router struct {
	// Gateway is the router; LocalIP this host's address on the way to it.
	Gateway, LocalIP netip.Addr
	// Services answered, in preference order: UPnP IGD, PCP, NAT-PMP.
	Services []Mapper
	// Missing says why each family was not found; it holds only families
	// that were probed.
	Missing map[Family]error
	// Others are other UPnP devices that answered (never used).
	Others []Device
	// Answers holds, for a service that answered with a protocol error
	// (NAT-PMP result 3, PCP NETWORK_FAILURE), that error as evidence; a
	// family that answered cleanly has no entry.
	Answers map[Family]error
	// Config is how the router was found; Lease.Renew finds it again with
	// it after a reboot.
	Config Config

	// found is the discovery whose PCP and NAT-PMP probes were still
	// running when FindRouter returned (Config.IGDFirst); nil once
	// Settle added them.
	found *Discovery
}

// Settle waits for the PCP and NAT-PMP probes still running on a router
// found with Config.IGDFirst (at most igdGrace after the IGD answered),
// and adds to Services, Missing and Answers what they found. On any other
// router it does nothing. Pick and Map settle on their own when the IGD
// is not enough; whoever reads Services, Missing or Answers for more than
// the IGD settles first. Not safe for use by several goroutines at once.
func (r *Router) Settle() {
	if r.found == nil {
		return
	}
	d := r.found
	r.found = nil
	d.Settle()
	all := d.router(r.Config)
	r.Services, r.Missing, r.Answers = all.Services, all.Missing, all.Answers
}

// Settled reports whether every service probed has answered or given up.
func (r *Router) Settled() bool { return r.found == nil }

// FindRouter finds the gateway and the mapping services on it (see
// Discover). It returns an error only when there is no gateway; a gateway
// without any service gives a Router whose Err says why.
func FindRouter(ctx context.Context, cfg Config) (*Router, error) {
	d, err := Discover(ctx, cfg)
	if err != nil {
		return nil, err
	}
	r := d.router(cfg)
	if d.late != nil {
		r.found = d
	}
	return r, nil
}

// router turns what Discover found into a Router.
func (d *Discovery) router(cfg Config) *Router {
	cfg.IGDFirst = false // a router found again (Lease.Renew) is found whole
	r := &Router{Gateway: d.Gateway, LocalIP: d.LocalIP, Others: d.Others,
		Missing: map[Family]error{}, Answers: map[Family]error{}, Config: cfg}
	add := func(f Family, found bool, svc Mapper) {
		err, probed := d.Errors[f.method()]
		switch {
		case found:
			r.Services = append(r.Services, svc)
			if err != nil {
				r.Answers[f] = err
			}
		case probed || cfg.wants(f.method()):
			r.Missing[f] = err
		}
	}
	add(FamilyUPnP, d.IGD != nil, d.IGD)
	add(FamilyPCP, d.PCP != nil, d.PCP)
	add(FamilyNATPMP, d.NATPMP != nil, d.NATPMP)
	return r
}

// Pick returns the service of family f. FamilyAuto is the first service
// that answered (Err when none did); another family that did not answer
// gives an error saying why, from Missing.
func (r *Router) Pick(f Family) (Mapper, error) {
	for _, s := range r.Services {
		if f == FamilyAuto || s.Method().Fam() == f {
			return s, nil
		}
	}
	if !r.Settled() {
		r.Settle()
		return r.Pick(f)
	}
	if f == FamilyAuto {
		return nil, r.Err()
	}
	why := "it was not probed"
	if err := r.Missing[f]; err != nil {
		why = trimPrefix(err)
	} else if _, probed := r.Missing[f]; probed {
		why = "no reason recorded"
	}
	return nil, &wrapped{msg: fmt.Sprintf("upnp: the router at %s does not answer %s: %s", r.Gateway, f.title(), why), err: r.Missing[f]}
}

// Err is nil when some service answered; otherwise ErrNoMappingService
// with each probed family's reason, once.
func (r *Router) Err() error {
	if len(r.Services) > 0 {
		return nil
	}
	var why []string
	for _, f := range families {
		if err := r.Missing[f]; err != nil {
			why = append(why, fmt.Sprintf("%s: %s", f.title(), trimPrefix(err)))
		}
	}
	if len(why) == 0 {
		return fmt.Errorf("%w on %s", ErrNoMappingService, r.Gateway)
	}
	return fmt.Errorf("%w on %s (%s)", ErrNoMappingService, r.Gateway, strings.Join(why, "; "))
}
