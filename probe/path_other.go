//go:build !linux && !darwin && !windows

package probe

import (
	"context"
	"net/netip"
)

func sendHopProbes(ctx context.Context, target netip.AddrPort, maxTTL int) ([]Hop, error) {
	return nil, ErrHopsUnsupported
}
