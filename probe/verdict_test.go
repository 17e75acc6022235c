package probe

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// Addresses of the setups: a home LAN behind 192.168.1.1, the ISP's public
// address 11.0.0.2 (as the router and STUN see it), a VPN's exit 12.0.0.9,
// a friend's network 13.0.0.7 that runs `reach check`.
var (
	tGW     = netip.MustParseAddr("192.168.1.1")
	tLAN    = netip.MustParseAddr("192.168.1.10")
	tPub    = netip.MustParseAddr("11.0.0.2")
	tVPN    = netip.MustParseAddr("12.0.0.9")
	tFriend = netip.MustParseAddrPort("13.0.0.7:50123")
	tCloud  = netip.MustParseAddr("11.0.0.1") // a cloud VM's gateway
	tModem  = netip.MustParseAddr("192.168.0.2")
	tShared = netip.MustParseAddr("100.64.3.4")
	no      = false
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func hop(ttl int, a string) Hop { return Hop{TTL: ttl, Addr: netip.MustParseAddr(a)} }

// home is expose on a LAN host behind a router that was asked for mapping
// services, with STUN asked; mod fills in the rest.
func home(mod func(e *Evidence)) Evidence {
	e := Evidence{Port: 1234, LocalIP: tLAN, Gateway: tGW, Looked: true, STUNAsked: true}
	mod(&e)
	return e
}

// mappedUPnP is a router holding the public address that granted port
// 1234 by UPnP, as STUN confirms.
func mappedUPnP(e *Evidence) {
	e.Services = []ServiceEvidence{{Method: "upnp-igd2", ExternalAddr: tPub}}
	e.Mapping = &MappingEvidence{Made: true, Method: "upnp-igd2", ExternalPort: 1234}
	e.ExternalAddr, e.STUN = tPub, tPub
}

// refusedUPnP is a router holding the public address that refused the
// mapping for kind.
func refusedUPnP(kind, failure string) func(e *Evidence) {
	return func(e *Evidence) {
		e.Services = []ServiceEvidence{{Method: "upnp-igd2", ExternalAddr: tPub}}
		e.Mapping = &MappingEvidence{Method: "upnp-igd2", ExternalPort: e.extPort(), FailKind: kind, Failure: failure}
		e.ExternalAddr, e.STUN = tPub, tPub
	}
}

// pmpResult3 is a NAT-PMP service answering result 3 (network failure:
// no external address), as expose records it.
var pmpResult3 = ServiceEvidence{Method: "nat-pmp", Connected: &no, Err: errors.New("upnp: nat-pmp: result 3"),
	FailKind: FailNoExternal, Summary: "the router has no external address (NAT-PMP result 3)"}

func loopback(target string, v Verdict) ProbeEvidence {
	return ProbeEvidence{Target: ap(target), Via: ViaLoopback, Verdict: v}
}

// decideRow is one setup as a user meets it and what the verdict must and
// must not say.
type decideRow struct {
	name   string
	e      Evidence
	nat    NAT
	status Status
	by     string // VerifiedBy
	target string // "" means no target

	// Words the verdict must contain, each in some line of its part.
	headline, causes, advice, evidence []string
	// Words no line of that part may contain.
	notHeadline, notCauses, notAdvice []string
	// candidates: the evidence fits several causes, so Causes must name
	// at least two.
	candidates bool
}

func TestDecideSetups(t *testing.T) {
	var rows []decideRow
	rows = append(rows, noneRows()...)
	rows = append(rows, publicRows()...)
	rows = append(rows, mappingRows()...)
	rows = append(rows, listenerRows()...)
	rows = append(rows, doubleRows()...)
	rows = append(rows, cgnatRows()...)
	rows = append(rows, noExternalRows()...)
	rows = append(rows, noMappingRows()...)
	rows = append(rows, otherRows()...)
	rows = append(rows, firewallRows()...)
	rows = append(rows, ipv6Rows()...)
	rows = append(rows, relayRows()...)
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			d := Decide(r.e)
			checkRow(t, r, d)
			checkTruth(t, r.e, d)
			if t.Failed() {
				t.Logf("diagnosis:\n%s", dump(d))
			}
		})
	}
}

func checkRow(t *testing.T, r decideRow, d Diagnosis) {
	t.Helper()
	if d.NAT != r.nat {
		t.Errorf("NAT %q, want %q", d.NAT, r.nat)
	}
	if d.Status != r.status {
		t.Errorf("Status %q, want %q", d.Status, r.status)
	}
	if d.VerifiedBy != r.by {
		t.Errorf("VerifiedBy %q, want %q", d.VerifiedBy, r.by)
	}
	switch {
	case r.target == "" && d.Target.IsValid():
		t.Errorf("Target %s, want none", d.Target)
	case r.target != "" && d.Target != ap(r.target):
		t.Errorf("Target %s, want %s", d.Target, r.target)
	}
	head := []string{d.Headline}
	has(t, "Headline", head, r.headline)
	has(t, "Causes", d.Causes, r.causes)
	has(t, "Advice", d.Advice, r.advice)
	has(t, "Evidence", d.Evidence, r.evidence)
	hasNot(t, "Headline", head, r.notHeadline)
	hasNot(t, "Causes", d.Causes, r.notCauses)
	hasNot(t, "Advice", d.Advice, r.notAdvice)
	if r.candidates && len(d.Causes) < 2 {
		t.Errorf("the evidence fits several causes, but Causes names %d: %q", len(d.Causes), d.Causes)
	}
}

// checkTruth asserts the truth rules of CLI.md that hold for every setup.
func checkTruth(t *testing.T, e Evidence, d Diagnosis) {
	t.Helper()
	if d.Headline == "" {
		t.Error("no headline")
	}
	if len(d.Evidence) == 0 {
		t.Error("no evidence listed")
	}
	// Verified means a round trip: a probe that came back through an
	// address the internet uses, never one from this host to itself.
	switch d.Status {
	case StatusVerified:
		if !provedBy(e, d) {
			t.Errorf("verified by %q at %s, but no probe that counts says so", d.VerifiedBy, d.Target)
		}
		if len(d.Advice) != 0 || len(d.Causes) != 0 {
			t.Errorf("verified, yet causes %q and advice %q", d.Causes, d.Advice)
		}
	case StatusOpen:
		// The user's own program explains the missing echo; anything
		// else that answered in place of reach's server is unproved, so
		// the candidates are named.
		if e.OwnProgram && len(d.Causes) != 0 {
			t.Errorf("open (your own program), yet causes %q", d.Causes)
		}
		if !e.OwnProgram && len(d.Causes) < 2 {
			t.Errorf("open though reach's server listens: the evidence fits several causes, but Causes names %q", d.Causes)
		}
		fallthrough
	default:
		if d.VerifiedBy != "" {
			t.Errorf("status %q with VerifiedBy %q", d.Status, d.VerifiedBy)
		}
		if len(d.Advice) == 0 {
			t.Error("not verified, yet no advice")
		}
	}
	if d.VerifiedBy == ViaSelf {
		t.Error("verified by a probe from this host to itself")
	}
	adv := strings.Join(d.Advice, "\n")
	// No "turn on UPnP" when a mapping service answered.
	if len(e.Services) > 0 {
		for _, w := range []string{"turn on UPnP", "enable UPnP"} {
			if strings.Contains(adv, w) {
				t.Errorf("advice says %q, but %s answered:\n%s", w, e.Services[0].Method, adv)
			}
		}
	}
	// No forwarding under CGNAT: there is no router of the user's to
	// forward on.
	if d.NAT == NATCGNAT && strings.Contains(strings.ToLower(adv), "forward") {
		t.Errorf("advice under carrier-grade NAT says to forward:\n%s", adv)
	}
	// No forward by hand when the router says it has no public side.
	if routerHasNoPublicSide(e) && strings.Contains(adv, "by hand") {
		t.Errorf("advice says to forward by hand, but the router says it has no external address:\n%s", adv)
	}
	// Advice for a UDP port must not send the user to a TCP check.
	if e.proto() == "udp" {
		for _, a := range d.Advice {
			if strings.Contains(a, "reach check") && !strings.Contains(a, "udp") {
				t.Errorf("advice for a UDP port runs a TCP check: %q", a)
			}
		}
	}
	// Without a port (diagnose) no port is made up.
	if e.Port == 0 && e.ExternalPort == 0 && d.Target.Port() != 0 {
		t.Errorf("diagnose (no port), yet target %s", d.Target)
	}
	if e.Port == 0 && strings.Contains(adv, "port 0") {
		t.Errorf("diagnose advice names port 0:\n%s", adv)
	}
	if d.Target.IsValid() && d.Target.Addr().IsUnspecified() {
		t.Errorf("target %s is no address", d.Target)
	}
	if strings.Contains(d.Headline, "0.0.0.0") {
		t.Errorf("headline names 0.0.0.0: %q", d.Headline)
	}
	// A connection from outside that something accepted proves the port
	// open: only another NAT in front (which the relay's address does not
	// cross) or no network at all makes that "not reachable".
	for _, p := range e.Probes {
		if p.Via == ViaTURN && p.Verdict == Open && d.NAT != NATCGNAT && d.NAT != NATDouble &&
			(d.Status == StatusUnreachable || strings.Contains(d.Headline, "not reachable")) {
			t.Errorf("a TURN relay's connection through %s was accepted, yet %s: %q", p.Target, d.Status, d.Headline)
		}
	}
	// A verified IPv6 path is never hidden behind a flat "not reachable".
	if v6 := d.IPv6; v6 != nil && v6.Verified && d.Status == StatusUnreachable && !strings.Contains(d.Headline, v6.Headline) {
		t.Errorf("reachable over IPv6 (verified), yet the headline says only %q", d.Headline)
	}
}

