package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/reach-net/reach/expose"
	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
)

// exposeRenderer turns a session's events into lines or JSON events.
type exposeRenderer struct {
	ios    *IOStreams
	o      *exposeOptions
	st     *steps
	log    *clientLog
	logUDP *clientLog // the UDP server's clients: labelled, counted apart
	json   bool
}

func newExposeRenderer(ios *IOStreams, o *exposeOptions) *exposeRenderer {
	st := newSteps(ios, o.JSON)
	st.stream = o.JSON
	return &exposeRenderer{ios: ios, o: o, st: st, log: o.newLog(ios, o.JSON, "tcp"), logUDP: o.newLog(ios, o.JSON, "udp"), json: o.JSON}
}

// close prints the client events still queued.
func (r *exposeRenderer) close() {
	r.log.close()
	r.logUDP.close()
}

func (r *exposeRenderer) render(ev expose.Event) {
	switch e := ev.(type) {
	case *expose.Progress, *expose.Step:
		r.st.render(ev)
	case *expose.Ready:
		r.ready(e)
	case *expose.Verified:
		r.verified(e)
	case *expose.Listening:
		r.listening(e)
	case *expose.Renewed:
		r.renewed(e)
	case *expose.Client:
		if e.Protocol == upnp.UDP {
			r.logUDP.event(e.Event)
			return
		}
		r.log.event(e.Event)
	case *expose.SelfCheck:
		r.selfCheck(e)
	case *expose.Stopped:
		r.stopped(e)
	}
}

// readyEvent is expose's ready line in JSON (CLI.md).
type readyEvent struct {
	Event        string      `json:"event"`
	ExternalIP   string      `json:"external_ip"`
	ExternalPort uint16      `json:"external_port"`
	InternalIP   string      `json:"internal_ip"`
	InternalPort uint16      `json:"internal_port"`
	Protocol     string      `json:"protocol"`
	Method       upnp.Method `json:"method"`
	NAT          probe.NAT   `json:"nat"`
	Verified     bool        `json:"verified"`
	VerifiedBy   string      `json:"verified_by,omitempty"`
	Status       string      `json:"status"`
	Target       string      `json:"target,omitempty"`
	LeaseS       int64       `json:"lease_s"`
	PublicIP     string      `json:"public_ip,omitempty"`
	Gateway      string      `json:"gateway,omitempty"`
	Detail       string      `json:"detail"`
	Causes       []string    `json:"causes,omitempty"`
	Advice       []string    `json:"advice,omitempty"`
	Evidence     []string    `json:"evidence,omitempty"`
	IPv6         *ipv6JSON   `json:"ipv6,omitempty"`
}

// ipv6JSON is the IPv6 side of ready (CLI.md "IPv6").
type ipv6JSON struct {
	Address  string   `json:"address"`
	Port     uint16   `json:"port"`
	Pinhole  bool     `json:"pinhole"`
	Method   *string  `json:"method"`
	Verified bool     `json:"verified"`
	Status   string   `json:"status"`
	Detail   string   `json:"detail"`
	Advice   []string `json:"advice,omitempty"`
}

func readyIPv6(ev *probe.IPv6Evidence, v *probe.IPv6Verdict, port uint16) *ipv6JSON {
	if ev == nil || v == nil {
		return nil
	}
	j := &ipv6JSON{Port: port, Pinhole: ev.Pinhole, Verified: v.Verified, Status: string(v.Status), Detail: v.Headline, Advice: v.Advice}
	if ev.Global {
		j.Address = ev.Address.String()
	}
	if ev.Method != "" {
		m := ev.Method
		j.Method = &m
	}
	return j
}

