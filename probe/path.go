package probe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Waits and limits of the hop probe.
const (
	// HopTimeout bounds Hops when ctx has no earlier deadline. The first
	// three hops (home router, modem or ISP edge) answer within tens of
	// milliseconds; a hop that has not answered in 300 ms is one that does
	// not send ICMP time-exceeded at all, and waiting longer only delays the
	// report.
	HopTimeout = 300 * time.Millisecond
	// DefaultMaxTTL is how many hops Hops looks at when asked for none:
	// enough to see the router, the next NAT or the carrier's gateway.
	DefaultMaxTTL = 3
	// maxHopTTL caps maxTTL: Hops sends one probe per TTL at once.
	maxHopTTL = 30
)

// ErrHopsUnsupported means this system cannot read ICMP errors on an
// unprivileged socket, so the hops toward the internet stay unknown.
var ErrHopsUnsupported = errors.New("probe: reading the first hops is not supported on this system (Linux, macOS and Windows only); hops are unknown")

// Hop is one router on the way to a target, as seen by a TTL-limited probe.
type Hop struct {
	// TTL is the probe's time to live: 1 is the first router.
	TTL int
	// Addr is the router that answered; zero if none did in time (many
	// routers never answer).
	Addr netip.Addr
	// RTT is the time from sending the probe to its answer.
	RTT time.Duration
	// Target reports whether the probe reached the target itself (it
	// answered, or its host said the port is closed): there are no more
	// hops beyond this one.
	Target bool
}

// Hops sends UDP probes toward target with TTL 1 to maxTTL at once (zero
// means DefaultMaxTTL) and reports who answered for each TTL, from the ICMP
// time-exceeded messages the kernel queues on the socket; no root needed.
// The list stops at the first hop that is the target. It waits at most
// HopTimeout, less if ctx ends first. A probe carries a STUN Binding
// request, so a STUN server as target simply answers it.
func Hops(ctx context.Context, target netip.AddrPort, maxTTL int) ([]Hop, error) {
	if maxTTL == 0 {
		maxTTL = DefaultMaxTTL
	}
	if maxTTL < 0 || maxTTL > maxHopTTL {
		return nil, fmt.Errorf("probe: hops: max TTL %d out of range 1..%d", maxTTL, maxHopTTL)
	}
	target = netip.AddrPortFrom(target.Addr().Unmap(), target.Port())
	if !target.Addr().IsValid() || target.Addr().IsUnspecified() || target.Port() == 0 {
		return nil, fmt.Errorf("probe: hops: invalid target %s", target)
	}
	ctx, cancel := context.WithTimeout(ctx, HopTimeout)
	defer cancel()
	hops, err := sendHopProbes(ctx, target, maxTTL)
	if err != nil {
		return nil, err
	}
	return trimHops(hops), nil
}

// trimHops returns hops in TTL order, up to the first that is the target.
func trimHops(hops []Hop) []Hop {
	for i, h := range hops {
		if h.Target {
			return hops[:i+1]
		}
	}
	return hops
}