// provedBy reports whether a probe in e proves d: a probe from outside, or
// one looped back through a public address that STUN does not contradict.
func provedBy(e Evidence, d Diagnosis) bool {
	probes := e.Probes
	if e.IPv4Off && e.IPv6 != nil { // --ipv6 only: the verdict is IPv6's
		probes = e.IPv6.Probes
	}
	for _, p := range probes {
		if p.Via != d.VerifiedBy || p.Verdict != Verified {
			continue
		}
		switch p.Via {
		case ViaTURN, ViaOutside:
			return true
		case ViaLoopback:
			a := p.Target.Addr().Unmap()
			if ClassifyAddr(a) == AddrPublic && p.Target == d.Target &&
				(!e.STUN.IsValid() || e.STUN.Unmap() == a) && a != e.LocalIP.Unmap() {
				return true
			}
		}
	}
	return false
}

func routerHasNoPublicSide(e Evidence) bool {
	for _, s := range e.Services {
		if s.FailKind == FailNoExternal || (s.Connected != nil && !*s.Connected) {
			return true
		}
	}
	return e.Mapping != nil && e.Mapping.FailKind == FailNoExternal
}

func has(t *testing.T, part string, lines, words []string) {
	t.Helper()
	all := strings.Join(lines, "\n")
	for _, w := range words {
		if !strings.Contains(all, w) {
			t.Errorf("%s does not say %q", part, w)
		}
	}
}

func hasNot(t *testing.T, part string, lines, words []string) {
	t.Helper()
	for _, l := range lines {
		for _, w := range words {
			if strings.Contains(l, w) {
				t.Errorf("%s says %q: %q", part, w, l)
			}
		}
	}
}

func dump(d Diagnosis) string {
	var b strings.Builder
	b.WriteString("  nat " + string(d.NAT) + ", status " + string(d.Status) + ", by " + d.VerifiedBy + ", target " + d.Target.String() + "\n")
	b.WriteString("  headline: " + d.Headline + "\n")
	for _, p := range []struct {
		name  string
		lines []string
	}{{"evidence", d.Evidence}, {"causes", d.Causes}, {"advice", d.Advice}} {
		for _, l := range p.lines {
			b.WriteString("  " + p.name + ": " + l + "\n")
		}
	}
	return b.String()
}

// noneRows: this host holds a public address itself.
func noneRows() []decideRow {
	cloud := func(mod func(e *Evidence)) Evidence {
		e := Evidence{Port: 1234, LocalIP: tPub, Gateway: tCloud, STUN: tPub, STUNAsked: true}
		mod(&e)
		return e
	}
	return []decideRow{
		{
			name:      "cloud VM with a public address",
			e:         cloud(func(*Evidence) {}),
			nat:       NATNone,
			status:    StatusUnverified,
			target:    "11.0.0.2:1234",
			headline:  []string{"public address 11.0.0.2", "no NAT"},
			evidence:  []string{"public address 11.0.0.2 on its own interface", "same address (STUN)"},
			causes:    []string{"firewall", "security group"},
			advice:    []string{"reach check 11.0.0.2:1234", "port 1234/tcp", "security group"},
			notAdvice: []string{"UPnP", "by hand", "router's page", "modem"},
		},
		{
			name:      "cloud VM, no STUN answer",
			e:         cloud(func(e *Evidence) { e.STUN = netip.Addr{} }),
			nat:       NATNone,
			status:    StatusUnverified,
			target:    "11.0.0.2:1234",
			advice:    []string{"reach check 11.0.0.2:1234"},
			notAdvice: []string{"UPnP", "by hand"},
		},
		{
			name: "cloud VM, a probe from itself to its own address came back",
			e: cloud(func(e *Evidence) {
				e.Probes = []ProbeEvidence{{Target: ap("11.0.0.2:1234"), Via: ViaSelf, Verdict: Verified}}
			}),
			nat:         NATNone,
			status:      StatusUnverified,
			target:      "11.0.0.2:1234",
			advice:      []string{"reach check 11.0.0.2:1234"},
			notHeadline: []string{"reachable at"},
		},
		{
			name: "cloud VM, a probe to its own address labelled loopback never left it",
			e: cloud(func(e *Evidence) {
				e.Probes = []ProbeEvidence{loopback("11.0.0.2:1234", Verified)}
			}),
			nat:    NATNone,
			status: StatusUnverified,
			target: "11.0.0.2:1234",
			advice: []string{"reach check 11.0.0.2:1234"},
		},
		{
			name: "cloud VM, verified through a TURN relay",
			e: cloud(func(e *Evidence) {
				e.Probes = []ProbeEvidence{{Target: ap("11.0.0.2:1234"), Via: ViaTURN, Verdict: Verified}}
			}),
			nat:      NATNone,
			status:   StatusVerified,
			by:       ViaTURN,
			target:   "11.0.0.2:1234",
			headline: []string{"reachable at 11.0.0.2:1234", "TURN relay"},
		},
		{
			name:   "cloud VM, UDP game server",
			e:      cloud(func(e *Evidence) { e.Protocol = "udp" }),
			nat:    NATNone,
			status: StatusUnverified,
			target: "11.0.0.2:1234",
			advice: []string{"port 1234/udp"},
		},
		{
			name: "cloud VM, your program listens only on 127.0.0.1",
			e: cloud(func(e *Evidence) {
				e.OwnProgram = true
				e.Listener = &ListenerEvidence{OnLoopback: true}
			}),
			nat:         NATNone,
			status:      StatusUnreachable,
			target:      "11.0.0.2:1234",
			headline:    []string{"127.0.0.1:1234"},
			causes:      []string{"loopback address"},
			advice:      []string{"0.0.0.0"},
			notHeadline: []string{"router"},
		},
		{
			name: "cloud VM, nothing listens yet",
			e: cloud(func(e *Evidence) {
				e.OwnProgram = true
				e.Listener = &ListenerEvidence{}
			}),
			nat:       NATNone,
			status:    StatusUnreachable,
			target:    "11.0.0.2:1234",
			headline:  []string{"nothing listens on 11.0.0.2:1234"},
			causes:    []string{"not running", "another port"},
			advice:    []string{"start your program on port 1234"},
			notAdvice: []string{"UPnP", "by hand"},
		},
		{
			name:   "cloud VM, diagnose",
			e:      cloud(func(e *Evidence) { e.Port = 0 }),
			nat:    NATNone,
			status: StatusUnverified,
			advice: []string{"reach check 11.0.0.2:PORT", "your port (tcp)"},
		},
		{
			name:      "host with a public address behind a VPN",
			e:         cloud(func(e *Evidence) { e.STUN = tVPN }),
			nat:       NATUnknown,
			status:    StatusUnverified,
			target:    "11.0.0.2:1234",
			evidence:  []string{"public address 11.0.0.2 on its own interface", "the internet sees it as 12.0.0.9", "VPN"},
			advice:    []string{"VPN", "reach check 11.0.0.2:1234"},
			notAdvice: []string{"reach check 12.0.0.9", "by hand", "UPnP"},
		},
	}
}

