package expose

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/reach-net/reach/ledger"
	"github.com/reach-net/reach/upnp"
)

// healWait bounds the removal of one leftover mapping.
const healWait = 3 * time.Second

// Heal removes the mappings on r's router that an expose left behind when
// it died without cleaning up (killed, a crash), and drops them from the
// ledger; each is a Step. Mappings that reach map made are the user's
// choice and stay. It returns the ledger's entries for r's router that
// are still there (the running ones, and map's).
func Heal(ctx context.Context, r *upnp.Router, led *ledger.Ledger, emit func(Event)) []ledger.Entry {
	if led == nil || r == nil {
		return nil
	}
	entries, warn, err := led.List(ctx)
	if ctx.Err() != nil {
		return nil // Ctrl-C while another reach held the ledger: nothing to say
	}
	if warn != "" {
		emit(&Step{Name: "ledger", Mark: MarkWarn, Detail: string(warn)})
	}
	if err != nil {
		emit(&Step{Name: "ledger", Mark: MarkWarn, Detail: "could not read reach's ledger: " + err.Error(), Err: err})
		return nil
	}
	var kept []ledger.Entry
	for _, e := range entries {
		if e.Gateway != r.Gateway {
			continue
		}
		if e.Kind == "pinhole" {
			if e.Command != "expose" || ledger.OwnerOf(e) == ledger.Running {
				// A reach map's pinhole stays open on purpose, as its
				// mapping does: nothing to say about it.
				kept = append(kept, e)
				continue
			}
			// reach cannot close another process's pinhole (IGDv2 needs
			// its id and source, PCP its nonce): it closes by itself.
			until := e.Created.Add(e.Lease)
			if time.Now().After(until) {
				led.Remove(ctx, e)
				continue
			}
			emit(&Step{Name: "heal", Mark: MarkWarn, Detail: fmt.Sprintf("IPv6 pinhole [%s]:%d/%s left by reach expose (pid %d, exited) closes by itself at %s",
				e.InternalIP, e.ExternalPort, e.Protocol, e.PID, until.Format("15:04"))})
			kept = append(kept, e)
			continue
		}
		if e.Command != "expose" || ledger.OwnerOf(e) == ledger.Running || e.InternalIP != r.LocalIP {
			// A mapping to another address was made from this host on
			// another network (whose router has the same address) or
			// before its address changed: that address may now be
			// another host's, whose mapping this would delete.
			kept = append(kept, e)
			continue
		}
		what := fmt.Sprintf("%d/%s left by reach expose (pid %d, exited)", e.ExternalPort, e.Protocol, e.PID)
		svc, err := r.Pick(upnp.Method(e.Method).Fam())
		if err == nil {
			dctx, cancel := context.WithTimeout(ctx, healWait)
			err = svc.Delete(dctx, upnp.Mapping{Protocol: upnp.Protocol(e.Protocol), ExternalPort: e.ExternalPort,
				InternalIP: e.InternalIP, InternalPort: e.InternalPort})
			cancel()
		}
		switch {
		case err == nil:
			led.Remove(ctx, e)
			emit(&Step{Name: "heal", Mark: MarkWarn, Detail: "removed " + what})
		case errors.Is(err, upnp.ErrNoSuchMapping):
			led.Remove(ctx, e) // gone already (its lease ran out, or the router restarted)
		case errors.Is(err, upnp.ErrNotOurs):
			led.Remove(ctx, e) // the port now forwards elsewhere: not reach's any more
		default:
			kept = append(kept, e)
			emit(&Step{Name: "heal", Mark: MarkWarn, Detail: "could not remove " + what + ": " + upnp.Summary(err), Err: err})
		}
	}
	return kept
}

