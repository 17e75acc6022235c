package expose

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"syscall"

	"github.com/reach-net/reach/frame"
	"github.com/reach-net/reach/ledger"
	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
)

// Session is one running exposure. Start sets it up; Host keeps it; Close
// removes what it made. Its methods are for one goroutine at a time.
type Session struct {
	cfg Config

	router  *upnp.Router
	lease   *upnp.Lease
	pinhole *upnp.PinholeLease
	// shutdown stops the echo server (TCP or UDP); nil when none runs.
	shutdown func(context.Context) error
	served   chan error

	// live are the ledger's entries of running reach processes on this
	// router; recorded is the session's own entry. held reports that the
	// mapping existed before the session (it is kept on exit); adopted
	// that the session holds it without recording it, as an expose does
	// (a reach map records what it holds: the mapping is map's from then).
	live         []ledger.Entry
	recorded     *ledger.Entry
	pinholeEntry *ledger.Entry
	held         bool
	adopted      bool
	// servicesShown reports that the service step was emitted (see
	// showServices); until then, while holding, the steps emitted wait in
	// waiting, to follow it in order.
	servicesShown bool
	holding       bool
	waiting       []Event

	// pmu guards what the server's goroutines learn about the session's
	// own probe: whether one runs, its clients, where it came in from.
	pmu       sync.Mutex
	probing   bool
	ownAddrs  []netip.Addr // this network's addresses, as the probe starts
	hidden    map[uint64]struct{}
	probeFrom string

	mu    sync.Mutex // guards ev and ready against the server's events
	ev    probe.Evidence
	ready *Ready
}

// Start does the setup: gateway, mapping service, server, mapping, IPv6
// pinhole, external address, verification, and emits Ready. It returns
// the session even on error, so that Close can remove what was made; the
// error is the context's when cut short (then no Ready: Ctrl-C is not
// evidence), ErrNoMapping (with RequireMapping), ErrServe, or ErrExposed
// (a running reach holds the port).
func Start(ctx context.Context, cfg Config) (*Session, error) {
	cfg.defaults()
	s := &Session{cfg: cfg, hidden: map[uint64]struct{}{}}
	s.ev = probe.Evidence{Port: cfg.Port, ExternalPort: cfg.ExternalPort, Protocol: string(cfg.Protocol), OwnProgram: cfg.NoServe,
		IPv4Off: cfg.IPv6 == IPv6Only}

	s.ev.GOOS = runtime.GOOS
	fwc := make(chan *probe.FirewallState, 1)
	go func() {
		fw, err := cfg.HostFirewall(ctx)
		if err != nil {
			fwc <- nil
			return
		}
		fwc <- &fw
	}()
	pathc := make(chan probe.Path, 1)
	go func() {
		pathc <- probe.LookPath(ctx, probe.PathConfig{Servers: cfg.STUN, PublicAddr: cfg.PublicAddr, Hops: cfg.Hops})
	}()
	defer func() {
		if s.holding && ctx.Err() == nil { // a failure before the mapping: its steps are told
			s.showServices()
		}
	}()
	s.findRouter(ctx)
	if ctx.Err() != nil {
		<-pathc
		return s, ctx.Err()
	}
	if !cfg.MapOnly {
		if err := s.serve(ctx); err != nil {
			<-pathc
			return s, err
		}
	}
	if s.router != nil && len(s.router.Services) > 0 && cfg.IPv6 != IPv6Only {
		if e := s.takenByReach(s.live); e != nil {
			s.emit(&Step{Name: "map", Mark: MarkFail, Detail: fmt.Sprintf("port %d/%s is already exposed by reach pid %d (reach %s); stop it first, or pick another external port",
				e.ExternalPort, e.Protocol, e.PID, e.Command)})
			<-pathc
			return s, ErrExposed
		}
		s.mapPort(ctx)
	}
	if ctx.Err() == nil {
		if err := s.openIPv6(ctx); err != nil {
			<-pathc
			return s, err
		}
	}
	if ctx.Err() != nil {
		<-pathc
		return s, ctx.Err()
	}
	path := <-pathc
	s.ev.Firewall = <-fwc
	s.ev.STUNAsked = path.Asked
	s.ev.STUN = path.Public()
	s.ev.Hops = path.Hops
	if !cfg.MapOnly {
		if cfg.IPv6 != IPv6Only { // nothing was asked of IPv4
			s.verify(ctx)
		}
		if ctx.Err() == nil {
			s.verify6(ctx)
		}
	}
	if ctx.Err() != nil {
		return s, ctx.Err()
	}
	s.announce(path)
	if cfg.RequireMapping && s.lease == nil && s.pinhole == nil {
		return s, ErrNoMapping
	}
	return s, nil
}