// publicRows: the router holds the public address.
func publicRows() []decideRow {
	return []decideRow{
		{
			name: "home router with a public address, mapped by UPnP, verified through NAT loopback",
			e: home(func(e *Evidence) {
				mappedUPnP(e)
				e.Probes = []ProbeEvidence{loopback("11.0.0.2:1234", Verified)}
			}),
			nat:      NATPublic,
			status:   StatusVerified,
			by:       ViaLoopback,
			target:   "11.0.0.2:1234",
			headline: []string{"reachable at 11.0.0.2:1234", "through the router"},
			evidence: []string{"the router holds the public address 11.0.0.2", "11.0.0.2 (STUN)", "probe through 11.0.0.2:1234 (loopback): verified"},
		},
		{
			name: "mapped by UPnP, the router refuses connections to its own address from the LAN",
			e: home(func(e *Evidence) {
				mappedUPnP(e)
				e.Probes = []ProbeEvidence{loopback("11.0.0.2:1234", Refused)}
			}),
			nat:        NATPublic,
			status:     StatusUnverified,
			target:     "11.0.0.2:1234",
			headline:   []string{"mapped at 11.0.0.2:1234", "not verified"},
			causes:     []string{"does not loop back", "not applied the forward"},
			candidates: true,
			advice:     []string{"reach check 11.0.0.2:1234", "firewall for port 1234/tcp"},
			notAdvice:  []string{"UPnP", "by hand"},
		},
		{
			name: "mapped by NAT-PMP, the probe through the router times out",
			e: home(func(e *Evidence) {
				e.Services = []ServiceEvidence{{Method: "nat-pmp", ExternalAddr: tPub}}
				e.Mapping = &MappingEvidence{Made: true, Method: "nat-pmp", ExternalPort: 1234}
				e.ExternalAddr, e.STUN = tPub, tPub
				e.Probes = []ProbeEvidence{loopback("11.0.0.2:1234", Timeout)}
			}),
			nat:        NATPublic,
			status:     StatusUnverified,
			target:     "11.0.0.2:1234",
			causes:     []string{"does not loop back", "firewall"},
			candidates: true,
			advice:     []string{"reach check 11.0.0.2:1234"},
			notCauses:  []string{"not running"},
			notAdvice:  []string{"UPnP", "by hand"},
		},
		{
			name: "mapped, something else answered through the router (reset)",
			e: home(func(e *Evidence) {
				mappedUPnP(e)
				e.Probes = []ProbeEvidence{loopback("11.0.0.2:1234", Reset)}
			}),
			nat:       NATPublic,
			status:    StatusUnverified,
			target:    "11.0.0.2:1234",
			causes:    []string{"does not loop back, or something on the way answered", "(reset)"},
			advice:    []string{"reach check 11.0.0.2:1234"},
			notAdvice: []string{"UPnP", "by hand"},
		},
		{
			name: "mapped, reach's server connected through the router but no echo came",
			e: home(func(e *Evidence) {
				mappedUPnP(e)
				e.Probes = []ProbeEvidence{loopback("11.0.0.2:1234", Open)}
			}),
			nat:         NATPublic,
			status:      StatusUnverified,
			target:      "11.0.0.2:1234",
			causes:      []string{"something on the way answered", "(open)"},
			notHeadline: []string{"reachable at", "forwarded:"},
		},
		{
			name:   "mapped TCP, no probe made",
			e:      home(mappedUPnP),
			nat:    NATPublic,
			status: StatusUnverified,
			target: "11.0.0.2:1234",
			causes: []string{"no probe was made"},
			advice: []string{"reach check 11.0.0.2:1234"},
		},
		{
			name: "mapped UDP port for a game server",
			e: home(func(e *Evidence) {
				mappedUPnP(e)
				e.Protocol = "udp"
				e.OwnProgram = true // expose --no-serve --proto udp: the game serves the port
			}),
			nat:    NATPublic,
			status: StatusUnverified,
			target: "11.0.0.2:1234",
			causes: []string{"does not echo reach's probe"},
			advice: []string{"11.0.0.2:1234/udp from outside your network with your program's own client"},
		},
		{
			name: "mapped UDP port for reach's echo server, not probed",
			e: home(func(e *Evidence) {
				mappedUPnP(e)
				e.Protocol = "udp"
			}),
			nat:    NATPublic,
			status: StatusUnverified,
			target: "11.0.0.2:1234",
			causes: []string{"no probe was made through the router"},
			advice: []string{"`reach check --proto udp 11.0.0.2:1234`"},
		},
		{
			name: "mapped, no STUN answer, verified through NAT loopback",
			e: home(func(e *Evidence) {
				mappedUPnP(e)
				e.STUN = netip.Addr{}
				e.Probes = []ProbeEvidence{loopback("11.0.0.2:1234", Verified)}
			}),
			nat:      NATPublic,
			status:   StatusVerified,
			by:       ViaLoopback,
			target:   "11.0.0.2:1234",
			evidence: []string{"not confirmed from outside: no STUN answer", "no STUN server answered"},
		},
		{
			name: "port taken on the router, UPnP gave 41234 instead",
			e: home(func(e *Evidence) {
				mappedUPnP(e)
				e.Mapping.ExternalPort, e.Mapping.Moved = 41234, true
			}),
			nat:      NATPublic,
			status:   StatusUnverified,
			target:   "11.0.0.2:41234",
			headline: []string{"mapped at 11.0.0.2:41234"},
			advice:   []string{"reach check 11.0.0.2:41234", "port 41234/tcp"},
		},
		{
			name: "mapped, the router loops back, then a TURN relay verifies",
			e: home(func(e *Evidence) {
				mappedUPnP(e)
				e.Probes = []ProbeEvidence{loopback("11.0.0.2:1234", Timeout),
					{Target: ap("11.0.0.2:1234"), Via: ViaTURN, Verdict: Verified}}
			}),
			nat:      NATPublic,
			status:   StatusVerified,
			by:       ViaTURN,
			target:   "11.0.0.2:1234",
			headline: []string{"TURN relay"},
		},
		{
			name: "mapped, a probe from this host to itself (self) came back",
			e: home(func(e *Evidence) {
				mappedUPnP(e)
				e.Probes = []ProbeEvidence{{Target: ap("11.0.0.2:1234"), Via: ViaSelf, Verdict: Verified}}
			}),
			nat:         NATPublic,
			status:      StatusUnverified,
			target:      "11.0.0.2:1234",
			notHeadline: []string{"reachable at"},
		},
		{
			name: "public router, diagnose",
			e: home(func(e *Evidence) {
				e.Port = 0
				e.Services = []ServiceEvidence{{Method: "nat-pmp", ExternalAddr: tPub}}
				e.STUN = tPub
			}),
			nat:       NATPublic,
			status:    StatusUnverified,
			headline:  []string{"the router holds the public address 11.0.0.2"},
			advice:    []string{"reach check 11.0.0.2:PORT", "firewall", "192.168.1.10"},
			notAdvice: []string{"UPnP", "by hand"},
		},
		{
			// Folded from nat_test.go: ISPs route through private and
			// shared addresses behind a public customer address.
			name: "public router, no STUN answer, the ISP's hops are private and shared",
			e: home(func(e *Evidence) {
				e.Port = 0
				e.Services = []ServiceEvidence{{Method: "nat-pmp", ExternalAddr: tPub}}
				e.Hops = []Hop{hop(1, "192.168.1.1"), hop(2, "10.20.0.1"), hop(3, "100.64.9.9")}
			}),
			nat:      NATPublic,
			status:   StatusUnverified,
			evidence: []string{"not confirmed from outside: no STUN answer", "hop 2 beyond the router: 10.20.0.1 (private)"},
		},
		{
			name: "public router, mapped, but STUN sees another address (VPN on this host)",
			e: home(func(e *Evidence) {
				mappedUPnP(e)
				e.STUN = tVPN
			}),
			nat:       NATUnknown,
			status:    StatusUnverified,
			target:    "11.0.0.2:1234",
			headline:  []string{"mapped at 11.0.0.2:1234", "not verified"},
			evidence:  []string{"the router says 11.0.0.2 but the internet sees 12.0.0.9"},
			advice:    []string{"VPN", "reach check 11.0.0.2:1234"},
			notAdvice: []string{"UPnP", "by hand"},
		},
		{
			name: "public router, STUN differs, loopback echo through the router's address",
			e: home(func(e *Evidence) {
				mappedUPnP(e)
				e.STUN = tVPN
				e.Probes = []ProbeEvidence{loopback("11.0.0.2:1234", Verified)}
			}),
			nat:         NATUnknown,
			status:      StatusUnverified,
			target:      "11.0.0.2:1234",
			evidence:    []string{"the internet sees this host as 12.0.0.9, not 11.0.0.2"},
			notHeadline: []string{"reachable at"},
		},
		{
			name: "public router, STUN differs, diagnose",
			e: home(func(e *Evidence) {
				e.Port = 0
				e.Services = []ServiceEvidence{{Method: "pcp", ExternalAddr: tPub}}
				e.STUN = tVPN
			}),
			nat:      NATUnknown,
			status:   StatusUnverified,
			evidence: []string{"the router says 11.0.0.2 but the internet sees 12.0.0.9"},
			advice:   []string{"VPN"},
		},
	}
}

