package bench

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reach-net/reach/lab"
)

// ssdpFirstMode, as the value of helperEnv, makes this test binary send one
// M-SEARCH for an IGDv2 unicast to the lab's router and print how long its
// first answer took, in microseconds: the part of the floor that is the
// router's own wait before it answers a search.
const ssdpFirstMode = "ssdp-first"

// runSSDPFirst is the ssdp-first helper: the same request reach sends
// first, from a socket of its own, timed from the send to the first answer.
func runSSDPFirst() int {
	c, err := net.ListenUDP("udp4", nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	dst := &net.UDPAddr{IP: net.ParseIP(lab.RouterLAN), Port: 1900}
	req := "M-SEARCH * HTTP/1.1\r\nHOST: " + dst.String() + "\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\n" +
		"ST: urn:schemas-upnp-org:device:InternetGatewayDevice:2\r\n\r\n"
	if err := c.SetReadDeadline(time.Now().Add(helperTimeout)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	start := time.Now()
	if _, err := c.WriteToUDP([]byte(req), dst); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	buf := make([]byte, 2048)
	n, _, err := c.ReadFromUDP(buf)
	took := time.Since(start)
	if err != nil {
		fmt.Fprintln(os.Stderr, "no SSDP answer:", err)
		return 1
	}
	if !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") {
		fmt.Fprintf(os.Stderr, "not an SSDP answer: %q\n", buf[:n])
		return 1
	}
	fmt.Println(took.Microseconds())
	return 0
}

// BenchmarkMapFloor measures, in one run and taking turns, a cold reach map
// and what the router itself takes for any cold mapping, part by part:
//
//   - ssdp: one M-SEARCH to its first answer (miniupnpd waits before it
//     answers), in-process in the pc namespace;
//   - soap: `upnpc -u URL -a` (the description, the external address, the
//     add and its read-back, by a C client given the URL) less the cost of
//     starting any process there (`ip netns exec pc true`);
//   - start: `reach --version`, starting reach itself.
//
// floor-ms is the sum of their medians, and reach/floor the ratio of the
// cold reach map's median to it.
func BenchmarkMapFloor(b *testing.B) {
	l := newLab(b, lab.Options{UPnP: true, NATPMP: true})
	cache := newCacheDir(b)
	env := cache.env()
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	var ssdp, harness, soap, start, reach timings
	loop(b, func(*timings) {
		r := run(b, l, append(os.Environ(), helperEnv+"="+ssdpFirstMode), lab.PC, self)
		must(b, "ssdp-first helper", r, 0)
		us, err := strconv.Atoi(strings.TrimSpace(r.stdout))
		if err != nil {
			b.Fatalf("ssdp-first helper: %v\n%s", err, r)
		}
		ssdp = append(ssdp, time.Duration(us)*time.Microsecond)

		must(b, "true", harness.measure(b, l, nil, lab.PC, "true"), 0)
		must(b, "reach --version", start.measure(b, l, nil, lab.PC, reachBin, "--version"), 0)

		r = soap.measure(b, l, nil, lab.PC, "upnpc", "-u", lab.RootDescURL, "-a", lab.PCAddr, port, port, "TCP")
		must(b, "upnpc -u -a", r, 0, "is redirected to internal "+lab.PCAddr+":"+port)
		must(b, "upnpc -d", run(b, l, nil, lab.PC, "upnpc", "-u", lab.RootDescURL, "-d", port, "TCP"), 0)

		cache.clear(b)
		must(b, "reach map", reach.measure(b, l, env, lab.PC, reachBin, "map", "--port", port), 0, externalAt)
		must(b, "reach unmap", run(b, l, env, lab.PC, reachBin, "unmap", "--port", port), 0)
	})
	reach.report(b) // min, median and max of the reach maps, as every map benchmark gives
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	floor := ssdp.median() + soap.median() - harness.median() + start.median()
	b.ReportMetric(ms(ssdp.median()), "ssdp-ms")
	b.ReportMetric(ms(soap.median()-harness.median()), "soap-ms")
	b.ReportMetric(ms(start.median()), "start-ms")
	b.ReportMetric(ms(floor), "floor-ms")
	b.ReportMetric(float64(reach.median())/float64(floor), "reach/floor")
	expectEmptyTable(b, l)
}
