package main

import (
	"fmt"

	"github.com/reach-net/reach/expose"
	"github.com/reach-net/reach/upnp"
)

// renderInterrupted says, after Ctrl-C (SIGINT, SIGTERM, SIGHUP) cut map
// short, what Session.Close did with what the run had made: the mapping
// and any IPv6 pinhole removed and forgotten in the ledger, or kept when
// the router held the mapping before map started (the session decides
// that), or what could not be removed and how to. Nothing made, nothing
// said: "interrupted" follows from main.
func renderInterrupted(ios *IOStreams, jsonMode bool, stop *expose.Stopped) {
	if !stop.Mapped && !stop.Pinhole {
		return
	}
	res, lines := interruptedText(stop)
	if jsonMode {
		res.Event = "stopped"
		ios.writeJSON(res)
		return
	}
	for _, l := range lines {
		ios.printf("%s\n", l)
	}
}

// interruptedText says what Close did with what an interrupted map had
// made, for JSON and for a person.
func interruptedText(stop *expose.Stopped) (mapStoppedJSON, []string) {
	res := mapStoppedJSON{Mapped: stop.Mapped, Deleted: stop.Deleted, Kept: stop.Kept}
	var lines []string
	if stop.Mapped {
		m := stop.Mapping
		switch {
		case stop.Kept:
			res.Detail = fmt.Sprintf("kept the mapping of port %d/%s: the router held it before reach map started", m.ExternalPort, m.Protocol)
		case stop.Deleted:
			res.Detail = fmt.Sprintf("removed the mapping of port %d/%s it had made", m.ExternalPort, m.Protocol)
		default:
			res.Detail = fmt.Sprintf("could not remove the mapping of port %d/%s it had made: %s; remove it with: %s",
				m.ExternalPort, m.Protocol, upnp.Summary(stop.Err), unmapHint(m, stop.Method))
		}
		lines = append(lines, "interrupted: "+res.Detail)
	}
	if stop.Pinhole {
		closed, note := stop.PinholeClosed, stop.PinholeNote
		res.PinholeClosed, res.PinholeNote = &closed, &note
		switch {
		case note != "":
			lines = append(lines, "interrupted: IPv6 pinhole: "+note)
		default:
			lines = append(lines, "interrupted: closed the IPv6 pinhole it had opened")
		}
	}
	return res, lines
}

// mapStoppedJSON is, with --json, what an interrupted map did with what it
// had made: the shape of expose's "stopped" event. The {"error":
// "interrupted"} line follows it.
type mapStoppedJSON struct {
	Event         string  `json:"event"`
	Mapped        bool    `json:"mapped"`
	Deleted       bool    `json:"mapping_deleted"`
	Kept          bool    `json:"mapping_kept"`
	Detail        string  `json:"detail"`
	PinholeClosed *bool   `json:"pinhole_closed,omitempty"`
	PinholeNote   *string `json:"pinhole_note,omitempty"`
}