// mappingRows: the router holds the public address but did not make the
// mapping; each branch of mappingAdvice.
func mappingRows() []decideRow {
	return []decideRow{
		{
			name: "port held by another LAN device, the router lists a free port",
			e: home(func(e *Evidence) {
				e.ExternalPort = 8080
				refusedUPnP(FailConflict, "conflict with 192.168.1.20 (UPnP 718)")(e)
				e.Mapping.Holder, e.Mapping.Free = "192.168.1.20:8080", 8081
			}),
			nat:       NATPublic,
			status:    StatusUnreachable,
			target:    "11.0.0.2:8080",
			headline:  []string{"did not make the mapping", "conflict with 192.168.1.20"},
			causes:    []string{"port 8080/tcp", "already forwarded", "192.168.1.20:8080"},
			advice:    []string{"--external-port 8081", "the device at 192.168.1.20 give the port up", "http://192.168.1.1/"},
			notAdvice: []string{"UPnP", "by hand"},
		},
		{
			name: "port held by another program of this host (its own mapping, another description)",
			e: home(func(e *Evidence) {
				refusedUPnP(FailConflict, `port 1234/tcp is already forwarded to 192.168.1.10:5000 (description "game")`)(e)
				e.Mapping.Holder, e.Mapping.HolderDescription = "192.168.1.10:5000", "game"
			}),
			nat:       NATPublic,
			status:    StatusUnreachable,
			target:    "11.0.0.2:1234",
			causes:    []string{"this host's port 5000 by another program", `"game"`},
			notCauses: []string{"another device"},
			advice:    []string{"--external-port auto", "stop that program", "reach unmap --port 1234 --proto tcp"},
			notAdvice: []string{"another device", "the device at", "by hand"},
		},
		{
			name: "port held by another device, free port unknown",
			e: home(func(e *Evidence) {
				refusedUPnP(FailConflict, "conflict (PCP CANNOT_PROVIDE_EXTERNAL)")(e)
			}),
			nat:       NATPublic,
			status:    StatusUnreachable,
			target:    "11.0.0.2:1234",
			causes:    []string{"already forwarded to another device"},
			advice:    []string{"another --external-port", "--external-port auto"},
			notAdvice: []string{"UPnP", "by hand", "(free on the router)"},
		},
		{
			name:      "the router's UPnP does not allow this host (not authorized)",
			e:         home(refusedUPnP(FailNotAllowed, "not authorized (UPnP 606)")),
			nat:       NATPublic,
			status:    StatusUnreachable,
			target:    "11.0.0.2:1234",
			causes:    []string{"do not allow this host"},
			advice:    []string{"allow UPnP port mapping for this host", "by hand", "external port 1234 TCP -> 192.168.1.10 port 1234"},
			notAdvice: []string{"turn on UPnP", "1024"},
		},
		{
			name: "the router's UPnP does not allow port 80 (not authorized), PCP silent after it",
			e: home(func(e *Evidence) {
				e.Port = 80
				refusedUPnP(FailNotAllowed, "not authorized (UPnP 606)")(e)
			}),
			nat:       NATPublic,
			status:    StatusUnreachable,
			target:    "11.0.0.2:80",
			causes:    []string{"do not allow this host", "only ports 1024 and up, and 80 is below"},
			advice:    []string{"try a port of 1024 or more", "allow UPnP port mapping for this host", "external port 80 TCP -> 192.168.1.10 port 80"},
			notAdvice: []string{"run reach again"},
		},
		{
			name:   "the router's mapping table is full",
			e:      home(refusedUPnP(FailNoResources, "no port maps available (UPnP 728)")),
			nat:    NATPublic,
			status: StatusUnreachable,
			target: "11.0.0.2:1234",
			causes: []string{"table is full"},
			advice: []string{"reach mappings", "restart the router", "by hand"},
		},
		{
			name:   "the router did not answer the mapping request",
			e:      home(refusedUPnP(FailUnanswered, "no reply in 2s")),
			nat:    NATPublic,
			status: StatusUnreachable,
			target: "11.0.0.2:1234",
			causes: []string{"did not answer"},
			advice: []string{"run reach again", "by hand"},
		},
		{
			name:      "the router refused the mapping (UPnP 501)",
			e:         home(refusedUPnP(FailRefused, "action failed (UPnP 501)")),
			nat:       NATPublic,
			status:    StatusUnreachable,
			target:    "11.0.0.2:1234",
			causes:    []string{"refused the mapping"},
			advice:    []string{"by hand", "port forwarding"},
			notAdvice: []string{"turn on UPnP"},
		},
		{
			name: "port held by another LAN device while a VPN is on",
			e: home(func(e *Evidence) {
				refusedUPnP(FailConflict, "conflict with 192.168.1.20 (UPnP 718)")(e)
				e.Mapping.Holder = "192.168.1.20:1234"
				e.STUN = tVPN
			}),
			nat:       NATUnknown,
			status:    StatusUnreachable,
			causes:    []string{"already forwarded", "192.168.1.20:1234"},
			advice:    []string{"--external-port", "VPN"},
			notAdvice: []string{"UPnP", "by hand"},
			target:    "12.0.0.9:1234",
		},
	}
}

// listenerRows: the user's own program (--no-serve) and where it listens.
func listenerRows() []decideRow {
	own := func(l ListenerEvidence, mod func(e *Evidence)) Evidence {
		return home(func(e *Evidence) {
			mod(e)
			e.OwnProgram, e.Listener = true, &l
		})
	}
	return []decideRow{
		{
			name:      "your program listens only on 127.0.0.1, mapped by UPnP",
			e:         own(ListenerEvidence{OnLoopback: true}, mappedUPnP),
			nat:       NATPublic,
			status:    StatusUnreachable,
			target:    "11.0.0.2:1234",
			headline:  []string{"listens only on 127.0.0.1:1234"},
			causes:    []string{"bound to the loopback address"},
			advice:    []string{"0.0.0.0", "IPAddress.Any"},
			notAdvice: []string{"UPnP", "by hand", "firewall"},
		},
		{
			name: "nothing listening yet, the router has no mapping service",
			e: own(ListenerEvidence{}, func(e *Evidence) {
				e.STUN = tPub
			}),
			nat:       NATNoMapping,
			status:    StatusUnreachable,
			target:    "11.0.0.2:1234",
			headline:  []string{"nothing listens on 192.168.1.10:1234 yet"},
			causes:    []string{"not running, or listens on another port"},
			advice:    []string{"start your program on port 1234"},
			notAdvice: []string{"0.0.0.0"},
		},
		{
			name:      "mapped, but nothing listening yet",
			e:         own(ListenerEvidence{}, mappedUPnP),
			nat:       NATPublic,
			status:    StatusUnreachable,
			target:    "11.0.0.2:1234",
			headline:  []string{"mapped at 11.0.0.2:1234, but nothing listens on port 1234 yet"},
			advice:    []string{"start your program on port 1234"},
			notAdvice: []string{"UPnP", "by hand"},
		},
		{
			name: "your own program, the forward reached it through NAT loopback (no echo)",
			e: own(ListenerEvidence{OnLAN: true, OnLoopback: true}, func(e *Evidence) {
				mappedUPnP(e)
				e.Probes = []ProbeEvidence{loopback("11.0.0.2:1234", Open)}
			}),
			nat:      NATPublic,
			status:   StatusOpen,
			target:   "11.0.0.2:1234",
			headline: []string{"forwarded: 11.0.0.2:1234 reaches your program"},
			advice:   []string{"connect to 11.0.0.2:1234 with your program's own client"},
		},
		{
			name: "your own program, connection through a private address is no proof",
			e: own(ListenerEvidence{OnLAN: true}, func(e *Evidence) {
				e.Services = []ServiceEvidence{{Method: "upnp-igd2", ExternalAddr: tModem}}
				e.Mapping = &MappingEvidence{Made: true, Method: "upnp-igd2", ExternalPort: 1234}
				e.ExternalAddr, e.STUN = tModem, tPub
				e.Probes = []ProbeEvidence{loopback("192.168.0.2:1234", Open)}
			}),
			nat:         NATDouble,
			status:      StatusUnreachable,
			target:      "11.0.0.2:1234",
			notHeadline: []string{"forwarded:"},
		},
	}
}

