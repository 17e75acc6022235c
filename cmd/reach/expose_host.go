package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
)

// Waits of hosting.
const (
	// renewRetry is the pause after a failed renewal: soon enough that a
	// rebooted router gets its mapping back within a minute.
	renewRetry = 30 * time.Second
	// reassertEvery caps the time between renewals, also of permanent
	// mappings: a router that rebooted and lost the mapping gets it back
	// within this long, at the cost of one cheap request.
	reassertEvery = 5 * time.Minute
	// deleteWait bounds the removal of our mapping on exit.
	deleteWait = 3 * time.Second
)

// renewInterval is half the lease, so the router never sees it lapse, and
// at most reassertEvery.
func renewInterval(lease time.Duration) time.Duration {
	if lease <= 0 || lease/2 > reassertEvery {
		return reassertEvery
	}
	return lease / 2
}

// ready decides what the setup achieved and builds the ready event.
func (e *exposure) ready(ext netip.Addr, verified bool, vdetail string, path pathResult) readyEvent {
	diag := natVerdict(e.r, e.mapper, ext, path, uint16(e.o.ExternalPort), e.o.proto)
	ev := readyEvent{
		Event: "ready", InternalIP: addrString(e.r.LocalIP), InternalPort: uint16(e.o.Port),
		Protocol: string(e.o.proto), Method: upnp.MethodNone, NAT: diag.NAT, Verified: verified,
		Gateway: addrString(e.r.Gateway), Detail: vdetail, Advice: diag.Advice,
	}
	if path.STUN != nil {
		ev.PublicIP = path.STUN.Addr.Addr().String()
	}
	if e.mapped != nil {
		ev.Method = e.mapper.Method()
		ev.ExternalIP = addrString(ext)
		ev.ExternalPort = e.mapped.ExternalPort
		ev.LeaseS = int64(e.mapped.Lease / time.Second)
	} else if diag.NAT == probe.NATPublic || diag.NAT == probe.NATUnknown {
		// The verdict's own advice covers no-service, double NAT and CGNAT;
		// here a service refused, so say how to forward by hand.
		ev.Advice = append(manualForward(e.r.Gateway, e.r.LocalIP, uint16(e.o.ExternalPort), uint16(e.o.Port), e.o.proto), ev.Advice...)
	}
	return ev
}

// announce prints the ready line (stdout) and what to do next.
func (e *exposure) announce(ev readyEvent) {
	if e.o.JSON {
		e.ios.writeJSON(ev)
		return
	}
	target := net.JoinHostPort(ev.ExternalIP, strconv.Itoa(int(ev.ExternalPort)))
	var verdict string
	switch {
	case ev.Verified:
		verdict = "reachable at " + target
	case e.mapped == nil:
		verdict = fmt.Sprintf("not reachable yet: no port mapping (nat: %s)", ev.NAT)
	case ev.NAT == probe.NATDouble || ev.NAT == probe.NATCGNAT:
		verdict = fmt.Sprintf("mapped at %s, but not reachable from the internet: %s", target, natName(ev.NAT))
	default:
		verdict = fmt.Sprintf("mapped at %s, not verified: %s", target, ev.Detail)
	}
	e.ios.result("%s", verdict)
	for _, a := range ev.Advice {
		e.ios.printf("  -> %s\n", a)
	}
	switch {
	case e.server != nil && e.mapped != nil:
		e.ios.printf("hosting the framed echo server on port %d; Ctrl-C to stop and remove the mapping\n", e.o.Port)
	case e.server != nil:
		e.ios.printf("hosting the framed echo server on port %d; Ctrl-C to stop\n", e.o.Port)
	case e.mapped != nil:
		e.ios.printf("keeping the mapping alive; Ctrl-C to stop and remove it\n")
	default:
		e.ios.printf("nothing to host (--no-serve) and no mapping; Ctrl-C to stop\n")
	}
}

func natName(n probe.NAT) string {
	switch n {
	case probe.NATDouble:
		return "double NAT (another router in front of yours)"
	case probe.NATCGNAT:
		return "carrier-grade NAT (your provider shares one public address among customers)"
	}
	return string(n)
}

