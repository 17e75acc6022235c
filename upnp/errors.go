package upnp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/huin/goupnp/soap"
)

// Errors the CLI explains to the user; match them with errors.Is.
var (
	// ErrNoGateway means this host has no default route to a router.
	ErrNoGateway = errors.New("upnp: no default gateway: this host has no route to a router")
	// ErrNoIGD means no UPnP Internet Gateway Device on the gateway answered
	// discovery (or the remembered one is gone).
	ErrNoIGD = errors.New("upnp: no UPnP IGD answered on the gateway")
	// ErrNoSuchMapping means the router holds no mapping on that external
	// port and protocol.
	ErrNoSuchMapping = errors.New("upnp: no such mapping on the router")
	// ErrNotOurs means the mapping belongs to another host; reach never
	// deletes it. The error is a *NotOursError naming the holder.
	ErrNotOurs = errors.New("upnp: mapping belongs to another host")
	// ErrResponseTooLarge means a device sent more than maxResponseBytes.
	ErrResponseTooLarge = errors.New("upnp: response from the router is too large")
	// ErrNoMappingService means neither UPnP IGD, PCP nor NAT-PMP answered.
	ErrNoMappingService = errors.New("upnp: no port-mapping service on the gateway (UPnP IGD, PCP and NAT-PMP all silent)")
)

// UPnP error codes (IGD WANIPConnection:2 spec, section 2.4) that reach
// handles specially.
const (
	CodeInvalidAction          = 401 // the router does not implement the action
	CodeInvalidArgs            = 402 // bad arguments; some routers say it of any lease but 0
	CodeActionFailed           = 501 // generic failure: WAN down, port reserved...
	CodeNotAuthorized          = 606 // UPnP port forwarding restricted in settings
	CodeArrayIndexInvalid      = 713 // end of GetGenericPortMappingEntry walk
	CodeNoSuchEntry            = 714 // no mapping on that port/protocol
	CodeConflict               = 718 // port already mapped to another client
	CodeSamePortValuesRequired = 724 // external port must equal internal port
	CodeOnlyPermanentLeases    = 725 // router refuses leases other than 0
	CodeNoPortMapsAvailable    = 728 // the mapping table is full
)

// SOAPError is a UPnP fault the router returned for an action.
type SOAPError struct {
	// Code is the UPnP errorCode (e.g. 718); 0 if the fault carried none.
	Code int
	// Description is the router's errorDescription (or faultstring).
	Description string
	// Action is the SOAP action that failed, e.g. "AddPortMapping".
	Action string
}

// Error says what the router refused, with its code and description.
func (e *SOAPError) Error() string {
	desc := e.Description
	if desc == "" {
		desc = "no description"
	}
	if e.Code == 0 {
		return fmt.Sprintf("router refused %s with no UPnP error code (%s)", e.Action, desc)
	}
	return fmt.Sprintf("router refused %s: UPnP error %d (%s)", e.Action, e.Code, desc)
}

// Advice is the usual reason for the fault code and what the user can do,
// in words that name no command or flag; empty when reach knows nothing
// useful to say.
func (e *SOAPError) Advice() string {
	switch e.Code {
	case CodeInvalidAction:
		return "this router does not implement the action; PCP or NAT-PMP may work, or forward the port by hand"
	case CodeActionFailed:
		if e.Action == "AddPortMapping" {
			return "often the router's WAN is not connected, or the router reserves the port for itself; another external port may work"
		}
		return "often the router's WAN is not connected"
	case CodeNotAuthorized:
		return "UPnP port forwarding is restricted in the router's settings; allow it there or forward the port by hand"
	case CodeConflict:
		return "the port is already forwarded to another host; choose another external port or remove that mapping on the router"
	case CodeSamePortValuesRequired:
		return "this router needs the external port to equal the internal port"
	case CodeOnlyPermanentLeases:
		return "this router only accepts permanent mappings (lease 0)"
	case CodeNoPortMapsAvailable:
		return "the router's mapping table is full: remove unused port forwards on the router"
	}
	return ""
}

