package bench

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reach-net/reach/lab"
)

// The mapping every tool makes: pc's port 1234/tcp on the router's
// external 1234.
const (
	port        = "1234"
	externalAt  = "11.0.0.2:" + port // lab.RouterWAN (Public) : port
	leaseSecond = "3600"
)

// mapReport is the part of `reach map --json` a user checks.
type mapReport struct {
	Method       string `json:"method"`
	ExternalIP   string `json:"external_ip"`
	ExternalPort int    `json:"external_port"`
	InternalIP   string `json:"internal_ip"`
}

// checkMapJSON fails b unless r is a successful `reach map --json` of
// pc:1234 to the router's external 1234 by method.
func checkMapJSON(b *testing.B, r result, method string) {
	b.Helper()
	must(b, "reach map", r, 0)
	var m mapReport
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		b.Fatalf("reach map --json: %v\n%s", err, r)
	}
	if m.ExternalIP != "11.0.0.2" || m.ExternalPort != 1234 || m.InternalIP != lab.PCAddr || !strings.HasPrefix(m.Method, method) {
		b.Fatalf("reach map --json: want %s 11.0.0.2:1234 -> %s, got %+v", method, lab.PCAddr, m)
	}
}

// routerTable lists the router's port mappings (upnpc -l against the known
// description URL: no discovery wait) as the lines naming a mapping.
func routerTable(b *testing.B, l *lab.Lab) []string {
	b.Helper()
	r := run(b, l, nil, lab.PC, "upnpc", "-u", lab.RootDescURL, "-l")
	must(b, "upnpc -l", r, 0)
	var rows []string
	for _, line := range strings.Split(r.stdout, "\n") {
		// A mapping row: " 0 TCP  1234->192.168.1.10:1234 ...".
		if f := strings.Fields(line); len(f) >= 3 && (f[1] == "TCP" || f[1] == "UDP") && strings.Contains(f[2], "->") {
			rows = append(rows, strings.TrimSpace(line))
		}
	}
	return rows
}

// expectEmptyTable fails b when a mapping is left on the router: each tool's
// own delete must have removed what it made, so that the table does not
// grow and every run starts from the same router.
func expectEmptyTable(b *testing.B, l *lab.Lab) {
	b.Helper()
	if rows := routerTable(b, l); len(rows) > 0 {
		b.Fatalf("router table not empty after cleanup:\n%s", strings.Join(rows, "\n"))
	}
}