// doubleRows: another NAT in front of the router.
func doubleRows() []decideRow {
	return []decideRow{
		{
			name: "router behind the ISP's modem (private WAN address), mapped by UPnP",
			e: home(func(e *Evidence) {
				e.Services = []ServiceEvidence{{Method: "upnp-igd2", ExternalAddr: tModem}}
				e.Mapping = &MappingEvidence{Made: true, Method: "upnp-igd2", ExternalPort: 1234}
				e.ExternalAddr, e.STUN = tModem, tPub
			}),
			nat:      NATDouble,
			status:   StatusUnreachable,
			target:   "11.0.0.2:1234",
			headline: []string{"mapped on your router (port 1234)", "double NAT"},
			evidence: []string{"192.168.0.2 is private"},
			causes:   []string{"double NAT"},
			advice: []string{"bridge mode", "port 1234/tcp on the modem to your router's WAN address 192.168.0.2",
				"access-point mode", "this host 192.168.1.10"},
			notAdvice: []string{"UPnP", "by hand"},
		},
		{
			name: "double NAT, loopback echo through the router's private WAN address",
			e: home(func(e *Evidence) {
				e.Services = []ServiceEvidence{{Method: "upnp-igd2", ExternalAddr: tModem}}
				e.Mapping = &MappingEvidence{Made: true, Method: "upnp-igd2", ExternalPort: 1234}
				e.ExternalAddr, e.STUN = tModem, tPub
				e.Probes = []ProbeEvidence{loopback("192.168.0.2:1234", Verified)}
			}),
			nat:         NATDouble,
			status:      StatusUnreachable,
			target:      "11.0.0.2:1234",
			evidence:    []string{"192.168.0.2 is private, not public"},
			notHeadline: []string{"reachable at"},
		},
		{
			name: "double NAT, the modem forwards too: loopback through the STUN address verifies",
			e: home(func(e *Evidence) {
				e.Services = []ServiceEvidence{{Method: "upnp-igd2", ExternalAddr: tModem}}
				e.Mapping = &MappingEvidence{Made: true, Method: "upnp-igd2", ExternalPort: 1234}
				e.ExternalAddr, e.STUN = tModem, tPub
				e.Probes = []ProbeEvidence{loopback("11.0.0.2:1234", Verified)}
			}),
			nat:    NATDouble,
			status: StatusVerified,
			by:     ViaLoopback,
			target: "11.0.0.2:1234",
		},
		{
			name: "double NAT by hop: UPnP says disconnected, hop 2 is private",
			e: home(func(e *Evidence) {
				e.Port = 0
				e.Services = []ServiceEvidence{{Method: "upnp-igd2", ExternalAddr: netip.IPv4Unspecified(), Connected: &no}}
				e.Hops = []Hop{hop(1, "192.168.1.1"), hop(2, "192.168.0.1")}
			}),
			nat:       NATDouble,
			status:    StatusUnreachable,
			evidence:  []string{"not connected", "192.168.0.1, is private"},
			advice:    []string{"bridge mode", "status page", "your port (tcp)"},
			notAdvice: []string{"UPnP", "by hand"},
		},
		{
			name: "router answers NAT-PMP result 3 (no external address), hop 2 is private",
			e: home(func(e *Evidence) {
				e.Services = []ServiceEvidence{pmpResult3}
				e.Mapping = &MappingEvidence{Method: "nat-pmp", ExternalPort: 1234, FailKind: FailNoExternal, Failure: pmpResult3.Summary}
				e.STUN = tPub
				e.Hops = []Hop{hop(1, "192.168.1.1"), hop(2, "192.168.0.1")}
			}),
			nat:       NATDouble,
			status:    StatusUnreachable,
			target:    "11.0.0.2:1234",
			evidence:  []string{"nat-pmp: the router has no external address", "192.168.0.1, is private"},
			advice:    []string{"bridge mode"},
			notAdvice: []string{"UPnP", "by hand"},
		},
		{
			// Folded from nat_test.go.
			name: "no mapping service, a private hop beyond the router",
			e: home(func(e *Evidence) {
				e.Port = 0
				e.Hops = []Hop{hop(1, "192.168.1.1"), {TTL: 2}, hop(3, "10.0.0.1")}
			}),
			nat:      NATDouble,
			status:   StatusUnreachable,
			evidence: []string{"no port-mapping service", "10.0.0.1, is private"},
			advice:   []string{"bridge mode"},
		},
	}
}

// cgnatRows: the ISP's carrier-grade NAT.
func cgnatRows() []decideRow {
	return []decideRow{
		{
			name: "ISP's carrier-grade NAT: the router reports 100.64.3.4, mapped by UPnP",
			e: home(func(e *Evidence) {
				e.Services = []ServiceEvidence{{Method: "upnp-igd1", ExternalAddr: tShared}}
				e.Mapping = &MappingEvidence{Made: true, Method: "upnp-igd1", ExternalPort: 1234}
				e.ExternalAddr, e.STUN = tShared, tPub
			}),
			nat:       NATCGNAT,
			status:    StatusUnreachable,
			target:    "11.0.0.2:1234",
			headline:  []string{"mapped on your router (port 1234)", "carrier-grade NAT"},
			evidence:  []string{"100.64.3.4 is in 100.64.0.0/10", "11.0.0.2 (STUN)"},
			causes:    []string{"carrier-grade NAT"},
			advice:    []string{"public IPv4 address", "IPv6", "tunnel"},
			notAdvice: []string{"UPnP", "modem", "bridge"},
		},
		{
			// Folded from nat_test.go.
			name: "CGNAT by hop: NAT-PMP result 3, hop 2 is 100.64.0.1",
			e: home(func(e *Evidence) {
				e.Port = 0
				e.Services = []ServiceEvidence{pmpResult3}
				e.Hops = []Hop{hop(1, "192.168.1.1"), hop(2, "100.64.0.1")}
			}),
			nat:      NATCGNAT,
			status:   StatusUnreachable,
			evidence: []string{"hop 2, 100.64.0.1", "not connected"},
			advice:   []string{"public IPv4 address"},
		},
		{
			name: "CGNAT without STUN, router answers NAT-PMP result 3",
			e: home(func(e *Evidence) {
				e.Services = []ServiceEvidence{pmpResult3}
				e.Mapping = &MappingEvidence{Method: "nat-pmp", ExternalPort: 1234, FailKind: FailNoExternal, Failure: pmpResult3.Summary}
				e.Hops = []Hop{hop(1, "192.168.1.1"), {TTL: 2}, hop(3, "100.72.0.1")}
			}),
			nat:      NATCGNAT,
			status:   StatusUnreachable,
			headline: []string{"carrier-grade NAT"},
			evidence: []string{"no STUN server answered", "hop 3, 100.72.0.1, is in 100.64.0.0/10"},
			advice:   []string{"public IPv4 address", "IPv6", "tunnel"},
		},
		{
			// Folded from nat_test.go.
			name: "router behind a modem behind the ISP's CGNAT",
			e: home(func(e *Evidence) {
				e.Services = []ServiceEvidence{{Method: "upnp-igd2", ExternalAddr: tModem}}
				e.Mapping = &MappingEvidence{Made: true, Method: "upnp-igd2", ExternalPort: 1234}
				e.ExternalAddr = tModem
				e.Hops = []Hop{hop(1, "192.168.1.1"), hop(2, "192.168.0.1"), hop(3, "100.72.0.1")}
			}),
			nat:    NATCGNAT,
			status: StatusUnreachable,
			advice: []string{"public IPv4 address"},
		},
		{
			name: "CGNAT, but a reach check from a friend's network came in",
			e: home(func(e *Evidence) {
				e.Services = []ServiceEvidence{{Method: "upnp-igd1", ExternalAddr: tShared}}
				e.Mapping = &MappingEvidence{Made: true, Method: "upnp-igd1", ExternalPort: 1234}
				e.ExternalAddr, e.STUN = tShared, tPub
				e.Probes = []ProbeEvidence{{Target: ap("11.0.0.2:1234"), Via: ViaOutside, Verdict: Verified, From: tFriend}}
			}),
			nat:         NATCGNAT,
			status:      StatusVerified,
			by:          ViaOutside,
			target:      "11.0.0.2:1234",
			headline:    []string{"reachable at 11.0.0.2:1234", "reach check from 13.0.0.7"},
			notHeadline: []string{"not reachable"},
		},
		{
			name: "CGNAT without STUN, a reach check from outside came in (expose knows no target)",
			e: home(func(e *Evidence) {
				e.Services = []ServiceEvidence{{Method: "upnp-igd1", ExternalAddr: tShared}}
				e.Mapping = &MappingEvidence{Made: true, Method: "upnp-igd1", ExternalPort: 1234}
				e.ExternalAddr = tShared
				// expose's outsideProbe writes 0.0.0.0:port when the
				// diagnosis had no target.
				e.Probes = []ProbeEvidence{{Target: ap("0.0.0.0:1234"), Via: ViaOutside, Verdict: Verified, From: tFriend}}
			}),
			nat:      NATCGNAT,
			status:   StatusVerified,
			by:       ViaOutside,
			headline: []string{"reach check from 13.0.0.7"},
		},
		{
			name: "CGNAT, loopback echo through the shared address",
			e: home(func(e *Evidence) {
				e.Services = []ServiceEvidence{{Method: "upnp-igd1", ExternalAddr: tShared}}
				e.Mapping = &MappingEvidence{Made: true, Method: "upnp-igd1", ExternalPort: 1234}
				e.ExternalAddr = tShared
				e.Probes = []ProbeEvidence{loopback("100.64.3.4:1234", Verified)}
			}),
			nat:         NATCGNAT,
			status:      StatusUnreachable,
			evidence:    []string{"100.64.3.4 is shared, not public"},
			notHeadline: []string{"reachable at"},
		},
	}
}

