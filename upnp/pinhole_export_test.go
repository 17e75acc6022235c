package upnp

import (
	"context"
	"net/netip"
)

// AddPinholeFrom sends AddPinhole for p to the IGD firewall service of r
// at gw, from the address from: a lab test's way to be the sender the
// router must refuse (OpenPinhole always sends from p.Addr).
func AddPinholeFrom(ctx context.Context, r *Router, gw, from netip.Addr, p Pinhole) (Pinhole, error) {
	fw, err := firewallOf(r, gw, from)
	if err != nil {
		return Pinhole{}, err
	}
	return fw.open(ctx, p)
}

// UndoPinholeFrom closes p at gw the way OpenPinhole does after an
// AddPinhole without a clear answer, knowing no UniqueID (firewall.undo),
// sending from the address from.
func UndoPinholeFrom(ctx context.Context, r *Router, gw, from netip.Addr, p Pinhole) (undone, clean bool, err error) {
	fw, err := firewallOf(r, gw, from)
	if err != nil {
		return false, false, err
	}
	undone, clean = fw.undo(ctx, p)
	return undone, clean, nil
}
