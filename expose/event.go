package expose

import (
	"net/netip"
	"time"

	"github.com/reach-net/reach/frame"
	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
)

// Event is something the session did or learned; the caller renders it.
// It is one of *Step, *Ready, *Verified, *Listening, *Renewed, *Client
// and *Stopped.
type Event interface{ event() }

// Mark grades a finished step.
type Mark string

// The marks of a step.
const (
	MarkOK   Mark = "ok"
	MarkWarn Mark = "warn"
	MarkFail Mark = "fail"
)

// Progress says that a step has started ("looking for the router"); a
// terminal shows it as a spinner until the step ends.
type Progress struct{ What string }

// Step is a finished step of the setup with one line of evidence.
type Step struct {
	Name   string // gateway, service, serve, map, external, verify
	Mark   Mark
	Detail string
	// Notes are further short lines under the step (each silent service).
	Notes []string
	// Err is the raw error behind a warn or fail, for --verbose and JSON.
	Err error
}

// Ready ends the setup: what was made, and the verdict.
type Ready struct {
	Diagnosis probe.Diagnosis
	Evidence  probe.Evidence
	// Method is the service that made the mapping, MethodNone if none.
	Method upnp.Method
	// Mapping is the mapping as granted; nil if none was made.
	Mapping *upnp.Mapping
	// Pinhole is the IPv6 pinhole as granted, through PinholeMethod; nil
	// if none was opened.
	Pinhole       *upnp.Pinhole
	PinholeMethod upnp.PinholeMethod
	// ExternalAddr is the router's external address; PublicAddr what STUN
	// saw; both zero if unknown.
	ExternalAddr, PublicAddr netip.Addr
	LocalIP, Gateway         netip.Addr
	Port                     uint16
	Protocol                 upnp.Protocol
	// Serving reports whether reach's own echo server runs.
	Serving bool
}

// Verified is a later proof while hosting: a reach probe that came from
// outside, or the user's program coming up.
type Verified struct {
	Diagnosis probe.Diagnosis
	By        string // probe.ViaOutside, probe.ViaLoopback
	From      netip.AddrPort
	IPv6      bool // the probe came in over IPv6
}

// Listening says that the user's own program (--no-serve) now accepts
// connections on the port; Diagnosis is the verdict after a new probe.
type Listening struct {
	Addr      netip.AddrPort
	Diagnosis probe.Diagnosis
}

// Renewed is one renewal of the mapping.
type Renewed struct {
	OK      bool
	How     upnp.RenewHow // renewed or re-created
	Method  upnp.Method
	Mapping upnp.Mapping
	Moved   bool // the router moved it to another external port
	// Repaired: the router had changed the internal port, and reach put
	// it back.
	Repaired bool
	Err      error
	RetryIn  time.Duration
	IPv6     bool // the IPv6 pinhole, not the IPv4 mapping
}

// SelfCheck is the probe after a renewal, where the setup proved the
// mapping by loopback: a mapping the router still lists can stop
// forwarding, and only a round trip shows it. Repaired reports that the
// mapping was deleted and made again after a failed probe.
type SelfCheck struct {
	OK, Repaired bool
	Target       netip.AddrPort
	Detail       string
}

// Client is an event of the echo server; its payload is valid only during
// the OnEvent call.
type Client struct {
	frame.Event
	// Protocol is the server's: tcp or udp.
	Protocol upnp.Protocol
}

// Stopped ends the session.
type Stopped struct {
	Mapped  bool
	Deleted bool
	// Kept reports a mapping that was there before the session: it stays.
	Kept bool
	// Pinhole reports an IPv6 pinhole; PinholeClosed whether it was
	// released, PinholeNote what to know about it (it lingers).
	Pinhole, PinholeClosed bool
	PinholeNote            string
	Mapping                upnp.Mapping
	Method                 upnp.Method
	// Err is why the mapping could not be removed; Cause why hosting
	// ended, nil for a clean stop.
	Err, Cause error
}

func (*Progress) event()  {}
func (*Step) event()      {}
func (*Ready) event()     {}
func (*Verified) event()  {}
func (*Listening) event() {}
func (*Renewed) event()   {}
func (*Client) event()    {}
func (*SelfCheck) event() {}
func (*Stopped) event()   {}
