package upnp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
)

// FailureKind sorts a router error by what it means for the user, so that
// a command can pick its advice without reading error texts.
type FailureKind string

// The kinds of failure Kind tells apart.
const (
	// KindConflict: the port is held by another host or program.
	KindConflict FailureKind = "conflict"
	// KindNotAuthorized: mapping is off or restricted in the router.
	KindNotAuthorized FailureKind = "not-authorized"
	// KindNoExternalAddress: the router has no usable external address
	// (WAN down, or behind another NAT): NAT-PMP result 3, PCP
	// NETWORK_FAILURE, UPnP 501 while it reports no external address.
	KindNoExternalAddress FailureKind = "no-external-address"
	// KindNoResources: the mapping table (or this host's quota) is full.
	KindNoResources FailureKind = "no-resources"
	// KindUnsupported: the router does not implement what was asked
	// (UPnP 401, 724, PCP UNSUPP_*).
	KindUnsupported FailureKind = "unsupported"
	// KindUnanswered: no reply in time (or the wait was cut short).
	KindUnanswered FailureKind = "unanswered"
	// KindRefused: any other refusal in the protocol's own words.
	KindRefused FailureKind = "refused"
	// KindOther: anything else (a local error, a malformed reply).
	KindOther FailureKind = "other"
)

// noExternalError marks a UPnP ActionFailed (501) from a router that, asked
// right after, reports no external address: its WAN is down.
type noExternalError struct{ err error }

func (e *noExternalError) Error() string {
	return e.err.Error() + " (the router reports no external address)"
}
func (e *noExternalError) Unwrap() error { return e.err }

// Kind tells what kind of failure err is; "" for nil.
func Kind(err error) FailureKind {
	if err == nil {
		return ""
	}
	var (
		ce *ConflictError
		ne *noExternalError
		se *SOAPError
		pe *PCPError
		me *NATPMPError
	)
	switch {
	case errors.As(err, &ce), errors.Is(err, ErrNotOurs):
		return KindConflict
	case errors.As(err, &ne):
		return KindNoExternalAddress
	case errors.As(err, &se):
		return soapKind(se.Code)
	case errors.As(err, &pe):
		return pcpKind(pe.Code)
	case errors.As(err, &me):
		return natpmpKind(me.Result)
	case unanswered(err):
		return KindUnanswered
	}
	return KindOther
}

// refusal reports whether err is the router saying no in its protocol's
// own words (a UPnP fault, a PCP or NAT-PMP result code, a named holder).
func refusal(err error) bool {
	switch Kind(err) {
	case KindUnanswered, KindOther, "":
		return false
	}
	return true
}

// unanswered reports whether err means that no reply came.
func unanswered(err error) bool {
	var netErr net.Error
	return errors.Is(err, ErrNATPMPNoReply) || errors.Is(err, ErrPCPNoReply) || errors.Is(err, ErrNoIGD) ||
		errors.Is(err, ErrNoMappingService) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) || (errors.As(err, &netErr) && netErr.Timeout())
}

func soapKind(code int) FailureKind {
	switch code {
	case CodeConflict:
		return KindConflict
	case CodeNotAuthorized:
		return KindNotAuthorized
	case CodeNoPortMapsAvailable:
		return KindNoResources
	case CodeInvalidAction, CodeSamePortValuesRequired, CodeOnlyPermanentLeases, 602: // 602: optional action not implemented
		return KindUnsupported
	}
	return KindRefused
}

func pcpKind(c PCPCode) FailureKind {
	switch c {
	case PCPCannotProvideExternal:
		return KindConflict
	case PCPNotAuthorized:
		return KindNotAuthorized
	case PCPNetworkFailure:
		return KindNoExternalAddress
	case PCPNoResources, PCPUserExQuota:
		return KindNoResources
	case PCPUnsuppVersion, PCPUnsuppOpcode, PCPUnsuppOption, PCPUnsuppProtocol:
		return KindUnsupported
	}
	return KindRefused
}

func natpmpKind(r NATPMPResult) FailureKind {
	switch r {
	case NATPMPNotAuthorized:
		return KindNotAuthorized
	case NATPMPNetworkFailure:
		return KindNoExternalAddress
	case NATPMPOutOfResources:
		return KindNoResources
	case NATPMPUnsupportedVersion, NATPMPUnsupportedOpcode:
		return KindUnsupported
	}
	return KindRefused
}

// maxSummary is the longest line Summary returns.
const maxSummary = 90

