package probe

// relay is a TURN relay's probe through 11.0.0.2:1234 that ended with v.
func relay(v Verdict, detail string) ProbeEvidence {
	return ProbeEvidence{Target: ap("11.0.0.2:1234"), Via: ViaTURN, Verdict: v, Detail: detail}
}

// The relay's evidence, in CheckVia's words.
const (
	relaySilentTCP = "through the relay: connected, but no answer to the probe within 2s"
	relayBindFail  = "the relay connected to 11.0.0.2:1234, then failed to join our data connection to it: EOF"
	relaySilentUDP = "the relay sent 4 UDP probes to 11.0.0.2:1234; no echo came back within 2s; silence proves nothing by itself"
)

// relayRows: a TURN relay outside probed the public address (expose
// --via) and no echo came back. What it reached decides: a connection
// something accepted is open, never "not reachable"; silence from the
// user's own UDP program proves nothing; refusals and timeouts say no.
func relayRows() []decideRow {
	udp := func(e *Evidence) { e.Protocol = "udp" }
	noService := func(e *Evidence) { e.STUN = tPub }
	return []decideRow{
		{
			name: "reach's server, mapped, the relay connected but no echo came back",
			e: home(func(e *Evidence) {
				mappedUPnP(e)
				e.Probes = []ProbeEvidence{loopback("11.0.0.2:1234", Refused), relay(Open, relaySilentTCP)}
			}),
			nat: NATPublic, status: StatusOpen, target: "11.0.0.2:1234",
			headline:    []string{"open from outside, not verified", "TURN relay reached 11.0.0.2:1234"},
			notHeadline: []string{"not reachable"},
			causes:      []string{"forwards port 1234/tcp to another device", "firewall or proxy"},
			advice:      []string{"reach mappings", "reach check 11.0.0.2:1234"},
			candidates:  true,
		},
		{
			name: "reach's server, forwarded by hand, the relay's data connection failed after it connected",
			e: home(func(e *Evidence) {
				noService(e)
				e.Probes = []ProbeEvidence{loopback("11.0.0.2:1234", Timeout), relay(Open, relayBindFail)}
			}),
			nat: NATNoMapping, status: StatusOpen, target: "11.0.0.2:1234",
			headline:    []string{"open from outside, not verified"},
			notHeadline: []string{"not reachable"},
			causes:      []string{"the relay itself failed after it connected"},
			advice:      []string{"another --via relay"},
			evidence:    []string{"failed to join our data connection"},
			candidates:  true,
		},
		{
			name: "two relays: one timed out, the other's connection was accepted",
			e: home(func(e *Evidence) {
				mappedUPnP(e)
				e.Probes = []ProbeEvidence{relay(Open, relaySilentTCP), relay(Timeout, "no answer within 2s")}
			}),
			nat: NATPublic, status: StatusOpen, target: "11.0.0.2:1234",
			headline:    []string{"open from outside"},
			notHeadline: []string{"not reachable", "got timeout"},
			candidates:  true,
		},
		{
			name: "cloud VM, reach's server, the relay connected but no echo came back",
			e: Evidence{Port: 1234, LocalIP: tPub, Gateway: tCloud, STUN: tPub, STUNAsked: true,
				Probes: []ProbeEvidence{relay(Open, relaySilentTCP)}},
			nat: NATNone, status: StatusOpen, target: "11.0.0.2:1234",
			headline:    []string{"open from outside, not verified"},
			notHeadline: []string{"not reachable"},
			causes:      []string{"load balancer"},
			notCauses:   []string{"router"},
			notAdvice:   []string{"reach mappings", "home router"},
			candidates:  true,
		},
		{
			name: "the guide's server (your own program), mapped: the relay's connection reached it",
			e: home(func(e *Evidence) {
				mappedUPnP(e)
				e.OwnProgram = true
				e.Listener = &ListenerEvidence{OnLAN: true}
				e.Probes = []ProbeEvidence{loopback("11.0.0.2:1234", Refused), relay(Open, relaySilentTCP)}
			}),
			nat: NATPublic, status: StatusOpen, target: "11.0.0.2:1234",
			headline:    []string{"reaches your program"},
			notHeadline: []string{"not reachable"},
			advice:      []string{"your program's own client"},
		},
		{
			name: "your own UDP program, mapped, silent to the relay's probes",
			e: home(func(e *Evidence) {
				mappedUPnP(e)
				udp(e)
				e.OwnProgram = true
				e.Probes = []ProbeEvidence{relay(NoAnswer, relaySilentUDP)}
			}),
			nat: NATPublic, status: StatusUnverified, target: "11.0.0.2:1234",
			headline:    []string{"not verified", "got no answer", "silence proves nothing by itself"},
			notHeadline: []string{"not reachable"},
			causes:      []string{"your program does not answer reach's probe", "does not forward the mapping", "firewall"},
			advice:      []string{"your program's own client", "port 1234/udp"},
			notAdvice:   []string{"reach check 11.0.0.2:1234"},
			candidates:  true,
		},
		{
			name: "your own UDP program, no mapping service, silent to the relay's probes",
			e: home(func(e *Evidence) {
				noService(e)
				udp(e)
				e.OwnProgram = true
				e.Probes = []ProbeEvidence{relay(NoAnswer, relaySilentUDP)}
			}),
			nat: NATNoMapping, status: StatusUnverified, target: "11.0.0.2:1234",
			headline:    []string{"not verified", "silence proves nothing"},
			notHeadline: []string{"not reachable"},
			causes:      []string{"does not answer reach's probe", "not forwarded on the router"},
			advice:      []string{"external port 1234 UDP -> 192.168.1.10 port 1234"},
			candidates:  true,
		},
		{
			name: "cloud VM, your own UDP program, silent to the relay's probes",
			e: Evidence{Port: 1234, Protocol: "udp", OwnProgram: true, LocalIP: tPub, Gateway: tCloud, STUN: tPub, STUNAsked: true,
				Probes: []ProbeEvidence{relay(NoAnswer, relaySilentUDP)}},
			nat: NATNone, status: StatusUnverified, target: "11.0.0.2:1234",
			headline:    []string{"not verified"},
			notHeadline: []string{"not reachable"},
			causes:      []string{"does not answer reach's probe", "security group"},
			notCauses:   []string{"forward"},
			candidates:  true,
		},
		{
			name: "reach's UDP echo server, mapped, the relay got no echo",
			e: home(func(e *Evidence) {
				mappedUPnP(e)
				udp(e)
				e.Probes = []ProbeEvidence{relay(NoAnswer, relaySilentUDP)}
			}),
			nat: NATPublic, status: StatusUnreachable, target: "11.0.0.2:1234",
			headline:   []string{"not reachable from outside", "no-answer"},
			causes:     []string{"does not forward the mapping"},
			candidates: true,
		},
		{
			name: "your own program reset the relay's connection",
			e: home(func(e *Evidence) {
				mappedUPnP(e)
				e.OwnProgram = true
				e.Probes = []ProbeEvidence{relay(Reset, "connected, then the connection was reset before any answer")}
			}),
			nat: NATPublic, status: StatusUnreachable, target: "11.0.0.2:1234",
			headline:   []string{"got reset"},
			causes:     []string{"accepted the relay's connection", "your program closes connections", "firewall or router on the way"},
			candidates: true,
		},
		{
			name: "cloud VM, the relay's connection was reset",
			e: Evidence{Port: 1234, LocalIP: tPub, Gateway: tCloud, STUN: tPub, STUNAsked: true,
				Probes: []ProbeEvidence{relay(Reset, "connected, then the connection was reset before any answer")}},
			nat: NATNone, status: StatusUnreachable, target: "11.0.0.2:1234",
			headline:   []string{"got reset"},
			causes:     []string{"something the cloud puts in front of this host"},
			notCauses:  []string{"router forwards"},
			candidates: true,
		},
		{
			name: "no forward: the relay's connection was refused",
			e: home(func(e *Evidence) {
				noService(e)
				e.Probes = []ProbeEvidence{loopback("11.0.0.2:1234", Refused), relay(Refused, "the relay's TCP connection to 11.0.0.2:1234 failed")}
			}),
			nat: NATNoMapping, status: StatusUnreachable, target: "11.0.0.2:1234",
			headline:   []string{"not reachable from outside", "got refused"},
			causes:     []string{"not forwarded on the router"},
			advice:     []string{"forward the port by hand"},
			candidates: true,
		},
	}
}