func (r *exposeRenderer) ready(e *expose.Ready) {
	d := e.Diagnosis
	if r.json {
		ev := readyEvent{
			Event: "ready", ExternalIP: addrString(e.ExternalAddr), InternalIP: addrString(e.LocalIP), InternalPort: e.Port,
			Protocol: string(e.Protocol), Method: e.Method, NAT: d.NAT, Verified: d.Status == probe.StatusVerified,
			VerifiedBy: d.VerifiedBy, Status: string(d.Status), PublicIP: addrString(e.PublicAddr), Gateway: addrString(e.Gateway),
			Detail: d.Headline, Causes: d.Causes, Advice: d.Advice, Evidence: d.Evidence,
		}
		if d.Target.IsValid() {
			ev.Target = d.Target.String()
		}
		if e.Mapping != nil {
			ev.ExternalPort, ev.LeaseS = e.Mapping.ExternalPort, int64(e.Mapping.Lease/time.Second)
		}
		ev.IPv6 = readyIPv6(e.Evidence.IPv6, d.IPv6, e.Port)
		r.ios.writeJSON(ev)
		return
	}
	r.st.finishSpinner()
	if r.o.both {
		r.ios.verdict(headlineMark(d), "%s: %s", e.Protocol, d.Headline)
	} else {
		r.ios.verdict(headlineMark(d), "%s", d.Headline)
	}
	r.ios.diagnosis(d)
	if v6 := d.IPv6; v6 != nil && e.Evidence.IPv6 != nil && e.Evidence.IPv6.Global && !strings.Contains(d.Headline, v6.Headline) {
		r.ios.verdict(statusMark(probe.Diagnosis{Status: v6.Status}), "%s", v6.Headline)
		for _, a := range v6.Advice {
			r.ios.printf("  -> %s\n", a)
		}
	}
	switch {
	case e.Serving && e.Mapping != nil:
		r.ios.printf("hosting the framed echo server on port %d; Ctrl-C to stop and remove the mapping\n", e.Port)
	case e.Serving:
		r.ios.printf("hosting the framed echo server on port %d; Ctrl-C to stop\n", e.Port)
	case e.Mapping != nil:
		r.ios.printf("keeping the mapping alive; Ctrl-C to stop and remove it\n")
	default:
		r.ios.printf("nothing to host (--no-serve) and no mapping; Ctrl-C to stop\n")
	}
}

func (r *exposeRenderer) verified(e *expose.Verified) {
	if e.IPv6 && e.Diagnosis.IPv6 != nil {
		v6 := e.Diagnosis.IPv6
		if r.json {
			r.ios.writeJSON(map[string]any{"event": "verified", "verified": true, "verified_by": e.By, "ipv6": true,
				"from": e.From.String(), "target": v6.Target.String(), "detail": v6.Headline})
			return
		}
		r.ios.verdict(markOK, "verified from outside: %s", v6.Headline)
		return
	}
	if r.json {
		r.ios.writeJSON(map[string]any{"event": "verified", "verified": true, "verified_by": e.By,
			"from": e.From.String(), "target": e.Diagnosis.Target.String(), "nat": e.Diagnosis.NAT, "detail": e.Diagnosis.Headline})
		return
	}
	r.ios.verdict(markOK, "verified from outside: %s", e.Diagnosis.Headline)
}

func (r *exposeRenderer) listening(e *expose.Listening) {
	d := e.Diagnosis
	if r.json {
		r.ios.writeJSON(map[string]any{"event": "listening", "addr": e.Addr.String(), "status": d.Status,
			"verified": d.Status == probe.StatusVerified, "verified_by": d.VerifiedBy, "detail": d.Headline, "advice": d.Advice})
		return
	}
	r.ios.printf("your program now listens on %s\n", e.Addr)
	r.ios.verdict(headlineMark(d), "%s", d.Headline)
	r.ios.diagnosis(d)
}

