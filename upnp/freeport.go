package upnp

import (
	"context"
	"fmt"
)

// minFreePort is the lowest port FreePort offers: below it are the
// well-known ports, which routers often reserve or refuse.
const minFreePort = 1024

// FreePort returns the first external port above near (wrapping round
// past 65535, skipping ports below 1024) that no mapping in the router's
// list holds for proto. It makes one list walk (see Lister.Mappings).
func FreePort(ctx context.Context, l Lister, proto Protocol, near uint16) (uint16, error) {
	list, err := l.Mappings(ctx)
	if err != nil {
		return 0, wrapf(err, "look for a free %s port", proto)
	}
	held := make(map[uint16]bool, len(list))
	for _, m := range list {
		if m.Protocol == proto {
			held[m.ExternalPort] = true
		}
	}
	return nextFree(held, near)
}

// nextFree is the first port after near, in [minFreePort, 65535] and
// wrapping round, that held does not hold.
func nextFree(held map[uint16]bool, near uint16) (uint16, error) {
	const span = 65536 - minFreePort
	start := int(near) - minFreePort + 1 // offset of near+1 in the span
	if start < 0 {
		start = 0
	}
	for i := 0; i < span; i++ {
		p := uint16(minFreePort + (start+i)%span)
		if p != near && !held[p] {
			return p, nil
		}
	}
	return 0, fmt.Errorf("upnp: no free external port: the router holds all of %d-65535", minFreePort)
}