// emit hands e to the caller; a step waits while the service step does
// (see showServices). Only Start's goroutine emits steps.
func (s *Session) emit(e Event) {
	if _, ok := e.(*Step); ok && s.holding {
		s.waiting = append(s.waiting, e)
		return
	}
	s.cfg.OnEvent(e)
}

// findRouter finds the gateway and the mapping services. A host with a
// public address of its own has no NAT: there is nothing to map, so no
// router is asked.
func (s *Session) findRouter(ctx context.Context) {
	cfg := s.cfg
	s.emit(&Progress{What: "looking for the router"})
	gctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	gw, local, err := cfg.FindGateway(gctx, cfg.Router)
	cancel()
	s.ev.Gateway, s.ev.LocalIP = gw, local
	if err != nil && !local.IsValid() {
		s.emit(&Step{Name: "gateway", Mark: MarkFail, Detail: upnp.Summary(err), Err: err})
		return
	}
	if probe.ClassifyAddr(local) == probe.AddrPublic {
		s.emit(&Step{Name: "gateway", Mark: MarkOK, Detail: fmt.Sprintf("%s (this host %s, a public address: no NAT, nothing to map)", orDash(gw), local)})
		return
	}
	if err != nil {
		s.emit(&Step{Name: "gateway", Mark: MarkFail, Detail: upnp.Summary(err), Err: err})
		return
	}
	rcfg := cfg.Router
	rcfg.Gateway, rcfg.LocalIP = gw, local
	// The mapping starts on the IGD as soon as it answered, while PCP and
	// NAT-PMP may still answer (see showServices); not when a family is
	// named (only it is asked) or nothing is mapped (--ipv6 only).
	rcfg.IGDFirst = cfg.Family == upnp.FamilyAuto && cfg.IPv6 != IPv6Only
	dctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	r, err := cfg.FindRouter(dctx, rcfg)
	cancel()
	if ctx.Err() != nil {
		return
	}
	if r == nil {
		s.emit(&Step{Name: "gateway", Mark: MarkFail, Detail: upnp.Summary(err), Err: err})
		return
	}
	s.router = r
	s.ev.Gateway, s.ev.LocalIP, s.ev.Looked = r.Gateway, r.LocalIP, true
	s.emit(&Step{Name: "gateway", Mark: MarkOK, Detail: fmt.Sprintf("%s (this host %s)", r.Gateway, r.LocalIP)})
	s.live = Heal(ctx, r, cfg.Ledger, s.emit)
	if r.Settled() {
		s.showServices()
		return
	}
	// The IGD answered and PCP and NAT-PMP may still: the server starts
	// and mapPort asks the IGD meanwhile; the service step comes once
	// they ended, and the steps taken meanwhile after it.
	s.holding = true
}

// showServices records which mapping services answered as evidence and
// says so in the service step, once. On a router found IGD first it waits
// for the other probes (at most upnp's grace after the IGD answered): a
// service not yet heard from is not one that is silent.
func (s *Session) showServices() {
	if s.servicesShown {
		return
	}
	s.servicesShown, s.holding = true, false
	cfg, r := s.cfg, s.router
	r.Settle()
	s.ev.Services, s.ev.Silent = ServiceEvidence(r)
	st, err := ServiceStep(r, cfg.Family)
	s.emit(st)
	for _, e := range s.waiting {
		s.emit(e)
	}
	s.waiting = nil
	if err != nil {
		if cfg.Family != upnp.FamilyAuto {
			r.Services = nil // --method names one protocol: never another
		}
		return
	}
	if cfg.Family != upnp.FamilyAuto {
		var only []upnp.Mapper
		for _, m := range r.Services {
			if m.Method().Fam() == cfg.Family {
				only = append(only, m)
			}
		}
		r.Services = only
	}
}