// BenchmarkMap measures adding one port mapping, the whole command from
// process start to exit, as a user runs it: reach map (with and without the
// remembered router, and forced onto NAT-PMP and PCP), upnpc -a (with SSDP
// discovery, and with the description URL given), natpmpc -a.
func BenchmarkMap(b *testing.B) {
	l := newLab(b, lab.Options{UPnP: true, NATPMP: true})
	cache := newCacheDir(b)
	env := cache.env()
	reachUnmap := func(b *testing.B, method string) {
		r := run(b, l, env, lab.PC, reachBin, "unmap", "--port", port, "--method", method)
		must(b, "reach unmap", r, 0)
	}

	b.Run("reach-cold", func(b *testing.B) {
		loop(b, func(t *timings) {
			cache.clear(b)
			r := t.measure(b, l, env, lab.PC, reachBin, "map", "--port", port, "--json")
			checkMapJSON(b, r, "upnp")
			reachUnmap(b, "upnp")
		})
		expectEmptyTable(b, l)
	})
	b.Run("reach-cached", func(b *testing.B) {
		cache.clear(b)
		checkMapJSON(b, run(b, l, env, lab.PC, reachBin, "map", "--port", port, "--json"), "upnp")
		reachUnmap(b, "upnp")
		loop(b, func(t *timings) {
			r := t.measure(b, l, env, lab.PC, reachBin, "map", "--port", port, "--json")
			checkMapJSON(b, r, "upnp")
			reachUnmap(b, "upnp")
		})
		expectEmptyTable(b, l)
	})
	for _, method := range []string{"nat-pmp", "pcp"} {
		b.Run("reach-"+strings.ReplaceAll(method, "-", ""), func(b *testing.B) {
			loop(b, func(t *timings) {
				cache.clear(b)
				r := t.measure(b, l, env, lab.PC, reachBin, "map", "--port", port, "--json", "--method", method)
				checkMapJSON(b, r, method)
				// PCP deletes only with the creator's nonce: reach keeps it
				// in the cache directory, which is cleared only before the
				// next map.
				reachUnmap(b, method)
			})
			expectEmptyTable(b, l)
		})
	}
	upnpcDelete := func(b *testing.B) {
		r := run(b, l, nil, lab.PC, "upnpc", "-u", lab.RootDescURL, "-d", port, "TCP")
		must(b, "upnpc -d", r, 0)
	}
	redirected := "external 11.0.0.2:" + port + " TCP is redirected to internal " + lab.PCAddr + ":" + port
	b.Run("upnpc-a", func(b *testing.B) {
		loop(b, func(t *timings) {
			r := t.measure(b, l, nil, lab.PC, "upnpc", "-a", lab.PCAddr, port, port, "TCP")
			must(b, "upnpc -a", r, 0, redirected)
			upnpcDelete(b)
		})
		expectEmptyTable(b, l)
	})
	b.Run("upnpc-u-a", func(b *testing.B) {
		loop(b, func(t *timings) {
			r := t.measure(b, l, nil, lab.PC, "upnpc", "-u", lab.RootDescURL, "-a", lab.PCAddr, port, port, "TCP")
			must(b, "upnpc -u -a", r, 0, redirected)
			upnpcDelete(b)
		})
		expectEmptyTable(b, l)
	})
	b.Run("natpmpc-a", func(b *testing.B) {
		loop(b, func(t *timings) {
			r := t.measure(b, l, nil, lab.PC, "natpmpc", "-g", lab.RouterLAN, "-a", port, port, "tcp", leaseSecond)
			must(b, "natpmpc -a", r, 0, "Mapped public port "+port+" protocol TCP to local port "+port)
			// Lifetime 0 deletes the mapping (RFC 6886 3.4).
			must(b, "natpmpc delete", run(b, l, nil, lab.PC, "natpmpc", "-g", lab.RouterLAN, "-a", port, port, "tcp", "0"), 0)
		})
		expectEmptyTable(b, l)
	})
}

// diagnoseReport is the part of `reach diagnose --json` a user checks.
type diagnoseReport struct {
	NAT      string            `json:"nat"`
	PublicIP string            `json:"public_ip"`
	Services []json.RawMessage `json:"services"`
}

func parseDiagnose(b *testing.B, r result) diagnoseReport {
	b.Helper()
	var d diagnoseReport
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		b.Fatalf("reach diagnose --json: %v\n%s", err, r)
	}
	return d
}

// BenchmarkDiagnose measures reach diagnose's full report (gateway, every
// mapping service, STUN, hops, verdict) on a router with UPnP, NAT-PMP and
// PCP; and the time to the verdict "no mapping service" on a router without
// any, next to upnpc -l, which waits out its discovery to say "No IGD".
func BenchmarkDiagnose(b *testing.B) {
	full := newLab(b, lab.Options{UPnP: true, NATPMP: true})
	none := newLab(b, lab.Options{NoService: true})
	cache := newCacheDir(b)
	diagnose := func(l *lab.Lab, wantNAT string, wantServices int) func(b *testing.B) {
		return func(b *testing.B) {
			loop(b, func(t *timings) {
				cache.clear(b)
				r := t.measure(b, l, cache.env(), lab.PC, reachBin, "diagnose", "--json", "--stun", lab.STUNServer)
				d := parseDiagnose(b, r)
				if d.NAT != wantNAT || d.PublicIP != "11.0.0.2" || len(d.Services) != wantServices {
					b.Fatalf("reach diagnose: want nat %s, public_ip 11.0.0.2, %d services, got %+v\n%s", wantNAT, wantServices, d, r)
				}
			})
		}
	}
	b.Run("reach", diagnose(full, "public", 3))
	b.Run("no-service", diagnose(none, "no-mapping-service", 0))
	b.Run("no-service-upnpc-l", func(b *testing.B) {
		loop(b, func(t *timings) {
			r := t.measure(b, none, nil, lab.PC, "upnpc", "-l")
			if !strings.Contains(r.stdout+r.stderr, "No IGD UPnP Device found") {
				b.Fatalf("upnpc -l: want \"No IGD UPnP Device found\", got:\n%s", r)
			}
		})
	})
}

