package upnp

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// ServiceState is what one service on the router says about itself: its
// identity, its view of the WAN link and its external address.
type ServiceState struct {
	Method Method
	// Version, ControlURL and Server describe a UPnP IGD; empty otherwise.
	Version, ControlURL, Server string
	// Status is the IGD's WAN connection status ("Connected"); empty if
	// unknown.
	Status string
	// External is the external address it reports; zero if none.
	External netip.Addr
	// Err is why the external address is unknown, or the protocol error
	// the service answered discovery with (NAT-PMP result 3).
	Err error
}

// Describe asks every service of r for its state, all at once, each
// within timeout.
func Describe(ctx context.Context, r *Router, timeout time.Duration) []ServiceState {
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
				if cs, err := igd.ConnectionStatus(sctx); err == nil {
					st.Status = cs.Status
				}
			}
			st.External, st.Err = m.ExternalAddr(sctx)
			if st.Err == nil {
				st.Err = r.Answers[m.Method().Fam()]
			}
			out[i] = st
		}()
	}
	wg.Wait()
	return out
}
