package main

import (
	"net/netip"

	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
)

// natVerdict is expose's NAT verdict: the mapper it used and the external
// address that mapper reported, plus what the outside said.
func natVerdict(r *router, mapper upnp.Mapper, ext netip.Addr, path pathResult, port uint16, proto upnp.Protocol) probe.Diagnosis {
	var svcs []probe.ServiceEvidence
	if mapper != nil {
		svcs = append(svcs, probe.ServiceEvidence{Method: string(mapper.Method()), ExternalAddr: ext})
	}
	return probe.Decide(evidence(r, svcs, path, port, proto))
}

// decideFromReport is diagnose's verdict: every service and what it said.
func decideFromReport(r *router, services []serviceReport, path pathResult) probe.Diagnosis {
	var svcs []probe.ServiceEvidence
	for _, s := range services {
		se := probe.ServiceEvidence{Method: string(s.Method), ExternalAddr: s.ext, Err: s.err}
		switch s.Status {
		case "Connected":
			se.Connected = ptr(true)
		case "":
		default:
			se.Connected = ptr(false)
		}
		svcs = append(svcs, se)
	}
	return probe.Decide(evidence(r, svcs, path, 0, ""))
}

func evidence(r *router, svcs []probe.ServiceEvidence, path pathResult, port uint16, proto upnp.Protocol) probe.Evidence {
	e := probe.Evidence{Gateway: r.Gateway, LocalIP: r.LocalIP, Services: svcs, Hops: path.Hops, Port: port, Protocol: string(proto)}
	if path.STUN != nil {
		e.STUN = path.STUN.Addr.Addr()
	}
	return e
}

func ptr[T any](v T) *T { return &v }