// ServiceStep is the step that says which mapping service of family f
// (FamilyAuto: any) answered on r, and, when none did, why each was
// silent; the error is Pick's.
func ServiceStep(r *upnp.Router, f upnp.Family) (*Step, error) {
	m, err := r.Pick(f)
	if err == nil {
		names := ""
		for i, s := range r.Services {
			if i > 0 {
				names += ", "
			}
			names += string(s.Method())
		}
		return &Step{Name: "service", Mark: MarkOK, Detail: fmt.Sprintf("%s (found: %s)", m.Method(), names)}, nil
	}
	st := &Step{Name: "service", Mark: MarkFail, Detail: upnp.Summary(err), Err: err}
	if f == upnp.FamilyAuto {
		st.Detail = "none answered: UPnP IGD, PCP and NAT-PMP are all silent"
		for _, fam := range []upnp.Family{upnp.FamilyUPnP, upnp.FamilyPCP, upnp.FamilyNATPMP} {
			if why := r.Missing[fam]; why != nil {
				st.Notes = append(st.Notes, fmt.Sprintf("%-8s %s", fam.String()+":", upnp.Summary(why)))
			}
		}
	}
	return st, err
}

// ServiceEvidence turns what discovery found into evidence: each service
// that answered (with its protocol error, if any) and each silent one.
func ServiceEvidence(r *upnp.Router) ([]probe.ServiceEvidence, map[string]string) {
	var svcs []probe.ServiceEvidence
	for _, m := range r.Services {
		se := probe.ServiceEvidence{Method: string(m.Method())}
		if err := r.Answers[m.Method().Fam()]; err != nil {
			se.Err, se.FailKind, se.Summary = err, string(upnp.Kind(err)), upnp.Summary(err)
			if se.FailKind == probe.FailNoExternal {
				no := false
				se.Connected = &no
			}
		}
		svcs = append(svcs, se)
	}
	silent := map[string]string{}
	for f, err := range r.Missing {
		if err != nil {
			silent[f.String()] = upnp.Summary(err)
		}
	}
	return svcs, silent
}

// serve starts the echo server, or with NoServe looks for the user's
// program on the address the router forwards to.
func (s *Session) serve(ctx context.Context) error {
	cfg := s.cfg
	if cfg.NoServe {
		l, why := s.lookForListener(ctx)
		s.ev.Listener = l
		what := ""
		if cfg.Protocol == upnp.UDP {
			what = "UDP "
		}
		switch {
		case l == nil:
			s.emit(&Step{Name: "serve", Mark: MarkWarn, Detail: why})
		case l.OnLAN:
			s.emit(&Step{Name: "serve", Mark: MarkOK, Detail: fmt.Sprintf("your program listens on %s%s", what, s.lanAddr())})
		case l.OnLoopback:
			s.emit(&Step{Name: "serve", Mark: MarkFail, Detail: fmt.Sprintf("your program listens only on %s127.0.0.1:%d, not on %s where the router forwards", what, cfg.Port, s.lanAddr())})
		default:
			s.emit(&Step{Name: "serve", Mark: MarkWarn, Detail: fmt.Sprintf("nothing listens on %s%s yet: start your program", what, s.lanAddr())})
		}
		return nil
	}
	addr := net.JoinHostPort(cfg.Bind, strconv.Itoa(int(cfg.Port)))
	user := cfg.Server.OnEvent
	onEvent := func(ev frame.Event) {
		s.clientEvent(ev)
		if user != nil {
			user(ev)
		}
	}
	s.served = make(chan error, 1)
	if cfg.Protocol == upnp.UDP {
		pc, err := cfg.ListenPacket("udp", addr)
		if err != nil {
			err = listenError(cfg.Port, addr, err)
			s.emit(&Step{Name: "serve", Mark: MarkFail, Detail: err.Error(), Err: err})
			return fmt.Errorf("%w: %w", ErrServe, err)
		}
		u := frame.NewUDPServer(frame.UDPConfig{MaxFrame: cfg.Server.MaxFrame, IdleTimeout: cfg.Server.IdleTimeout, OnEvent: onEvent})
		s.shutdown = u.Shutdown
		go func() { s.served <- u.Serve(pc) }()
		s.emit(&Step{Name: "serve", Mark: MarkOK, Detail: fmt.Sprintf("framed UDP echo server on %s", pc.LocalAddr())})
		return nil
	}
	ln, err := cfg.Listen("tcp", addr)
	if err != nil {
		err = listenError(cfg.Port, addr, err)
		s.emit(&Step{Name: "serve", Mark: MarkFail, Detail: err.Error(), Err: err})
		return fmt.Errorf("%w: %w", ErrServe, err)
	}
	scfg := cfg.Server
	scfg.OnEvent = onEvent
	srv := frame.NewServer(scfg)
	s.shutdown = srv.Shutdown
	go func() { s.served <- srv.Serve(ln) }()
	s.emit(&Step{Name: "serve", Mark: MarkOK, Detail: fmt.Sprintf("framed echo server on %s", ln.Addr())})
	return nil
}