// noExternalRows: the router says it has no public side, and nothing else
// decides.
func noExternalRows() []decideRow {
	return []decideRow{
		{
			name: "router answers NAT-PMP result 3, no hops, STUN answers (diagnose)",
			e: home(func(e *Evidence) {
				e.Port = 0
				e.Services = []ServiceEvidence{pmpResult3}
				e.STUN = tPub
			}),
			nat:       NATUnknown,
			status:    StatusUnverified,
			evidence:  []string{"11.0.0.2 (STUN)", "reports no external address", "WAN is down, or another NAT"},
			advice:    []string{"bridge mode", "public IPv4 address", "WAN"},
			notAdvice: []string{"UPnP", "by hand"},
			notCauses: []string{"carrier-grade NAT (your ISP", "double NAT ("},
		},
		{
			name: "router answers NAT-PMP result 3 to the mapping too, STUN answers",
			e: home(func(e *Evidence) {
				e.Services = []ServiceEvidence{pmpResult3}
				e.Mapping = &MappingEvidence{Method: "nat-pmp", ExternalPort: 1234, FailKind: FailNoExternal, Failure: pmpResult3.Summary}
				e.STUN = tPub
			}),
			nat:       NATUnknown,
			status:    StatusUnreachable,
			target:    "11.0.0.2:1234",
			evidence:  []string{"reports no external address"},
			advice:    []string{"bridge mode", "public IPv4 address", "WAN"},
			notAdvice: []string{"UPnP", "by hand"},
		},
		{
			name: "UPnP router says disconnected (0.0.0.0), no STUN answer, no hops",
			e: home(func(e *Evidence) {
				e.Port = 0
				e.Services = []ServiceEvidence{{Method: "upnp-igd2", ExternalAddr: netip.IPv4Unspecified(), Connected: &no}}
			}),
			nat:       NATUnknown,
			status:    StatusUnverified,
			evidence:  []string{"not connected", "no STUN server answered", "reports no external address"},
			advice:    []string{"bridge mode", "public IPv4 address", "WAN"},
			notAdvice: []string{"UPnP", "by hand", "reach check"},
		},
	}
}

// noMappingRows: the router answers no UPnP, NAT-PMP nor PCP.
func noMappingRows() []decideRow {
	return []decideRow{
		{
			name: "port forwarded by hand, UPnP off, verified by an outside probe",
			e: home(func(e *Evidence) {
				e.STUN = tPub
				e.Probes = []ProbeEvidence{loopback("11.0.0.2:1234", Refused),
					{Target: ap("11.0.0.2:1234"), Via: ViaOutside, Verdict: Verified, From: tFriend}}
			}),
			nat:      NATNoMapping,
			status:   StatusVerified,
			by:       ViaOutside,
			target:   "11.0.0.2:1234",
			headline: []string{"reachable at 11.0.0.2:1234", "reach check from 13.0.0.7"},
		},
		{
			name: "UPnP off on the router, STUN answers",
			e:    home(func(e *Evidence) { e.STUN = tPub }),
			nat:  NATNoMapping, status: StatusUnverified,
			target:     "11.0.0.2:1234",
			headline:   []string{"no port mapping"},
			evidence:   []string{"no port-mapping service", "11.0.0.2 (STUN)"},
			causes:     []string{"not forwarded", "does not loop back"},
			candidates: true,
			advice: []string{"by hand", "http://192.168.1.1/", "external port 1234 TCP -> 192.168.1.10 port 1234",
				"turn on UPnP", "reach check 11.0.0.2:1234"},
		},
		{
			name: "UPnP off, forwarded by hand, the probe through the router times out",
			e: home(func(e *Evidence) {
				e.STUN = tPub
				e.Probes = []ProbeEvidence{loopback("11.0.0.2:1234", Timeout)}
			}),
			nat:        NATNoMapping,
			status:     StatusUnverified,
			target:     "11.0.0.2:1234",
			evidence:   []string{"probe through 11.0.0.2:1234 (loopback): timeout"},
			candidates: true,
			advice:     []string{"reach check 11.0.0.2:1234"},
		},
		{
			name:      "UPnP off, no STUN answer",
			e:         home(func(*Evidence) {}),
			nat:       NATNoMapping,
			status:    StatusUnverified,
			evidence:  []string{"no STUN server answered"},
			advice:    []string{"by hand", "turn on UPnP"},
			notAdvice: []string{"reach check"},
		},
		{
			name: "UPnP off, diagnose",
			e: home(func(e *Evidence) {
				e.Port = 0
				e.STUN = tPub
			}),
			nat:    NATNoMapping,
			status: StatusUnverified,
			advice: []string{"external port the same port TCP -> 192.168.1.10 port your port", "turn on UPnP", "reach check 11.0.0.2:PORT"},
		},
		{
			// Folded from nat_test.go.
			name: "UPnP off, Minecraft on UDP 25565",
			e: home(func(e *Evidence) {
				e.Port, e.Protocol, e.STUN = 25565, "udp", tPub
				e.Hops = []Hop{hop(1, "192.168.1.1"), {TTL: 2}}
			}),
			nat:    NATNoMapping,
			status: StatusUnverified,
			target: "11.0.0.2:25565",
			advice: []string{"turn on UPnP", "http://192.168.1.1/", "external port 25565 UDP -> 192.168.1.10 port 25565"},
		},
		{
			// Folded from nat_test.go.
			name: "UPnP off, the hop 2 that answered is the STUN server itself",
			e: home(func(e *Evidence) {
				e.Port = 0
				e.Hops = []Hop{hop(1, "192.168.1.1"), {TTL: 2, Addr: netip.MustParseAddr("10.9.9.9"), Target: true}}
			}),
			nat:    NATNoMapping,
			status: StatusUnverified,
		},
	}
}

// otherRows: no gateway, unknown, and Target selection.
func otherRows() []decideRow {
	return []decideRow{
		{
			name:      "laptop with no network (no default route)",
			e:         Evidence{Port: 1234, LocalIP: tLAN, STUNAsked: true},
			nat:       NATNoGateway,
			status:    StatusUnreachable,
			headline:  []string{"no default gateway"},
			advice:    []string{"default route"},
			notAdvice: []string{"UPnP", "by hand", "reach check"},
		},
		{
			name:   "no network, diagnose",
			e:      Evidence{},
			nat:    NATNoGateway,
			status: StatusUnreachable,
			advice: []string{"default route"},
		},
		{
			// Folded from nat_test.go.
			name: "router reports a documentation address (203.0.113.5)",
			e: home(func(e *Evidence) {
				e.Port = 0
				e.Services = []ServiceEvidence{{Method: "upnp-igd2", ExternalAddr: netip.MustParseAddr("203.0.113.5")}}
			}),
			nat:       NATUnknown,
			status:    StatusUnverified,
			evidence:  []string{"203.0.113.5, a reserved address"},
			advice:    []string{"WAN"},
			notAdvice: []string{"UPnP", "by hand"},
		},
		{
			name: "router answers but gives no address, STUN answers (mapped)",
			e: home(func(e *Evidence) {
				e.Services = []ServiceEvidence{{Method: "pcp"}}
				e.Mapping = &MappingEvidence{Made: true, Method: "pcp", ExternalPort: 1234}
				e.STUN = tPub
			}),
			nat:       NATUnknown,
			status:    StatusUnverified,
			target:    "11.0.0.2:1234",
			headline:  []string{"mapped at 11.0.0.2:1234"},
			advice:    []string{"WAN", "reach check 11.0.0.2:1234"},
			notAdvice: []string{"UPnP", "by hand"},
		},
		{
			name: "target: mapped on a public router without STUN is the router's address and granted port",
			e: home(func(e *Evidence) {
				mappedUPnP(e)
				e.STUN, e.ExternalPort = netip.Addr{}, 8080
				e.Mapping.ExternalPort = 8081
			}),
			nat:    NATPublic,
			status: StatusUnverified,
			target: "11.0.0.2:8081",
		},
		{
			name: "target: not mapped, the asked external port on the STUN address",
			e: home(func(e *Evidence) {
				e.ExternalPort = 8080
				e.STUN = tPub
			}),
			nat:    NATNoMapping,
			status: StatusUnverified,
			target: "11.0.0.2:8080",
			advice: []string{"external port 8080 TCP -> 192.168.1.10 port 1234", "reach check 11.0.0.2:8080"},
		},
		{
			name: "target: a verifying probe's own target wins",
			e: home(func(e *Evidence) {
				e.STUN = tPub
				e.Probes = []ProbeEvidence{{Target: ap("11.0.0.2:4321"), Via: ViaTURN, Verdict: Verified}}
			}),
			nat:    NATNoMapping,
			status: StatusVerified,
			by:     ViaTURN,
			target: "11.0.0.2:4321",
		},
	}
}