// goupnpHTTPStatus is how goupnp words a SOAP answer with an HTTP error
// status and no body (or no SOAP fault in it); its errors do not wrap.
const goupnpHTTPStatus = "goupnp: SOAP request got HTTP "

// soapErrorFrom turns a goupnp SOAP fault inside err into a *SOAPError for
// action, with Code 0 for a fault without a UPnPError detail; it returns
// nil when err holds none (a transport error, an HTTP error status
// without a SOAP fault: see httpErrorFrom).
func soapErrorFrom(err error, action string) *SOAPError {
	var fault *soap.SOAPFaultError
	if !errors.As(err, &fault) {
		return nil
	}
	desc := fault.Detail.UPnPError.ErrorDescription
	if desc == "" {
		desc = fault.FaultString
	}
	return &SOAPError{Code: fault.Detail.UPnPError.Errorcode, Description: desc, Action: action}
}

// HTTPError means the router answered a SOAP action with an HTTP error
// status and no SOAP fault (an empty body, or a web page such as a 503
// "busy" page): its UPnP server failed without saying what became of the
// request. It is no refusal: the router may have carried the action out,
// so what an add may have made is deleted again.
type HTTPError struct {
	// Action is the SOAP action, e.g. "AddPortMapping".
	Action string
	// Status is the HTTP status, e.g. "500 Internal Server Error".
	Status string
}

// Error names the action and the HTTP status.
func (e *HTTPError) Error() string {
	return fmt.Sprintf("router answered %s with HTTP %s, no UPnP fault", e.Action, e.Status)
}

// Advice says what the user can do, in words that name no command or flag.
func (e *HTTPError) Advice() string {
	return "the router's UPnP server failed on the request without saying why; try again in a moment, " +
		"and if it keeps failing restart the router or forward the port by hand"
}

// httpErrorFrom turns goupnp's error for an HTTP error status without a
// SOAP fault into an *HTTPError for action; nil for any other error.
func httpErrorFrom(err error, action string) *HTTPError {
	var fault *soap.SOAPFaultError
	if err == nil || errors.As(err, &fault) {
		return nil
	}
	if _, status, ok := strings.Cut(err.Error(), goupnpHTTPStatus); ok {
		return &HTTPError{Action: action, Status: strings.TrimSpace(status)}
	}
	return nil
}

// faultlessTransport hands goupnp an HTTP error answer that carries no
// SOAP fault (a router's HTML error page) as one without a body: goupnp
// then reports its status ("SOAP request got HTTP 503 ..."), where it
// would otherwise say only that the page is no SOAP envelope.
type faultlessTransport struct{ next http.RoundTripper }

// soapHTTPClient is hc for SOAP actions: error answers without a SOAP
// fault keep their HTTP status (faultlessTransport).
func soapHTTPClient(hc *http.Client) http.Client {
	c := *hc
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c.Transport = faultlessTransport{next: next}
	return c
}

// RoundTrip performs req; an answer other than 200 OK whose body holds no
// SOAP fault gets an empty body.
func (t faultlessTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode == http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if hasSOAPFault(body) {
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, nil
	}
	resp.Body, resp.ContentLength = http.NoBody, 0
	return resp, nil
}

// hasSOAPFault reports whether body is an XML document with a Fault in
// its Body, as a SOAP fault is (namespaces aside).
func hasSOAPFault(body []byte) bool {
	var env struct {
		Body struct {
			Fault *struct{} `xml:"Fault"`
		} `xml:"Body"`
	}
	return xml.Unmarshal(body, &env) == nil && env.Body.Fault != nil
}

// faultCode returns the UPnP error code inside err, or 0 if it holds none.
func faultCode(err error) int {
	var se *SOAPError
	if errors.As(err, &se) {
		return se.Code
	}
	if se := soapErrorFrom(err, ""); se != nil {
		return se.Code
	}
	return 0
}

