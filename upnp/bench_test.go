package upnp

import (
	"context"
	"testing"
	"time"
)

// BenchmarkDiscoverAndMap measures what `reach map` costs against a LAN
// router, minus the network: discovery (cold: SSDP then the description;
// cached: the remembered description raced against SSDP), one AddPortMapping
// with its read-back, and the delete.
func BenchmarkDiscoverAndMap(b *testing.B) {
	for _, mode := range []string{"cold", "cached"} {
		b.Run(mode, func(b *testing.B) {
			f := newFakeIGD(b, "v2")
			cfg := f.config()
			cfg.Logf = nil
			if mode == "cold" {
				cfg.CacheDir = "off"
			} else if _, _, err := discoverIGD(context.Background(), cfg, cfg.Gateway, igdLocal); err != nil {
				b.Fatal(err)
			}
			m := Mapping{Protocol: TCP, InternalPort: 1234, Lease: time.Hour}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				igd, _, err := discoverIGD(context.Background(), cfg, cfg.Gateway, igdLocal)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := igd.Add(context.Background(), m); err != nil {
					b.Fatal(err)
				}
				if err := igd.Delete(context.Background(), m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