// firewallRows: the host's own firewall, where the system can say.
func firewallRows() []decideRow {
	on := &FirewallState{Status: FirewallOn, Source: "netsh: Domain, Private, Public on"}
	return []decideRow{
		{
			name: "Windows PC behind a public router, no loopback, Defender Firewall on",
			e: home(func(e *Evidence) {
				mappedUPnP(e)
				e.Probes = []ProbeEvidence{loopback("11.0.0.2:1234", Timeout)}
				e.Firewall, e.GOOS = on, "windows"
			}),
			nat: NATPublic, status: StatusUnverified, target: "11.0.0.2:1234", candidates: true,
			causes:   []string{"firewall may block", "does not loop back"},
			advice:   []string{`netsh advfirewall firewall add rule name="reach 1234" dir=in action=allow protocol=TCP localport=1234`},
			evidence: []string{"firewall is on"},
		},
		{
			name: "Mac cloud host, firewall blocks all incoming",
			e: Evidence{Port: 1234, LocalIP: tPub, Gateway: tCloud, STUNAsked: true, STUN: tPub, GOOS: "darwin",
				Firewall: &FirewallState{Status: FirewallOn, BlockAll: true, Source: "socketfilterfw"}},
			nat: NATNone, status: StatusUnverified, target: "11.0.0.2:1234",
			advice:    []string{"Block all incoming connections"},
			notAdvice: []string{"netsh"},
		},
		{
			name: "firewall off is ruled out",
			e: home(func(e *Evidence) {
				mappedUPnP(e)
				e.Probes = []ProbeEvidence{loopback("11.0.0.2:1234", Refused)}
				e.Firewall, e.GOOS = &FirewallState{Status: FirewallOff, Source: "netsh"}, "windows"
			}),
			nat: NATPublic, status: StatusUnverified, target: "11.0.0.2:1234", candidates: true,
			evidence: []string{"firewall is off"}, notCauses: []string{"firewall may block"}, notAdvice: []string{"netsh"},
		},
	}
}

