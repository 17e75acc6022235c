package upnp

import (
	"fmt"
	"net/netip"
	"time"
)

// PinholeLingersError means the router would not delete the pinhole, and
// reach shortened its lease instead: it stays open for Left more, then
// closes on its own. PinholeLease.Release counts it as released.
type PinholeLingersError struct {
	Pinhole Pinhole
	// Left is the lease the router granted last, the longest the pinhole
	// stays open.
	Left time.Duration
	// Err is the router's refusal of the delete.
	Err error
}

// Error says that the pinhole is still open and for how long at most.
func (e *PinholeLingersError) Error() string {
	return fmt.Sprintf("upnp: the router refused to delete pinhole %s (%s): it stays open for at most %v more, then closes",
		e.Pinhole, trimPrefix(e.Err), e.Left)
}

func (e *PinholeLingersError) Unwrap() error { return e.Err }

// PinholeRefusal is a UPnP fault the router answered a pinhole action
// with. It unwraps to the *SOAPError; a 704 also matches ErrNoSuchPinhole.
type PinholeRefusal struct {
	SOAP *SOAPError
	// Pinhole is the pinhole asked for; zero for GetFirewallStatus.
	Pinhole Pinhole
	// From is the address the request was sent from.
	From netip.Addr
	// Control is the control URL the request went to.
	Control string
}

// Error says what the router refused, with its code, the pinhole and the
// address the request came from.
func (e *PinholeRefusal) Error() string {
	what := ""
	if e.Pinhole.Port != 0 {
		what = " for " + e.Pinhole.String()
	}
	return fmt.Sprintf("upnp: %s%s (sent from %s to %s)", e.SOAP, what, e.From, e.Control)
}

func (e *PinholeRefusal) Unwrap() error { return e.SOAP }

// Is reports whether target is ErrNoSuchPinhole and the router said so
// (UPnP 704).
func (e *PinholeRefusal) Is(target error) bool {
	return target == ErrNoSuchPinhole && e.SOAP.Code == CodeNoSuchPinhole
}

// Advice says what the fault means here and what the user can do, in
// words that name no command or flag. A 606 is told apart by what reach
// knows: the request came from another address than the pinhole's, or
// the port is below 1024 (miniupnpd refuses both with 606).
func (e *PinholeRefusal) Advice() string {
	p := e.Pinhole
	switch e.SOAP.Code {
	case CodeNotAuthorized:
		switch {
		case p.Addr.IsValid() && e.From != p.Addr:
			return fmt.Sprintf("the router opens a pinhole only for the address that asks: the request must come from %s itself, not %s", p.Addr, e.From)
		case p.Port != 0 && p.Port < 1024:
			return fmt.Sprintf("the router opens pinholes only for ports 1024 and up, not %d: serve on a higher port", p.Port)
		}
		return "the router refuses pinholes for this host: allow IPv6 pinholes (UPnP IGDv2) in its settings, or open the port in its IPv6 firewall by hand"
	case CodePinholeSpaceExhausted:
		return "the router's pinhole table is full: remove unused pinholes on the router"
	case CodeFirewallDisabled:
		return "the router's IPv6 firewall is off: inbound IPv6 needs no pinhole"
	case CodeInboundPinholeNotAllowed:
		return "the router does not allow inbound pinholes: allow them in its settings, or open the port in its IPv6 firewall by hand"
	case CodeNoSuchPinhole:
		return "the router no longer holds the pinhole: it expired, or the router restarted"
	case CodePinholeProtocol:
		return "the router cannot open pinholes for this protocol"
	case CodeInvalidArgs:
		return "the router refused the request's values (a lease of 1 s to 24 h, a port, TCP or UDP)"
	case CodeInvalidAction:
		return "the router does not implement IPv6 pinholes over UPnP; PCP may work, or open the port in its IPv6 firewall by hand"
	}
	return e.SOAP.Advice()
}