func (r *exposeRenderer) renewed(e *expose.Renewed) {
	var detail string
	what := ""
	if e.IPv6 {
		what = "IPv6 pinhole "
	}
	if e.OK {
		detail = fmt.Sprintf("%s %s%d/%s, %s", e.How, what, e.Mapping.ExternalPort, e.Mapping.Protocol, leaseText(e.Mapping.Lease))
		if e.Moved {
			detail += fmt.Sprintf("; the router moved it to external port %d", e.Mapping.ExternalPort)
		}
		if e.Repaired {
			detail += "; the router had changed its internal port, and reach put it back"
		}
	} else {
		detail = fmt.Sprintf("renewing %s%d/%s failed: %s; retrying in %s", what, e.Mapping.ExternalPort, e.Mapping.Protocol, upnp.Summary(e.Err), e.RetryIn)
	}
	if r.json {
		ev := map[string]any{"event": "renew", "ok": e.OK, "how": e.How, "ipv6": e.IPv6, "lease_s": int64(e.Mapping.Lease / time.Second),
			"method": e.Method, "external_port": e.Mapping.ExternalPort, "detail": detail}
		if e.Err != nil {
			ev["error"] = e.Err.Error()
		}
		r.ios.writeJSON(ev)
		return
	}
	r.ios.printf("%s\n", detail)
}

func (r *exposeRenderer) stopped(e *expose.Stopped) {
	detail := "no mapping was made, nothing to remove"
	if e.Kept {
		detail = fmt.Sprintf("kept mapping %d/%s: it was there before reach started", e.Mapping.ExternalPort, e.Mapping.Protocol)
	} else if e.Mapped {
		if e.Deleted {
			detail = fmt.Sprintf("removed mapping %d/%s", e.Mapping.ExternalPort, e.Mapping.Protocol)
		} else {
			detail = fmt.Sprintf("could not remove mapping %d/%s: %s; remove it with '%s' or in the router's page",
				e.Mapping.ExternalPort, e.Mapping.Protocol, upnp.Summary(e.Err), unmapHint(e.Mapping, e.Method))
		}
	}
	if r.json {
		ev := map[string]any{"event": "stopped", "mapped": e.Mapped, "mapping_deleted": e.Deleted, "mapping_kept": e.Kept, "detail": detail}
		if e.Pinhole {
			ev["pinhole_closed"], ev["pinhole_note"] = e.PinholeClosed, e.PinholeNote
		}
		if e.Cause != nil {
			ev["error"] = e.Cause.Error()
		}
		r.ios.writeJSON(ev)
		return
	}
	r.st.finishSpinner()
	if r.ios.IsTerminal {
		r.ios.printf("\n") // past the ^C the terminal echoed
	}
	r.ios.printf("stopped: %s\n", detail)
	switch {
	case e.Pinhole && e.PinholeNote != "":
		r.ios.printf("  IPv6 pinhole: %s\n", e.PinholeNote)
	case e.Pinhole:
		r.ios.printf("  closed the IPv6 pinhole\n")
	}
}

func (r *exposeRenderer) selfCheck(e *expose.SelfCheck) {
	if r.json {
		r.ios.writeJSON(map[string]any{"event": "self-check", "ok": e.OK, "repaired": e.Repaired, "target": e.Target.String(), "detail": e.Detail})
		return
	}
	if !e.OK || e.Repaired {
		r.ios.printf("self-check: %s\n", e.Detail)
	}
}

// target is host:port for a line.
func target(host string, port uint16) string {
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}

// headlineMark is the colour of a verdict's headline: its status's, except
// that "not reachable over IPv4" carrying a verified IPv6 path is partial,
// not a failure.
func headlineMark(d probe.Diagnosis) string {
	if v6 := d.IPv6; d.Status == probe.StatusUnreachable && v6 != nil && v6.Verified && strings.Contains(d.Headline, v6.Headline) {
		return markWarn
	}
	return statusMark(d)
}

// statusMark is the colour of a verdict line.
func statusMark(d probe.Diagnosis) string {
	switch d.Status {
	case probe.StatusVerified:
		return markOK
	case probe.StatusUnreachable:
		return markFail
	}
	return markWarn
}