// ipv6Rows: the IPv6 side never changes the IPv4 verdict's truth, and
// "reachable over IPv6" needs a probe that came in over IPv6.
func ipv6Rows() []decideRow {
	v6 := netip.MustParseAddr("2001:db8:1::10")
	cg := func(e *Evidence) {
		e.Services = []ServiceEvidence{{Method: "upnp-igd2", ExternalAddr: tShared}}
		e.ExternalAddr, e.STUN = tShared, tPub
	}
	from6 := ProbeEvidence{Target: netip.AddrPortFrom(v6, 1234), Via: ViaOutside, Verdict: Verified, From: netip.MustParseAddrPort("[2001:db8:fe::1]:5000")}
	// relayed is an open pinhole that a TURN relay outside probed.
	relayed := func(method string, p ProbeEvidence) *IPv6Evidence {
		p.Target, p.Via = netip.AddrPortFrom(v6, 1234), ViaTURN
		return &IPv6Evidence{Address: v6, Global: true, Pinhole: true, Method: method, Probes: []ProbeEvidence{p}}
	}
	return []decideRow{
		{
			name: "CGNAT, IPv6 pinhole open, not verified yet",
			e: home(func(e *Evidence) {
				cg(e)
				e.IPv6 = &IPv6Evidence{Address: v6, Global: true, Pinhole: true, Method: "upnp-igd2-pinhole"}
			}),
			nat: NATCGNAT, status: StatusUnreachable, target: "11.0.0.2:1234",
			headline:  []string{"not reachable over IPv4 (carrier-grade NAT)", "pinhole open at [2001:db8:1::10]:1234", "not verified"},
			advice:    []string{"reach check '[2001:db8:1::10]:1234'", "public IPv4 address"},
			notAdvice: []string{"by hand", "UPnP"},
		},
		{
			name: "CGNAT, IPv6 pinhole open to reach's own server, a TURN relay outside was refused there",
			e: home(func(e *Evidence) {
				cg(e)
				e.IPv6 = relayed("upnp-igd2-pinhole", ProbeEvidence{Verdict: Refused})
			}),
			nat: NATCGNAT, status: StatusUnreachable, target: "11.0.0.2:1234",
			headline:  []string{"a TURN relay outside was refused there"},
			advice:    []string{"this host's firewall, or the router despite the pinhole, rejects inbound IPv6 on 1234/tcp"},
			notAdvice: []string{"IPv6Any", "0.0.0.0 only"},
		},
		{
			name: "CGNAT, IPv6 pinhole open to reach's own server, something else answered a TURN relay",
			e: home(func(e *Evidence) {
				cg(e)
				e.IPv6 = relayed("pcp", ProbeEvidence{Verdict: Open})
			}),
			nat: NATCGNAT, status: StatusUnreachable, target: "11.0.0.2:1234",
			headline:    []string{"a TURN relay outside reached it, but no reach echo came back"},
			notHeadline: []string{"your program"},
			advice:      []string{"another program on this host may hold 1234/tcp over IPv6"},
			notAdvice:   []string{"the IPv6 path works"},
		},
		{
			name: "CGNAT, IPv6 pinhole open, a TURN relay outside was refused there",
			e: home(func(e *Evidence) {
				cg(e)
				e.OwnProgram = true
				e.IPv6 = relayed("upnp-igd2-pinhole", ProbeEvidence{Verdict: Refused, Detail: "the relay's connection was refused"})
			}),
			nat: NATCGNAT, status: StatusUnreachable, target: "11.0.0.2:1234",
			headline:    []string{"not reachable over IPv4 (carrier-grade NAT); IPv6: pinhole open at [2001:db8:1::10]:1234", "a TURN relay outside was refused there"},
			notHeadline: []string{"not verified from here"},
			evidence:    []string{"probe through [2001:db8:1::10]:1234 (turn): refused: the relay's connection was refused"},
			advice:      []string{"IPAddress.IPv6Any", "this host's firewall", "1234/tcp"},
		},
		{
			name: "CGNAT, IPv6 pinhole open, no answer to a TURN relay's TCP probe",
			e: home(func(e *Evidence) {
				cg(e)
				e.IPv6 = relayed("pcp", ProbeEvidence{Verdict: Timeout})
			}),
			nat: NATCGNAT, status: StatusUnreachable, target: "11.0.0.2:1234",
			headline:  []string{"IPv6: pinhole open at [2001:db8:1::10]:1234 (pcp), but a probe from a TURN relay outside got no answer"},
			advice:    []string{"a firewall drops it", "ISP filters inbound IPv6", "reach check '[2001:db8:1::10]:1234'"},
			notAdvice: []string{"IPv6Any"},
		},
		{
			name: "CGNAT, IPv6 pinhole open, a UDP program silent to a TURN relay",
			e: home(func(e *Evidence) {
				cg(e)
				e.Protocol, e.OwnProgram = "udp", true
				e.IPv6 = relayed("pcp", ProbeEvidence{Verdict: NoAnswer})
			}),
			nat: NATCGNAT, status: StatusUnreachable, target: "11.0.0.2:1234",
			headline:    []string{"a TURN relay outside got no answer there, which proves nothing over UDP"},
			notHeadline: []string{"firewall"},
			advice:      []string{"reach serve --proto udp"},
			notAdvice:   []string{"a firewall drops it"},
		},
		{
			name: "CGNAT, IPv6 pinhole open to reach's own UDP echo server, silent to a TURN relay",
			e: home(func(e *Evidence) {
				cg(e)
				e.Protocol = "udp"
				e.IPv6 = relayed("pcp", ProbeEvidence{Verdict: NoAnswer})
			}),
			nat: NATCGNAT, status: StatusUnreachable, target: "11.0.0.2:1234",
			headline:    []string{"but a probe from a TURN relay outside got no answer"},
			notHeadline: []string{"proves nothing"},
			advice:      []string{"allow inbound IPv6 on 1234/udp", "reach check --proto udp '[2001:db8:1::10]:1234'"},
		},
		{
			name: "CGNAT, IPv6 pinhole open, something there answered a TURN relay without an echo",
			e: home(func(e *Evidence) {
				cg(e)
				e.OwnProgram = true
				e.IPv6 = relayed("pcp", ProbeEvidence{Verdict: Open})
			}),
			nat: NATCGNAT, status: StatusUnreachable, target: "11.0.0.2:1234",
			headline:    []string{"open from outside (a TURN relay reached it), not verified"},
			notHeadline: []string{"refused", "no answer"},
			advice:      []string{"the IPv6 path works"},
		},
		{
			name: "CGNAT, IPv6 pinhole open, a reach check came in over IPv6",
			e: home(func(e *Evidence) {
				cg(e)
				e.IPv6 = &IPv6Evidence{Address: v6, Global: true, Pinhole: true, Method: "pcp", Probes: []ProbeEvidence{from6}}
			}),
			nat: NATCGNAT, status: StatusUnreachable, target: "11.0.0.2:1234",
			headline:    []string{"not reachable over IPv4 (carrier-grade NAT); reachable over IPv6 at [2001:db8:1::10]:1234 (verified by a reach check from 2001:db8:fe::1)"},
			notHeadline: []string{"not reachable from the internet", "not verified"},
			advice:      []string{"people with IPv6 can connect now, to [2001:db8:1::10]:1234", "public IPv4 address"},
			notAdvice:   []string{"by hand", "reach check '["},
		},
		{
			name: "double NAT, mapped on the router, verified over IPv6",
			e: home(func(e *Evidence) {
				e.Services = []ServiceEvidence{{Method: "upnp-igd2", ExternalAddr: tModem}}
				e.Mapping = &MappingEvidence{Made: true, Method: "upnp-igd2", ExternalPort: 1234}
				e.ExternalAddr, e.STUN = tModem, tVPN
				e.IPv6 = &IPv6Evidence{Address: v6, Global: true, Pinhole: true, Method: "upnp-igd2-pinhole", Probes: []ProbeEvidence{from6}}
			}),
			nat: NATDouble, status: StatusUnreachable, target: "12.0.0.9:1234",
			headline: []string{"mapped on your router (port 1234), but not reachable over IPv4 (double NAT); reachable over IPv6 at [2001:db8:1::10]:1234 (verified"},
			advice:   []string{"people with IPv6 can connect now", "bridge mode"},
		},
		{
			name: "CGNAT, no IPv6 pinhole service",
			e: home(func(e *Evidence) {
				cg(e)
				e.IPv6 = &IPv6Evidence{Address: v6, Global: true, Failure: "no pinhole service on the router"}
			}),
			nat: NATCGNAT, status: StatusUnreachable, target: "11.0.0.2:1234",
			headline:    []string{"not reachable over IPv4 (carrier-grade NAT); IPv6: no pinhole opened for [2001:db8:1::10]:1234", "no pinhole service on the router"},
			notHeadline: []string{"reachable over IPv6 at"},
			advice:      []string{"allow inbound IPv6 to [2001:db8:1::10]:1234", "public IPv4 address"},
		},
		{
			name: "CGNAT, no global IPv6 address",
			e: home(func(e *Evidence) {
				cg(e)
				e.IPv6 = &IPv6Evidence{}
			}),
			nat: NATCGNAT, status: StatusUnreachable, target: "11.0.0.2:1234",
			headline: []string{"not reachable over IPv4 (carrier-grade NAT); no IPv6: this host has no global IPv6 address"},
			advice:   []string{"public IPv4 address"},
		},
		{
			name: "CGNAT, diagnose on a host with global IPv6",
			e: home(func(e *Evidence) {
				cg(e)
				e.Port = 0
				e.IPv6 = &IPv6Evidence{Address: v6, Global: true}
			}),
			nat: NATCGNAT, status: StatusUnreachable,
			headline: []string{"not reachable over IPv4 (carrier-grade NAT); IPv6: this host has a global address"},
		},
		{
			name: "no IPv4 default route, verified over IPv6 (an IPv6-only network)",
			e: Evidence{Port: 1234, LocalIP: tLAN, STUNAsked: true,
				IPv6: &IPv6Evidence{Address: v6, Global: true, Pinhole: true, Method: "pcp", Probes: []ProbeEvidence{from6}}},
			nat: NATNoGateway, status: StatusUnreachable,
			headline: []string{"IPv4: not reachable: this host has no default gateway; reachable over IPv6 at [2001:db8:1::10]:1234 (verified"},
			advice:   []string{"people with IPv6 can connect now", "default route"},
		},
		{
			name: "public router, mapped, IPv4 unverified, verified over IPv6: IPv6 stays its own line",
			e: home(func(e *Evidence) {
				mappedUPnP(e)
				e.Probes = []ProbeEvidence{loopback("11.0.0.2:1234", Refused)}
				e.IPv6 = &IPv6Evidence{Address: v6, Global: true, Pinhole: true, Method: "pcp", Probes: []ProbeEvidence{from6}}
			}),
			nat: NATPublic, status: StatusUnverified, target: "11.0.0.2:1234",
			headline:    []string{"mapped at 11.0.0.2:1234, not verified from here"},
			notHeadline: []string{"IPv6"},
		},
		{
			name: "--ipv6 only, pinhole open, not verified: IPv6's verdict alone, no IPv4 advice",
			e: home(func(e *Evidence) {
				e.Services = []ServiceEvidence{{Method: "upnp-igd2"}, {Method: "pcp"}}
				e.STUN, e.IPv4Off = tPub, true
				e.IPv6 = &IPv6Evidence{Address: v6, Global: true, Pinhole: true, Method: "upnp-igd2-pinhole"}
			}),
			nat: NATUnknown, status: StatusUnverified, target: "[2001:db8:1::10]:1234",
			headline:    []string{"IPv6: pinhole open at [2001:db8:1::10]:1234", "not verified from here"},
			notHeadline: []string{"IPv4", "the evidence does not say"},
			advice:      []string{"reach check '[2001:db8:1::10]:1234'"},
			notAdvice:   []string{"11.0.0.2", "router's status page", "by hand"},
			evidence:    []string{"IPv4 left out (--ipv6 only)", "upnp-igd2: answered (its external address was not asked)"},
		},
		{
			name: "--ipv6 only, a TURN relay echoed through the pinhole: verified by it",
			e: home(func(e *Evidence) {
				e.Services = []ServiceEvidence{{Method: "upnp-igd2"}}
				e.STUN, e.IPv4Off = tPub, true
				e.IPv6 = relayed("pcp", ProbeEvidence{Verdict: Verified})
			}),
			nat: NATUnknown, status: StatusVerified, by: ViaTURN, target: "[2001:db8:1::10]:1234",
			headline:    []string{"reachable over IPv6 at [2001:db8:1::10]:1234"},
			notHeadline: []string{"IPv4"},
		},
		{
			name: "public router, IPv6 pinhole refused",
			e: home(func(e *Evidence) {
				mappedUPnP(e)
				e.Probes = []ProbeEvidence{loopback("11.0.0.2:1234", Verified)}
				e.IPv6 = &IPv6Evidence{Address: v6, Global: true, Failure: "the router refused (606)"}
			}),
			nat: NATPublic, status: StatusVerified, by: ViaLoopback, target: "11.0.0.2:1234",
			headline: []string{"reachable at 11.0.0.2:1234"},
		},
	}
}

func TestIPv6Verdict(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8:1::10")
	base := func(e *Evidence) { mappedUPnP(e) }
	d := Decide(home(func(e *Evidence) {
		base(e)
		e.IPv6 = &IPv6Evidence{Address: v6, Global: true, Pinhole: true, Method: "pcp",
			Probes: []ProbeEvidence{{Target: netip.AddrPortFrom(v6, 1234), Via: ViaOutside, Verdict: Verified, From: netip.MustParseAddrPort("[2001:db8:fe::1]:5000")}}}
	}))
	if d.IPv6 == nil || !d.IPv6.Verified || !strings.Contains(d.IPv6.Headline, "reachable over IPv6 at [2001:db8:1::10]:1234") {
		t.Errorf("verified over IPv6: %+v", d.IPv6)
	}
	d = Decide(home(func(e *Evidence) {
		base(e)
		e.IPv6 = &IPv6Evidence{Address: v6, Global: true, Failure: "no pinhole service"}
	}))
	// Nothing was probed, and some routers' IPv6 firewalls let inbound
	// in: unverified, never "not reachable".
	if d.IPv6 == nil || d.IPv6.Verified || d.IPv6.Status != StatusUnverified || len(d.IPv6.Advice) == 0 || strings.Contains(d.IPv6.Headline, "not reachable") {
		t.Errorf("no pinhole: %+v", d.IPv6)
	}
	d = Decide(home(func(e *Evidence) {
		base(e)
		e.IPv6 = &IPv6Evidence{Address: netip.MustParseAddr("fe80::1"), Global: false}
	}))
	if d.IPv6 == nil || d.IPv6.Target.IsValid() || !strings.Contains(d.IPv6.Headline, "not global") {
		t.Errorf("link-local only: %+v", d.IPv6)
	}
}
