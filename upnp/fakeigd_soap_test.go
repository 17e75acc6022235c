package upnp

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// The SOAP control side of fakeIGD: the actions reach uses, on an
// in-memory table, with miniupnpd's fault codes.

// soapArgs reads the in-arguments of a SOAP request: the text of every
// element, by local name (UPnP argument names are unique per action).
func soapArgs(r io.Reader) (map[string]string, error) {
	dec := xml.NewDecoder(r)
	args := map[string]string{}
	cur := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return args, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			cur = t.Name.Local
		case xml.CharData:
			if cur != "" {
				args[cur] += string(t)
			}
		case xml.EndElement:
			cur = ""
		}
	}
}

func (f *fakeIGD) serveControl(w http.ResponseWriter, r *http.Request) {
	soapAction := strings.Trim(r.Header.Get("SOAPACTION"), `"`)
	ns, action, ok := strings.Cut(soapAction, "#")
	if r.URL.Path == "/ctl/IPDown" { // dual: the disconnected IP connection
		f.mu.Lock()
		defer f.mu.Unlock()
		f.actions["IPDown "+action]++
		if action == "GetStatusInfo" && ns == "urn:schemas-upnp-org:service:WANIPConnection:1" {
			f.reply(w, action, "NewConnectionStatus", "Disconnected", "NewLastConnectionError", "ERROR_NO_CARRIER", "NewUptime", "0")
			return
		}
		f.fault(w, 501, "ActionFailed")
		return
	}
	if r.Method != http.MethodPost || !ok || ns != f.serviceType() {
		f.fault(w, 401, "Invalid Action")
		return
	}
	args, err := soapArgs(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		f.fault(w, 402, "Invalid Args")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.actions[action]++
	if q := f.faults[action]; len(q) > 0 {
		f.faults[action] = q[1:]
		f.fault(w, q[0], "Injected")
		return
	}
	find := func(proto, ext string) int {
		for i, e := range f.table {
			if e.proto == proto && strconv.Itoa(int(e.ext)) == ext {
				return i
			}
		}
		return -1
	}
	switch action {
	case "GetExternalIPAddress":
		f.reply(w, action, "NewExternalIPAddress", f.externalIP)
	case "GetStatusInfo":
		f.reply(w, action, "NewConnectionStatus", "Connected", "NewLastConnectionError", "ERROR_NONE", "NewUptime", "4242")
	case "AddPortMapping":
		ext, _ := strconv.Atoi(args["NewExternalPort"])
		in, _ := strconv.Atoi(args["NewInternalPort"])
		lease, _ := strconv.Atoi(args["NewLeaseDuration"])
		q := f.quirks
		switch {
		case q.bareFault == "fault":
			w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Server</faultcode><faultstring>Internal Error</faultstring></s:Fault></s:Body></s:Envelope>`)
			return
		case q.bareFault == "http500":
			w.WriteHeader(http.StatusInternalServerError)
			return
		case q.upperCaseOnly && args["NewProtocol"] != "TCP" && args["NewProtocol"] != "UDP":
			f.fault(w, 402, "Invalid Args")
			return
		case q.leaseArgs && lease != 0:
			f.fault(w, 402, "Invalid Args")
			return
		case f.onlyPermanent && lease != 0:
			f.fault(w, 725, "OnlyPermanentLeasesSupported")
			return
		case f.samePortOnly && ext != in:
			f.fault(w, 724, "SamePortValuesRequired")
			return
		}
		e := fakeEntry{proto: args["NewProtocol"], ext: uint16(ext), intern: uint16(in), client: args["NewInternalClient"],
			desc: args["NewPortMappingDescription"], lease: uint32(lease)}
		if i := find(e.proto, args["NewExternalPort"]); i >= 0 {
			if f.table[i].client != e.client {
				f.fault(w, 718, "ConflictInMappingEntry")
				return
			}
			if q.rewriteOnRefresh {
				e.intern = e.ext
			}
			f.table[i] = e
		} else {
			f.table = append(f.table, e)
		}
		f.reply(w, action)
	case "DeletePortMapping":
		i := find(args["NewProtocol"], args["NewExternalPort"])
		if i < 0 {
			f.fault(w, 714, "NoSuchEntryInArray")
			return
		}
		f.table = append(f.table[:i], f.table[i+1:]...)
		f.reply(w, action)
	case "GetSpecificPortMappingEntry":
		i := find(args["NewProtocol"], args["NewExternalPort"])
		if i < 0 {
			f.fault(w, 714, "NoSuchEntryInArray")
			return
		}
		e := f.table[i]
		f.reply(w, action, "NewInternalPort", strconv.Itoa(int(e.intern)), "NewInternalClient", e.client,
			"NewEnabled", "1", "NewPortMappingDescription", e.desc, "NewLeaseDuration", strconv.Itoa(int(f.reportedLease(e))))
	case "GetGenericPortMappingEntry":
		i, err := strconv.Atoi(args["NewPortMappingIndex"])
		if err != nil || i < 0 || i >= len(f.table) {
			f.fault(w, 713, "SpecifiedArrayIndexInvalid")
			return
		}
		e := f.table[i]
		f.reply(w, action, "NewRemoteHost", "", "NewExternalPort", strconv.Itoa(int(e.ext)), "NewProtocol", e.proto,
			"NewInternalPort", strconv.Itoa(int(e.intern)), "NewInternalClient", e.client, "NewEnabled", "1",
			"NewPortMappingDescription", e.desc, "NewLeaseDuration", strconv.Itoa(int(e.lease)))
	default:
		f.fault(w, 401, "Invalid Action")
	}
}

// reply writes a SOAP response with out-arguments given as name, value
// pairs; names listed in omitFields[action] are left out. Caller holds mu.
func (f *fakeIGD) reply(w http.ResponseWriter, action string, kv ...string) {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if f.omitFields[action][kv[i]] {
			continue
		}
		fmt.Fprintf(&b, "<%s>", kv[i])
		xml.EscapeText(&b, []byte(kv[i+1]))
		fmt.Fprintf(&b, "</%s>", kv[i])
	}
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	fmt.Fprintf(w, `<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:%[1]sResponse xmlns:u="%[2]s">%[3]s</u:%[1]sResponse></s:Body></s:Envelope>`,
		action, f.serviceType(), b.String())
}

// fault writes a UPnP error the way miniupnpd does: HTTP 500, SOAP Fault.
func (f *fakeIGD) fault(w http.ResponseWriter, code int, desc string) {
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, `<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>%d</errorCode><errorDescription>%s</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`,
		code, desc)
}

// reportedLease is the lease the fake tells about e.
func (f *fakeIGD) reportedLease(e fakeEntry) uint32 {
	if f.hidesLeases {
		return 0
	}
	return e.lease
}