// serveReadyTries bounds waiting for reach serve to listen before the
// check benchmark starts: it is up within milliseconds; 50 tries of a
// refused check (a few ms each, 100 ms apart) is seconds of slack on a
// loaded machine.
const (
	serveReadyTries = 50
	serveReadyPause = 100 * time.Millisecond
)

// BenchmarkCheck measures reach check from the internet host: dial the
// router's external address, send a probe through the mapping to reach
// serve on pc, read the echo.
func BenchmarkCheck(b *testing.B) {
	l := newLab(b, lab.Options{UPnP: true, NATPMP: true})
	env := newCacheDir(b).env()
	serve := l.Command(b.Context(), lab.PC, reachBin, "serve", "--port", port)
	if err := serve.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		serve.Process.Kill()
		serve.Wait()
	})
	checkMapJSON(b, run(b, l, env, lab.PC, reachBin, "map", "--port", port, "--json"), "upnp")
	b.Cleanup(func() { run(b, l, env, lab.PC, reachBin, "unmap", "--port", port) })
	for i := 0; ; i++ {
		r := run(b, l, nil, lab.Inet, reachBin, "check", externalAt, "--json")
		if r.code == 0 {
			break
		}
		if i == serveReadyTries {
			b.Fatalf("reach serve on pc never answered through the mapping:\n%s", r)
		}
		time.Sleep(serveReadyPause)
	}
	b.Run("reach", func(b *testing.B) {
		loop(b, func(t *timings) {
			r := t.measure(b, l, nil, lab.Inet, reachBin, "check", externalAt, "--json")
			must(b, "reach check", r, 0, `"verified"`)
		})
	})
}

// BenchmarkBaseline measures the cost of the harness itself: starting a
// process in the pc namespace with `ip netns exec`, which every number
// above includes.
func BenchmarkBaseline(b *testing.B) {
	l := newLab(b, lab.Options{UPnP: true, NATPMP: true})
	b.Run("netns-exec-true", func(b *testing.B) {
		loop(b, func(t *timings) {
			must(b, "true", t.measure(b, l, nil, lab.PC, "true"), 0)
		})
	})
	b.Run("reach-version", func(b *testing.B) {
		loop(b, func(t *timings) {
			must(b, "reach --version", t.measure(b, l, nil, lab.PC, reachBin, "--version"), 0)
		})
	})
}

// BenchmarkMapSteps splits reach map's wall time into its steps, from when
// each step's line appears on stderr: to-service (process start, gateway,
// discovery of UPnP IGD, PCP and NAT-PMP), to-map (the mapping request and
// its read-back), to-external (the external address), to-exit.
func BenchmarkMapSteps(b *testing.B) {
	l := newLab(b, lab.Options{UPnP: true, NATPMP: true})
	cache := newCacheDir(b)
	env := cache.env()
	for _, c := range []struct {
		name   string
		method string // --method; "" for none: every service probed, as a user runs it
		cached bool   // run with the router remembered
	}{
		{"reach-auto-cold", "", false},
		{"reach-auto-cached", "", true},
		{"reach-cold", "upnp", false},
		{"reach-cached", "upnp", true},
		{"reach-natpmp-cold", "nat-pmp", false},
		{"reach-natpmp-cached", "nat-pmp", true},
	} {
		b.Run(c.name, func(b *testing.B) {
			split := newStepSplits("gateway", "map", "external")
			cache.clear(b)
			if c.cached {
				checkMapJSON(b, run(b, l, env, lab.PC, reachBin, "map", "--port", port, "--json"), "upnp")
				must(b, "reach unmap", run(b, l, env, lab.PC, reachBin, "unmap", "--port", port), 0)
			}
			loop(b, func(t *timings) {
				if !c.cached {
					cache.clear(b)
				}
				args := []string{"map", "--port", port}
				unmap := []string{"unmap", "--port", port}
				if c.method != "" {
					args = append(args, "--method", c.method)
					unmap = append(unmap, "--method", c.method)
				}
				r, st := t.measureSteps(b, l, env, lab.PC, reachBin, args...)
				must(b, "reach map", r, 0, externalAt)
				split.add(b, st, r)
				must(b, "reach unmap", run(b, l, env, lab.PC, reachBin, unmap...), 0)
			})
			split.report(b)
			expectEmptyTable(b, l)
		})
	}
}