// host serves until the context ends, renewing the mapping.
func (e *exposure) host(ctx context.Context) error {
	var serverDone chan error
	if e.server != nil {
		serverDone = e.server.done
	}
	var renew <-chan time.Time
	var timer *time.Timer
	if e.mapped != nil {
		timer = time.NewTimer(renewInterval(e.mapped.Lease))
		defer timer.Stop()
		renew = timer.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-serverDone:
			serverDone <- err
			return fmt.Errorf("the echo server stopped: %w", err)
		case <-renew:
			ok := e.renew(ctx)
			next := renewInterval(e.mapped.Lease)
			if !ok {
				next = renewRetry
			}
			timer.Reset(next)
		}
	}
}

// renew re-asserts the mapping; when the router lost it or its address
// changed (a reboot), it finds the router again and re-creates it.
func (e *exposure) renew(ctx context.Context) bool {
	want := e.want
	actx, cancel := context.WithTimeout(ctx, e.o.Timeout)
	got, err := e.mapper.Add(actx, want)
	cancel()
	how := "renewed"
	if err != nil && ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, e.o.Timeout)
		r, ferr := e.d.FindRouter(fctx, e.cfg)
		cancel()
		if ferr == nil {
			// The same protocol only: a mapping made through another one
			// would leave the first behind on the router.
			if m, perr := r.pick(e.mapper.Method().Family()); perr == nil {
				actx, cancel := context.WithTimeout(ctx, e.o.Timeout)
				want.InternalIP = r.LocalIP
				got, err = m.Add(actx, want)
				cancel()
				if err == nil {
					e.r, e.mapper = r, m
					e.want.InternalIP = r.LocalIP // this host may have a new address too
					how = "re-created after the router lost it"
				}
			}
		}
	}
	ok := err == nil
	detail := fmt.Sprintf("%s %d/%s, %s", how, want.ExternalPort, want.Protocol, leaseText(got.Lease))
	if ok {
		if got.ExternalPort != want.ExternalPort {
			detail += fmt.Sprintf("; the router moved it to external port %d", got.ExternalPort)
			e.want.ExternalPort = got.ExternalPort
		}
		e.mapped = &got
	} else {
		detail = fmt.Sprintf("renewing %d/%s failed: %v; retrying in %s", want.ExternalPort, want.Protocol, err, renewRetry)
	}
	if e.o.JSON {
		e.ios.writeJSON(map[string]any{"event": "renew", "ok": ok, "lease_s": int64(got.Lease / time.Second),
			"method": e.mapper.Method(), "external_port": e.mapped.ExternalPort, "detail": detail})
	} else {
		e.ios.printf("%s\n", detail)
	}
	return ok
}

// stop closes the server and removes our mapping. cause is why hosting
// ended: nil or a cancelled context is a clean stop.
func (e *exposure) stop(ctx context.Context, cause error) error {
	e.server.closeIfRunning(ctx)
	deleted, detail := false, "no mapping was made, nothing to remove"
	if e.mapped != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteWait)
		err := e.mapper.Delete(dctx, *e.mapped)
		cancel()
		deleted = err == nil || errors.Is(err, upnp.ErrNoSuchMapping)
		if !deleted {
			detail = fmt.Sprintf("could not remove mapping %d/%s: %v; remove it with '%s' or in the router's page",
				e.mapped.ExternalPort, e.mapped.Protocol, err, unmapHint(*e.mapped))
		} else {
			detail = fmt.Sprintf("removed mapping %d/%s", e.mapped.ExternalPort, e.mapped.Protocol)
		}
	}
	clean := cause == nil || errors.Is(cause, context.Canceled)
	if e.o.JSON {
		ev := map[string]any{"event": "stopped", "mapped": e.mapped != nil, "mapping_deleted": deleted, "detail": detail}
		if !clean {
			ev["error"] = cause.Error()
		}
		e.ios.writeJSON(ev)
	} else {
		if e.ios.IsTerminal {
			e.ios.printf("\n") // past the ^C the terminal echoed
		}
		e.ios.printf("stopped: %s\n", detail)
	}
	switch {
	case !clean:
		return withCode(exitNo, cause)
	case e.mapped != nil && !deleted:
		return withCode(exitNo, errSilent)
	}
	return nil
}

// closeIfRunning stops the echo server if there is one.
func (h *hosted) closeIfRunning(ctx context.Context) {
	if h == nil || h.srv == nil {
		return
	}
	h.close(ctx)
	h.srv = nil
}