// ConflictError means the external port is already forwarded to another
// host (UPnP 718), or to another program on this host; Holder is that
// mapping as the router reports it.
type ConflictError struct {
	// Holder is the mapping that holds the port; InternalIP is zero when the
	// router would not say who holds it.
	Holder Mapping
	// Free is an external port the router's list does not hold (see
	// FreePort); zero if unknown.
	Free uint16
}

// Error names the holder, and a free port when one is known.
func (e *ConflictError) Error() string {
	var msg string
	if !e.Holder.InternalIP.IsValid() {
		msg = fmt.Sprintf("port %d/%s is already forwarded to another host (UPnP 718)", e.Holder.ExternalPort, e.Holder.Protocol)
	} else {
		msg = fmt.Sprintf("port %d/%s is already forwarded to %s:%d (description %q)",
			e.Holder.ExternalPort, e.Holder.Protocol, e.Holder.InternalIP, e.Holder.InternalPort, e.Holder.Description)
	}
	if e.Free != 0 {
		msg += fmt.Sprintf("; external port %d is free", e.Free)
	}
	return msg
}

// Advice says what the user can do; reach never takes over another
// program's mapping.
func (e *ConflictError) Advice() string {
	if e.Free != 0 {
		return fmt.Sprintf("choose another external port (%d is free) or remove that mapping on the router", e.Free)
	}
	return "choose another external port or remove that mapping on the router"
}

// NotOursError means a mapping reach was asked to delete belongs to another
// host. It matches ErrNotOurs with errors.Is.
type NotOursError struct {
	// Holder is the mapping as the router reports it.
	Holder Mapping
	// SameHost is true when it forwards to this host, but to another port
	// than the one named: another program's mapping.
	SameHost bool
}

// Error names the holder.
func (e *NotOursError) Error() string {
	if e.SameHost {
		return fmt.Sprintf("port %d/%s is forwarded to this host's port %d (description %q), not to the port named",
			e.Holder.ExternalPort, e.Holder.Protocol, e.Holder.InternalPort, e.Holder.Description)
	}
	return fmt.Sprintf("port %d/%s is forwarded to %s:%d (description %q), not to this host",
		e.Holder.ExternalPort, e.Holder.Protocol, e.Holder.InternalIP, e.Holder.InternalPort, e.Holder.Description)
}

// Advice says how to remove it if it is this host's, and that reach never
// deletes another host's mapping.
func (e *NotOursError) Advice() string {
	if e.SameHost {
		return fmt.Sprintf("if it is yours to remove, name its internal port %d", e.Holder.InternalPort)
	}
	return "reach never deletes another host's mapping; remove it on the router if it is stale"
}

// Is reports whether target is ErrNotOurs.
func (e *NotOursError) Is(target error) bool { return target == ErrNotOurs }

// taggedError is an error with its own message that matches a sentinel
// with errors.Is, without repeating the sentinel's text.
type taggedError struct {
	msg      string
	sentinel error
}

func (e *taggedError) Error() string { return e.msg }
func (e *taggedError) Unwrap() error { return e.sentinel }

// wrapped is an error with its own message that unwraps to err, whose
// text the message already carries (without its package prefix).
type wrapped struct {
	msg string
	err error
}

func (e *wrapped) Error() string { return e.msg }
func (e *wrapped) Unwrap() error { return e.err }

// wrapf wraps err as "upnp: <format>: <err without its upnp: prefix>",
// so that the prefix is said once, at the start of the chain.
func wrapf(err error, format string, args ...any) error {
	return &wrapped{msg: "upnp: " + fmt.Sprintf(format, args...) + ": " + trimPrefix(err), err: err}
}

// bare is err without its "upnp: " prefix, for %w in the middle of a
// sentence; errors.Is and As still see err.
func bare(err error) error {
	if err == nil {
		return nil
	}
	return &wrapped{msg: trimPrefix(err), err: err}
}

// trimPrefix is err's text without a leading "upnp: ".
func trimPrefix(err error) string {
	return strings.TrimPrefix(err.Error(), "upnp: ")
}