// record writes the session's mapping into the ledger.
func (s *Session) record(ctx context.Context) {
	if s.cfg.Ledger == nil || s.lease == nil || s.adopted {
		return
	}
	ctx, cancel := ledgerContext(ctx)
	defer cancel()
	m := s.lease.Mapping()
	pid, started := ledger.Self()
	e := ledger.Entry{Gateway: s.lease.Router().Gateway, Protocol: string(m.Protocol), ExternalPort: m.ExternalPort,
		InternalIP: m.InternalIP, InternalPort: m.InternalPort, Method: string(s.lease.Method()), Lease: m.Lease,
		Command: s.cfg.Command, PID: pid, Started: started, Created: time.Now()}
	if s.recorded != nil && !s.recorded.Same(e) {
		if _, err := s.cfg.Ledger.Remove(ctx, *s.recorded); err == nil {
			s.recorded = nil
		}
	}
	warn, err := s.cfg.Ledger.Add(ctx, e)
	if err != nil || warn != "" {
		detail := string(warn)
		if err != nil {
			detail = "could not record the mapping in reach's ledger: " + err.Error()
		}
		s.emit(&Step{Name: "ledger", Mark: MarkWarn, Detail: detail, Err: err})
	}
	if err == nil {
		s.recorded = &e // what forget drops
	}
}

// recordPinhole writes the session's IPv6 pinhole into the ledger.
func (s *Session) recordPinhole(ctx context.Context) {
	if s.cfg.Ledger == nil || s.pinhole == nil {
		return
	}
	ctx, cancel := ledgerContext(ctx)
	defer cancel()
	p := s.pinhole.Pinhole()
	pid, started := ledger.Self()
	e := ledger.Entry{Kind: "pinhole", Gateway: s.ev.Gateway, Protocol: string(p.Protocol), ExternalPort: p.Port,
		InternalIP: p.Addr, InternalPort: p.Port, Method: string(s.pinhole.Method()), Lease: p.Lease,
		Command: s.cfg.Command, PID: pid, Started: started, Created: time.Now()}
	if _, err := s.cfg.Ledger.Add(ctx, e); err == nil {
		s.pinholeEntry = &e
	}
}

// forgetPinhole drops the pinhole from the ledger once closed.
func (s *Session) forgetPinhole(ctx context.Context) {
	if s.cfg.Ledger != nil && s.pinholeEntry != nil {
		ctx, cancel := ledgerContext(ctx)
		defer cancel()
		s.cfg.Ledger.Remove(ctx, *s.pinholeEntry)
		s.pinholeEntry = nil
	}
}

// ledgerWait bounds how long a write of the session's to the ledger
// waits for another reach's lock, which is held for milliseconds. Past
// it the write is given up: an entry not dropped is found gone by the
// next reach; one not added is said as a warning.
const ledgerWait = 5 * time.Second

// ledgerContext is for a write to the ledger: what reach made is recorded,
// and what it removed forgotten, though Ctrl-C came (Close then removes
// what is recorded), within ledgerWait.
func ledgerContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), ledgerWait)
}

// forget drops the session's mapping from the ledger once removed.
func (s *Session) forget(ctx context.Context) {
	if s.cfg.Ledger != nil && s.recorded != nil {
		ctx, cancel := ledgerContext(ctx)
		defer cancel()
		s.cfg.Ledger.Remove(ctx, *s.recorded)
		s.recorded = nil
	}
}

// takenByReach returns the running reach's entry that holds the port the
// session wants, if any: reach never takes over a live reach's mapping.
func (s *Session) takenByReach(live []ledger.Entry) *ledger.Entry {
	self, _ := ledger.Self()
	for i, e := range live {
		if e.Protocol == string(s.cfg.Protocol) && e.ExternalPort == s.cfg.ExternalPort && e.PID != self &&
			ledger.OwnerOf(e) == ledger.Running {
			return &live[i]
		}
	}
	return nil
}

// pinholeTakenByReach returns the entry of a running reach (another
// process) that holds the IPv6 pinhole the session wants for addr, if
// any: that reach closes it on exit, so this session must neither open
// it again (it would get the same pinhole) nor close it. The ledger is
// read afresh: no router may have been found over IPv4 to heal it.
func (s *Session) pinholeTakenByReach(ctx context.Context, addr netip.Addr) *ledger.Entry {
	if s.cfg.Ledger == nil {
		return nil
	}
	entries, _, err := s.cfg.Ledger.List(ctx)
	if err != nil {
		return nil // it cannot say: as without a ledger
	}
	self, _ := ledger.Self()
	for i, e := range entries {
		if e.Kind == "pinhole" && e.InternalIP == addr && e.Protocol == string(s.cfg.Protocol) && e.ExternalPort == s.cfg.Port &&
			e.PID != self && ledger.OwnerOf(e) == ledger.Running {
			return &entries[i]
		}
	}
	return nil
}
