package bench

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/reach-net/reach/upnp"
)

// helperEnv, when set in the environment of this test binary, makes it run
// one upnp.Discover instead of the benchmarks (see runDiscoverHelper). The
// benchmarks start it inside the lab's pc namespace to time discovery
// in-process, with settings the reach CLI does not expose.
const helperEnv = "REACH_BENCH_HELPER"

// helperTimeout bounds the helper's discovery, like reach's --timeout.
const helperTimeout = 5 * time.Second

// runDiscoverHelper runs upnp.Discover with the user cache of the
// environment (XDG_CACHE_HOME) and prints how long it took in milliseconds
// and which services answered. mode "ssdp-off" sends no SSDP search
// (unicast to the closed discard port, no multicast): discovery then rests
// on the remembered description URL alone.
func runDiscoverHelper(mode string) int {
	cfg := upnp.Config{}
	switch mode {
	case "ssdp-on":
	case "ssdp-off":
		cfg.SSDPPort = 9
		cfg.Multicast = "off"
	default:
		fmt.Fprintf(os.Stderr, "%s: unknown mode %q\n", helperEnv, mode)
		return 2
	}
	upnp.SilenceLibraryLogs()
	ctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
	defer cancel()
	start := time.Now()
	d, err := upnp.Discover(ctx, cfg)
	took := time.Since(start)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if d.IGD == nil {
		fmt.Fprintf(os.Stderr, "no IGD: %v\n", d.Errors[upnp.MethodUPnP])
		return 1
	}
	fmt.Printf("%d igd=%t pcp=%t natpmp=%t\n", took.Microseconds(), d.IGD != nil, d.PCP != nil, d.NATPMP != nil)
	return 0
}