// lanAddr is where the router's forward arrives: this host's LAN address.
func (s *Session) lanAddr() netip.AddrPort {
	local := s.ev.LocalIP
	if !local.IsValid() {
		local = netip.IPv4Unspecified()
	}
	return netip.AddrPortFrom(local.Unmap(), s.cfg.Port)
}

// lookForListener looks for the user's program on the LAN address and on
// 127.0.0.1: over TCP by a connection to each, over UDP by lookForUDP. A
// nil evidence means the look could not tell; why is then the line that
// says so.
func (s *Session) lookForListener(ctx context.Context) (l *probe.ListenerEvidence, why string) {
	if s.cfg.Protocol == upnp.UDP {
		return s.lookForUDP()
	}
	try := func(a netip.AddrPort) bool {
		if !a.Addr().IsValid() || a.Addr().IsUnspecified() {
			return false
		}
		cctx, cancel := context.WithTimeout(ctx, listenCheckWait)
		defer cancel()
		c, err := s.cfg.Dial(cctx, "tcp", a.String())
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	l = &probe.ListenerEvidence{}
	l.OnLAN = try(s.lanAddr())
	if !l.OnLAN {
		l.OnLoopback = try(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), s.cfg.Port))
	}
	return l, ""
}

// wsaeaddrinuse is Windows' WSAEADDRINUSE, which syscall.EADDRINUSE is
// not there.
const wsaeaddrinuse = 10048

// addrInUse reports whether err says that another socket holds the
// address.
func addrInUse(err error) bool {
	var en syscall.Errno
	return errors.Is(err, syscall.EADDRINUSE) || errors.As(err, &en) && en == wsaeaddrinuse
}

// lookForUDP finds out whether a program holds the UDP port on this host
// without sending it anything (a datagram could upset it, and most UDP
// programs would not answer): it binds the port itself, through
// ListenPacket, and closes each socket at once. A bind to the LAN address
// that fails with "address in use" means a program holds the port there
// or on all addresses (OnLAN); one to 127.0.0.1 that fails so, that it
// holds it on loopback only (OnLoopback). When both binds succeed, a last
// bind to 0.0.0.0 says whether nothing holds the port: "in use" there
// means a program holds it on some other address of this host, or on all
// addresses on Windows, where a bind to one address may share the port
// with a program bound to all of them; reach then cannot tell and says
// so (nil). Any other error (a port below 1024 without the right to bind
// it, say) is no evidence either way (nil).
//
// While reach holds the port, for the moment between bind and close, a
// datagram for the program could reach reach's socket instead (Windows),
// and a program starting in that moment could find the port taken: the
// window is a few microseconds, once per look.
func (s *Session) lookForUDP() (*probe.ListenerEvidence, string) {
	l := &probe.ListenerEvidence{}
	for _, b := range []struct {
		at   netip.Addr
		held *bool // what "in use" there says; nil: held, but where is unknown
	}{
		{s.lanAddr().Addr(), &l.OnLAN},
		{netip.AddrFrom4([4]byte{127, 0, 0, 1}), &l.OnLoopback},
		{netip.IPv4Unspecified(), nil},
	} {
		if b.held != nil && (!b.at.Is4() || b.at.IsUnspecified()) {
			continue // this host's LAN address is unknown
		}
		at := netip.AddrPortFrom(b.at, s.cfg.Port)
		pc, err := s.cfg.ListenPacket("udp4", at.String())
		switch {
		case err == nil:
			pc.Close()
			continue
		case !addrInUse(err):
			return nil, fmt.Sprintf("cannot tell whether your program listens on UDP %s: binding %s to look failed: %v", s.lanAddr(), at, err)
		case b.held == nil:
			return nil, fmt.Sprintf("a program holds UDP port %d on this host; reach cannot tell whether on %s, where the router forwards",
				s.cfg.Port, s.lanAddr().Addr())
		}
		*b.held = true
		return l, ""
	}
	return l, ""
}

// orDash is a for a line, "-" when unknown.
func orDash(a netip.Addr) string {
	if !a.IsValid() {
		return "-"
	}
	return a.String()
}
