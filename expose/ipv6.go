package expose

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
)

// The IPv6 modes of a session.
const (
	IPv6Auto = "auto" // open a pinhole where the host has a global IPv6 address
	IPv6Off  = "off"  // IPv4 only
	IPv6Only = "only" // IPv6 only: no IPv4 mapping
)

// openIPv6 finds this host's global IPv6 address and opens a pinhole for
// the port in the router's IPv6 firewall (IGDv2 WANIPv6FirewallControl,
// else PCP). The server already listens on every address, IPv6 included.
//
// With IPv6Only a pinhole a running reach holds is ErrExposed, as a
// mapping a running reach holds is on IPv4: there is nothing else to
// expose.
func (s *Session) openIPv6(ctx context.Context) error {
	if s.cfg.IPv6 == IPv6Off {
		return nil
	}
	info, err := s.cfg.FindIPv6(ctx)
	e := &probe.IPv6Evidence{Address: info.Address, Global: info.Global, Gateway: info.Gateway}
	s.ev.IPv6 = e
	if err != nil || !info.Global {
		// Nothing to open, and nothing wrong with the IPv4 side.
		detail := "none: this host has no global IPv6 address (IPv4 only)"
		if info.Address.IsValid() {
			detail = fmt.Sprintf("none: %s is not a global IPv6 address (IPv4 only)", info.Address)
		}
		s.emit(&Step{Name: "ipv6", Mark: MarkOK, Detail: detail})
		return nil
	}
	if !info.Gateway.IsValid() {
		e.Failure = "the IPv6 gateway is unknown"
		s.emit(&Step{Name: "ipv6", Mark: MarkWarn, Detail: fmt.Sprintf("%s: no pinhole, %s", info.Address, e.Failure)})
		return nil
	}
	if held := s.pinholeTakenByReach(ctx, info.Address); held != nil {
		// Opening it again would give this session the other's pinhole
		// (IGDv2 answers with its UniqueID), and closing it on exit
		// would close it under the other.
		e.Failure = fmt.Sprintf("already opened by reach pid %d (reach %s); stop it first, or serve on another port", held.PID, held.Command)
		if s.cfg.IPv6 == IPv6Only {
			s.emit(&Step{Name: "ipv6", Mark: MarkFail, Detail: fmt.Sprintf("[%s]:%d/%s is already exposed by reach pid %d (reach %s); stop it first, or serve on another port",
				info.Address, s.cfg.Port, s.cfg.Protocol, held.PID, held.Command)})
			return ErrExposed
		}
		s.emit(&Step{Name: "ipv6", Mark: MarkWarn, Detail: fmt.Sprintf("no pinhole for [%s]:%d/%s: %s", info.Address, s.cfg.Port, s.cfg.Protocol, e.Failure)})
		return nil
	}
	if ctx.Err() != nil {
		return nil // Ctrl-C while another reach held the ledger: Start ends on it
	}
	s.emit(&Progress{What: "opening an IPv6 pinhole"})
	want := upnp.Pinhole{Protocol: s.cfg.Protocol, Addr: info.Address, Port: s.cfg.Port, Lease: s.cfg.Lease}
	pl, err := s.cfg.OpenPinhole(ctx, s.router, info.Gateway, want)
	if err != nil {
		e.Failure = pinholeFailure(err)
		s.emit(&Step{Name: "ipv6", Mark: MarkWarn, Detail: fmt.Sprintf("no pinhole for [%s]:%d: %s", info.Address, s.cfg.Port, e.Failure), Err: err})
		return nil
	}
	s.pinhole = pl
	s.recordPinhole(ctx)
	e.Pinhole, e.Method = true, string(pl.Method())
	s.emit(&Step{Name: "ipv6", Mark: MarkOK, Detail: fmt.Sprintf("pinhole [%s]:%d/%s via %s", info.Address, s.cfg.Port, s.cfg.Protocol, pl.Method())})
	return nil
}

// verify6 has each TURN relay probe the IPv6 pinhole from outside, at
// [address]:port, as verify does the IPv4 side, and keeps what they saw
// in the IPv6 evidence. A relay that cannot relay IPv6 fails on its own
// side: a step, not evidence. Start runs it after the IPv4 side (the
// steps read in that order), and with --ipv6 only too, where there is no
// IPv4 mapping.
func (s *Session) verify6(ctx context.Context) {
	v6 := s.ev.IPv6
	if s.pinhole == nil || v6 == nil || len(s.cfg.Via) == 0 || s.cfg.MapOnly {
		return
	}
	if l := s.ev.Listener; l != nil && !l.OnLAN {
		return // the verify step said it: nothing listens yet
	}
	target := netip.AddrPortFrom(v6.Address, s.cfg.Port)
	v6.Probes = append(v6.Probes, s.relayProbes(ctx, target, true)...)
}

// pinholeFailure is the one line that says why no pinhole was opened:
// first that the router may hold one all the same, then the router's
// refusal or failure in words, else the error's summary.
func pinholeFailure(err error) string {
	var (
		pe *upnp.PinholeError
		r  *upnp.PinholeRefusal
		he *upnp.HTTPError
	)
	switch {
	case errors.As(err, &pe) && pe.Advice() != "":
		return pe.Advice()
	case errors.As(err, &r) && r.Advice() != "":
		return r.Advice()
	case errors.As(err, &he):
		return he.Error()
	}
	return upnp.Summary(err)
}

// renewPinhole keeps the pinhole open; the lease says when to renew next
// (sooner after a failure), and the event says the same.
func (s *Session) renewPinhole(ctx context.Context) {
	how, err := s.pinhole.Renew(ctx)
	if ctx.Err() != nil {
		return
	}
	ev := &Renewed{OK: err == nil, How: how, Method: upnp.Method(s.pinhole.Method()), Err: err, IPv6: true,
		Mapping: upnp.Mapping{Protocol: s.cfg.Protocol, ExternalPort: s.cfg.Port, InternalIP: s.pinhole.Pinhole().Addr, InternalPort: s.cfg.Port, Lease: s.pinhole.Pinhole().Lease}}
	if err != nil {
		ev.RetryIn = s.pinhole.RenewEvery()
	} else {
		s.recordPinhole(ctx) // a new Created: the lease runs from now
	}
	s.emit(ev)
}

// outsideProbe6 turns a reach probe that came in over IPv6 from a global
// address other than this host's into a verification of the IPv6 side.
func (s *Session) outsideProbe6(from netip.AddrPort) {
	v6 := s.ev.IPv6
	if v6 == nil || !probe.IsGlobalIPv6(from.Addr()) || from.Addr() == v6.Address {
		return
	}
	for _, p := range v6.Probes {
		if p.Verdict == probe.Verified {
			return
		}
	}
	v6.Probes = append(v6.Probes, probe.ProbeEvidence{Target: netip.AddrPortFrom(v6.Address, s.cfg.Port), Via: probe.ViaOutside, Verdict: probe.Verified, From: from})
	s.emit(&Verified{Diagnosis: probe.Decide(s.ev), By: probe.ViaOutside, From: from, IPv6: true})
}
