package upnp

import (
	"net/http"
	"net/netip"
	"time"
)

// Config says where to look for the router and how. The zero value looks
// for the real default gateway on the standard ports.
type Config struct {
	// Gateway is the router to talk to; zero means the default gateway.
	Gateway netip.Addr
	// LocalIP is this host's LAN address; zero means the address the kernel
	// uses to reach Gateway.
	LocalIP netip.Addr

	// SSDPPort is the UDP port unicast M-SEARCH goes to on the gateway; zero
	// means 1900. Tests point it at a fake on 127.0.0.1.
	SSDPPort int
	// Multicast is the SSDP multicast group address; empty means
	// 239.255.255.250:1900, "off" sends unicast only (unit tests: no
	// multicast may leave the root namespace).
	Multicast string
	// NATPMPPort is the UDP port of NAT-PMP and PCP on the gateway; zero
	// means 5351.
	NATPMPPort int

	// Only limits discovery to one protocol family, by its name (any
	// spelling ParseFamily reads, e.g. string(FamilyPCP)); empty or "auto"
	// probes all three.
	Only string
	// AllServices waits for every service to answer or time out even when
	// the IGD answered first (diagnose lists them all); false lets
	// Discover return soon after the IGD answered.
	AllServices bool
	// IGDFirst lets FindRouter return as soon as the IGD answered, with
	// the PCP and NAT-PMP probes still running (see Router.Settle): a
	// mapping starts on the IGD while they end. Ignored with AllServices.
	IGDFirst bool

	// CacheDir holds the remembered router description URLs; empty means
	// the user's cache directory + "/reach", "off" disables the cache.
	CacheDir string

	// HTTPClient overrides the hardened client used for all UPnP HTTP; nil
	// means the package's own (short timeouts, capped bodies, no redirects).
	HTTPClient *http.Client

	// Logf reports what was ignored and why (a device off the LAN, a bad
	// reply). Nil means silent.
	Logf func(format string, args ...any)

	// Waits of discovery (and lookupFresh) that tests replace; zero means
	// the package constant of the same name.
	cachedHeadStart time.Duration
	igdGrace        time.Duration
	ssdpTimeout     time.Duration
	probeTimeout    time.Duration // pmpProbeTimeout, and portProbeTimeout around it
	descTimeout     time.Duration // descriptionTimeout
	lookupFresh     time.Duration // how long Holds' answer stands in for Add's look-up
}

func (c *Config) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// only is the family Only names; FamilyAuto for none or an unknown name.
func (c *Config) only() Family {
	f, _ := ParseFamily(c.Only)
	return f
}

// wants reports whether discovery should probe for m.
func (c *Config) wants(m Method) bool {
	f := c.only()
	return f == FamilyAuto || m.Fam() == f
}

// orDefault is d, or def when d is zero.
func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