// Summary is one short line about err for a progress step: what happened,
// without the package prefix or a library's raw text. The whole chain
// stays in err.Error().
func Summary(err error) string {
	if err == nil {
		return ""
	}
	var (
		ce *ConflictError
		no *NotOursError
		se *SOAPError
		pe *PCPError
		me *NATPMPError
		he *HTTPError
	)
	var s string
	switch {
	case errors.As(err, &ce):
		s = fmt.Sprintf("port %d/%s is held by another host", ce.Holder.ExternalPort, ce.Holder.Protocol)
		if ce.Holder.InternalIP.IsValid() {
			s = fmt.Sprintf("port %d/%s is already forwarded to %s:%d", ce.Holder.ExternalPort, ce.Holder.Protocol, ce.Holder.InternalIP, ce.Holder.InternalPort)
		}
		if ce.Free != 0 {
			s += fmt.Sprintf(" (%d is free)", ce.Free)
		}
	case errors.As(err, &no):
		s = fmt.Sprintf("port %d/%s is forwarded to %s:%d, not to this host", no.Holder.ExternalPort, no.Holder.Protocol, no.Holder.InternalIP, no.Holder.InternalPort)
		if no.SameHost {
			s = fmt.Sprintf("port %d/%s is forwarded to this host's port %d, not the one named", no.Holder.ExternalPort, no.Holder.Protocol, no.Holder.InternalPort)
		}
	case errors.As(err, &se) && se.Code == 0:
		desc := se.Description
		if desc == "" {
			desc = "no description"
		}
		s = fmt.Sprintf("router refused %s, no UPnP error code (%s)", soapWhat(se.Action), desc)
	case errors.As(err, &se):
		s = fmt.Sprintf("router refused %s: UPnP %d, %s", soapWhat(se.Action), se.Code, soapCodeName(se.Code))
		if Kind(err) == KindNoExternalAddress {
			s += ", no external address"
		}
	case errors.As(err, &he):
		s = he.Error()
	case errors.As(err, &pe):
		s = fmt.Sprintf("router refused: PCP %s (result %d)", pe.Code, pe.Code)
	case errors.As(err, &me):
		s = fmt.Sprintf("router refused: NAT-PMP result %d, %s", me.Result, me.Result)
	case errors.Is(err, ErrNoGateway):
		s = "no default gateway"
	case errors.Is(err, ErrNoMappingService):
		s = "no port-mapping service answered on the router"
	case errors.Is(err, ErrNoSuchMapping):
		s = "the router holds no such mapping"
	case errors.Is(err, ErrPCPUnknownNonce):
		s = "reach did not make this PCP mapping here, so it cannot delete it"
	case errors.Is(err, ErrNATPMPNoReply):
		s = "no NAT-PMP reply from the router"
	case errors.Is(err, ErrPCPNoReply):
		s = "no PCP reply from the router"
	case errors.Is(err, ErrNoIGD):
		s = "no UPnP IGD answered on the router"
	case errors.Is(err, context.Canceled):
		s = "cancelled before the router answered"
	case unanswered(err):
		s = "the router did not answer in time"
	default:
		s = firstClause(err)
	}
	return shorten(s)
}

// soapWhat names what a SOAP action was about.
func soapWhat(action string) string {
	switch action {
	case "AddPortMapping":
		return "the mapping"
	case "DeletePortMapping":
		return "the removal"
	case "":
		return "the request"
	}
	return action
}

// soapCodeName is a UPnP error code in a few words.
func soapCodeName(code int) string {
	switch code {
	case CodeInvalidAction:
		return "action not implemented"
	case CodeInvalidArgs:
		return "invalid arguments"
	case CodeActionFailed:
		return "action failed"
	case 602:
		return "optional action not implemented"
	case CodeNotAuthorized:
		return "not authorized"
	case CodeNoSuchEntry:
		return "no such mapping"
	case CodeConflict:
		return "port held by another host"
	case CodeSamePortValuesRequired:
		return "external port must equal internal port"
	case CodeOnlyPermanentLeases:
		return "only permanent leases"
	case CodeNoPortMapsAvailable:
		return "mapping table full"
	}
	return "error"
}

// firstClause is err's text without the package prefix, cut before the
// text of a wrapped library error ("goupnp: ...", "Post ...").
func firstClause(err error) string {
	s := trimPrefix(err)
	for _, cut := range []string{": goupnp:", ": Post ", ": Get ", ": dial "} {
		if i := strings.Index(s, cut); i > 0 {
			s = s[:i]
		}
	}
	return s
}

// shorten cuts s to maxSummary characters at a word boundary.
func shorten(s string) string {
	if len(s) <= maxSummary {
		return s
	}
	cut := strings.LastIndexByte(s[:maxSummary-3], ' ')
	if cut < maxSummary/2 {
		cut = maxSummary - 3
	}
	return strings.TrimRight(s[:cut], " ,;:") + "..."
}
