package upnp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/huin/goupnp/dcps/internetgateway2"
	"github.com/huin/goupnp/soap"
)

// UPnP error codes of WANIPv6FirewallControl:1 (section 2.4).
const (
	CodePinholeSpaceExhausted    = 701 // the router's pinhole table is full
	CodeFirewallDisabled         = 702 // the IPv6 firewall is off: nothing to open
	CodeInboundPinholeNotAllowed = 703 // pinholes are off in the router's settings
	CodeNoSuchPinhole            = 704 // no pinhole of that UniqueID
	CodePinholeProtocol          = 705 // ProtocolNotSupported
)

// firewall is an IGD's WANIPv6FirewallControl:1 service reached at the
// router's IPv6 address, with every request sent from this host's IPv6
// address. It is a pinholer.
type firewall struct {
	client  *internetgateway2.WANIPv6FirewallControl1
	control *url.URL
	from    netip.Addr
}

// newFirewall finds g's WANIPv6FirewallControl service in its
// description (found over IPv4: the service answers over either family)
// and points it at the router's IPv6 address gw6, on the control URL's
// port and path, through an HTTP client bound to from.
func newFirewall(g *IGD, gw6, from netip.Addr) (*firewall, error) {
	if g.root == nil {
		return nil, fmt.Errorf("upnp: IGD at %s: no description", g.location)
	}
	cs, err := internetgateway2.NewWANIPv6FirewallControl1ClientsFromRootDevice(g.root, g.location)
	if err != nil || len(cs) == 0 {
		return nil, fmt.Errorf("upnp: IGD at %s (%q) has no WANIPv6FirewallControl service", g.location, g.name)
	}
	sc := cs[0].ServiceClient
	u := sc.Service.ControlURL.URL // a copy
	u.Host = netip.AddrPortFrom(gw6, portOf(&u)).String()
	soapc := soap.NewSOAPClient(u)
	soapc.HTTPClient = soapHTTPClient(newHTTPClient(from))
	sc.SOAPClient = soapc
	return &firewall{client: &internetgateway2.WANIPv6FirewallControl1{ServiceClient: sc}, control: &u, from: from}, nil
}

// portOf is u's port: explicit, else 80 for http.
func portOf(u *url.URL) uint16 {
	if p, err := strconv.ParseUint(u.Port(), 10, 16); err == nil && p != 0 {
		return uint16(p)
	}
	return 80
}

func (f *firewall) method() PinholeMethod { return PinholeIGD2 }

// ianaProto is the IANA protocol number IGDv2 names a protocol by.
func ianaProto(p Protocol) uint16 {
	b, _ := pcpProto(p)
	return uint16(b)
}

// open sends AddPinhole: from any remote host and port to p.Addr:p.Port.
// A router that already holds the same pinhole extends it and answers
// with its UniqueID.
func (f *firewall) open(ctx context.Context, p Pinhole) (Pinhole, error) {
	id, err := f.client.AddPinholeCtx(ctx, "", 0, p.Addr.String(), p.Port, ianaProto(p.Protocol), leaseSeconds(p))
	if err != nil {
		return Pinhole{}, f.err("AddPinhole", p, err)
	}
	p.ID = id
	return p, nil
}

// undo closes what an AddPinhole for p without a clear answer may have
// opened, without its UniqueID: it asks for the same pinhole again with
// the shortest lease (a router that holds it answers with its UniqueID
// and shortens it, miniupnpd among them; one that does not opens it for a
// second) and deletes it. A delete that fails leaves a pinhole of one
// second: undone all the same. A refusal of the second ask says the
// router holds nothing: clean, not undone.
func (f *firewall) undo(ctx context.Context, p Pinhole) (undone, clean bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pinholeUndoWait)
	defer cancel()
	p.Lease = time.Second
	got, err := f.open(ctx, p)
	if err != nil {
		return false, refusal(err)
	}
	_ = f.close(ctx, got) // failed or not, its lease is one second now
	return true, true
}

// update sends UpdatePinhole with p's lease.
func (f *firewall) update(ctx context.Context, p Pinhole) (Pinhole, error) {
	if err := f.client.UpdatePinholeCtx(ctx, p.ID, leaseSeconds(p)); err != nil {
		return Pinhole{}, f.err("UpdatePinhole", p, err)
	}
	return p, nil
}

// close sends DeletePinhole. miniupnpd 2.3.1 answers one for a UniqueID
// it no longer holds (its lease ran out, the router restarted) with 402
// Invalid Args, not 704, though the ID is one it gave. After a 402 the
// pinhole is looked for with CheckPinholeWorking: a pinhole the router
// holds gets an answer or 709 (no traffic yet); 704, or 402 again for the
// same well-formed ID, says it is gone.
func (f *firewall) close(ctx context.Context, p Pinhole) error {
	err := f.client.DeletePinholeCtx(ctx, p.ID)
	if err == nil {
		return nil
	}
	derr := f.err("DeletePinhole", p, err)
	if faultCode(derr) != CodeInvalidArgs {
		return derr
	}
	_, cerr := f.client.CheckPinholeWorkingCtx(ctx, p.ID)
	if cerr == nil {
		return derr
	}
	switch code := faultCode(f.err("CheckPinholeWorking", p, cerr)); code {
	case CodeNoSuchPinhole, CodeInvalidArgs:
		return &wrapped{msg: fmt.Sprintf("upnp: the router knows no pinhole %d for %s (UPnP 402 to DeletePinhole, then %d to CheckPinholeWorking)",
			p.ID, p, code), err: ErrNoSuchPinhole}
	}
	return derr
}

// status asks GetFirewallStatus.
func (f *firewall) status(ctx context.Context) (enabled, inboundAllowed bool, err error) {
	enabled, inboundAllowed, err = f.client.GetFirewallStatusCtx(ctx)
	if err != nil {
		return false, false, f.err("GetFirewallStatus", Pinhole{}, err)
	}
	return enabled, inboundAllowed, nil
}

// leaseSeconds is p's lease in whole seconds, 1 to 86400.
func leaseSeconds(p Pinhole) uint32 {
	return uint32(max(1, min(p.Lease, maxPinholeLease)/1e9))
}

// err describes a failed action: a fault as a *PinholeRefusal (704 also
// matches ErrNoSuchPinhole), an HTTP error status without a fault as an
// *HTTPError, a transport error with the control URL.
func (f *firewall) err(action string, p Pinhole, err error) error {
	if se := soapErrorFrom(err, action); se != nil {
		return &PinholeRefusal{SOAP: se, Pinhole: p, From: f.from, Control: f.control.String()}
	}
	if he := httpErrorFrom(err, action); he != nil {
		return &wrapped{msg: fmt.Sprintf("upnp: %s (sent from %s to %s)", he, f.from, f.control), err: he}
	}
	msg := fmt.Sprintf("upnp: %s at %s (sent from %s): %v", action, f.control, f.from, err)
	if cause := transportCause(err); cause != nil {
		return &wrapped{msg: msg, err: cause}
	}
	if errors.Is(err, context.Canceled) {
		return &wrapped{msg: msg, err: context.Canceled}
	}
	return errors.New(msg)
}

// firewallOf returns r's IGD firewall service at gw6, if r has an IGD
// that lists one.
func firewallOf(r *Router, gw6, from netip.Addr) (*firewall, error) {
	svc, err := r.Pick(FamilyUPnP)
	if err != nil {
		return nil, err
	}
	g, ok := svc.(*IGD)
	if !ok {
		return nil, fmt.Errorf("upnp: the UPnP service on %s is no IGD", r.Gateway)
	}
	return newFirewall(g, gw6, from)
}
