package upnp

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// ServiceState is what one service on the router says about itself: its
// identity, its view of the WAN link and its external address. For a UPnP
// IGD it also carries what a report about an unknown router needs to
// become a known one: the headers, the description's identity and every
// service it lists, and what reach worked around.
type ServiceState struct {
	Method Method
	// Version, ControlURL and Server describe a UPnP IGD; empty otherwise.
	// Server is the HTTP Server header of the description.
	Version, ControlURL, Server string
	// SSDPServer is the SERVER header of the SSDP answer; empty for other
	// services, or when the remembered description URL was used.
	SSDPServer string
	// Location is the description URL used; AnnouncedLocation the one the
	// router announced, when that named another address of its own and
	// reach asked the gateway instead (empty otherwise).
	Location, AnnouncedLocation string
	// Identity is what the description says about the device (type,
	// friendly name, manufacturer, model) and the services it lists; zero
	// for other services.
	Identity Identity
	// Status is the IGD's WAN connection status ("Connected"); empty if
	// unknown. StatusErr is why it is unknown, if the router was asked.
	Status    string
	StatusErr error
	// External is the external address it reports; zero if none. An
	// address that cannot be public (0.0.0.0, loopback) is reported as
	// the unspecified address, and ReportedExternal is then what the
	// router said; ReportedExternal is empty otherwise.
	External         netip.Addr
	ReportedExternal string
	// Quirks lists what reach worked around on this service so far, in
	// plain words (UPnP IGD only).
	Quirks []string
	// Err is why the external address is unknown, or the protocol error
	// the service answered discovery with (NAT-PMP result 3).
	Err error
}

// Describe asks every service of r for its state, all at once, each
// within timeout. A router still being probed is settled first.
func Describe(ctx context.Context, r *Router, timeout time.Duration) []ServiceState {
	r.Settle()
	out := make([]ServiceState, len(r.Services))
	var wg sync.WaitGroup
	for i, m := range r.Services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			st := ServiceState{Method: m.Method()}
			if igd, ok := m.(*IGD); ok {
				st.Version, st.ControlURL, st.Server = igd.ServiceType(), igd.ControlURL().String(), igd.Server()
				st.SSDPServer, st.Location, st.AnnouncedLocation = igd.SSDPServer(), igd.Location().String(), igd.AnnouncedLocation()
				st.Identity = igd.Identity()
				if cs, err := igd.ConnectionStatus(sctx); err == nil {
					st.Status = cs.Status
				} else {
					st.StatusErr = err
				}
				st.External, st.ReportedExternal, st.Err = igd.externalAddr(sctx)
				st.Quirks = igd.Quirks()
			} else {
				st.External, st.Err = m.ExternalAddr(sctx)
			}
			if st.Err == nil {
				st.Err = r.Answers[m.Method().Fam()]
			}
			out[i] = st
		}()
	}
	wg.Wait()
	return out
}