// BenchmarkDiscoverCached times upnp.Discover in-process (no process start)
// inside pc with the router remembered, as `reach map` does on a second
// run: with the SSDP search raced alongside the remembered description URL
// (what reach does), and without any search. miniupnpd serves SSDP and HTTP
// from one thread, so the search it is busy answering delays the
// description fetch; the difference is what staggering the search behind
// the remembered URL would save. The helper is this test binary, re-run in
// the namespace with helperEnv set.
func BenchmarkDiscoverCached(b *testing.B) {
	l := newLab(b, lab.Options{UPnP: true, NATPMP: true})
	cache := newCacheDir(b)
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	checkMapJSON(b, run(b, l, cache.env(), lab.PC, reachBin, "map", "--port", port, "--json"), "upnp")
	must(b, "reach unmap", run(b, l, cache.env(), lab.PC, reachBin, "unmap", "--port", port), 0)
	for _, mode := range []string{"ssdp-on", "ssdp-off"} {
		b.Run(mode, func(b *testing.B) {
			env := append(cache.env(), helperEnv+"="+mode)
			var inProcess timings
			loop(b, func(t *timings) {
				r := t.measure(b, l, env, lab.PC, self)
				must(b, "discover helper", r, 0, "igd=true pcp=true natpmp=true")
				us, err := strconv.Atoi(strings.Fields(r.stdout)[0])
				if err != nil {
					b.Fatalf("discover helper: %v\n%s", err, r)
				}
				inProcess = append(inProcess, time.Duration(us)*time.Microsecond)
			})
			b.ReportMetric(float64(inProcess.median())/float64(time.Millisecond), "discover-median-ms")
		})
	}
}

// BenchmarkUPnPOnly measures reach map (router remembered) and reach
// diagnose against the most common home router: UPnP IGD but no NAT-PMP or
// PCP. "refused": the router answers the NAT-PMP/PCP probes with ICMP port
// unreachable (the lab's router does: nothing listens on 5351). "silent":
// it drops them, as a router with a firewalled 5351 does. Either way the
// probes wait out their timeout before discovery ends, even though the IGD
// answered long before.
func BenchmarkUPnPOnly(b *testing.B) {
	l := newLab(b, lab.Options{UPnP: true})
	cache := newCacheDir(b)
	env := cache.env()
	checkMapJSON(b, run(b, l, env, lab.PC, reachBin, "map", "--port", port, "--json"), "upnp")
	must(b, "reach unmap", run(b, l, env, lab.PC, reachBin, "unmap", "--port", port), 0)
	mapOnce := func(b *testing.B, t *timings) {
		r := t.measure(b, l, env, lab.PC, reachBin, "map", "--port", port, "--json")
		checkMapJSON(b, r, "upnp")
		must(b, "reach unmap", run(b, l, env, lab.PC, reachBin, "unmap", "--port", port), 0)
	}
	diagnoseOnce := func(b *testing.B, t *timings) {
		r := t.measure(b, l, env, lab.PC, reachBin, "diagnose", "--json", "--stun", lab.STUNServer)
		must(b, "reach diagnose", r, 0)
		if d := parseDiagnose(b, r); d.NAT != "public" || len(d.Services) != 1 {
			b.Fatalf("reach diagnose: want nat public and 1 service, got %+v\n%s", d, r)
		}
	}
	b.Run("map-refused", func(b *testing.B) { loop(b, func(t *timings) { mapOnce(b, t) }) })
	b.Run("diagnose-refused", func(b *testing.B) { loop(b, func(t *timings) { diagnoseOnce(b, t) }) })
	// From here on the router drops what comes to the NAT-PMP/PCP port: a
	// table of its own in the lab router's namespace.
	nft := run(b, l, nil, lab.Router, "nft", "add table inet benchdrop; "+
		"add chain inet benchdrop input { type filter hook input priority -10; policy accept; }; "+
		"add rule inet benchdrop input udp dport 5351 drop")
	must(b, "nft drop 5351", nft, 0)
	b.Run("map-silent", func(b *testing.B) { loop(b, func(t *timings) { mapOnce(b, t) }) })
	b.Run("diagnose-silent", func(b *testing.B) { loop(b, func(t *timings) { diagnoseOnce(b, t) }) })
	expectEmptyTable(b, l)
}
