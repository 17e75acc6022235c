//go:build linux

package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The helper half of TestHopsNetns: run inside the lan namespace, it
// prints the hops as JSON.
const hopsHelperEnv = "REACH_HOPS_HELPER_TARGET"

func TestHopsNetnsHelper(t *testing.T) {
	target := os.Getenv(hopsHelperEnv)
	if target == "" {
		t.Skip("helper of TestHopsNetns; runs only inside its namespace")
	}
	hops, err := Hops(t.Context(), netip.MustParseAddrPort(target), 3)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(hops)
	fmt.Printf("HOPS %s\n", b)
}

// TestHopsNetns builds lan -> router (192.168.77.1) -> carrier NAT
// (100.64.77.1) -> target (11.77.0.2) in network namespaces linked to
// nothing else, and reads the hops from the lan host. Needs root.
func TestHopsNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("TestHopsNetns needs root in CI (it builds network namespaces)")
		}
		t.Skip("needs root to build network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	prefix := fmt.Sprintf("rh%d", os.Getpid()%100000)
	lan, r1, r2, tgt := prefix+"lan", prefix+"r1", prefix+"r2", prefix+"tg"
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range []string{lan, r1, r2, tgt} {
		run("netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		run("-n", ns, "link", "set", "lo", "up")
	}
	link := func(a, aIf, aAddr, b, bIf, bAddr string) {
		run("link", "add", aIf, "netns", a, "type", "veth", "peer", "name", bIf, "netns", b)
		run("-n", a, "addr", "add", aAddr, "dev", aIf)
		run("-n", b, "addr", "add", bAddr, "dev", bIf)
		run("-n", a, "link", "set", aIf, "up")
		run("-n", b, "link", "set", bIf, "up")
	}
	link(lan, "eth0", "192.168.77.10/24", r1, "lan0", "192.168.77.1/24")
	link(r1, "wan0", "100.64.77.2/24", r2, "cpe0", "100.64.77.1/24")
	link(r2, "up0", "11.77.0.1/24", tgt, "eth0", "11.77.0.2/24")
	run("-n", lan, "route", "add", "default", "via", "192.168.77.1")
	run("-n", r1, "route", "add", "default", "via", "100.64.77.1")
	run("-n", r2, "route", "add", "192.168.77.0/24", "via", "100.64.77.2")
	run("-n", tgt, "route", "add", "default", "via", "11.77.0.1")
	for _, ns := range []string{r1, r2} {
		run("netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	}

	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", lan, os.Args[0], "-test.run=^TestHopsNetnsHelper$", "-test.v")
	cmd.Env = append(os.Environ(), hopsHelperEnv+"=11.77.0.2:3478")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper in %s: %v\n%s", lan, err, out)
	}
	_, js, ok := strings.Cut(string(out), "HOPS ")
	if !ok {
		t.Fatalf("helper printed no hops:\n%s", out)
	}
	js, _, _ = strings.Cut(js, "\n")
	var hops []Hop
	if err := json.Unmarshal([]byte(js), &hops); err != nil {
		t.Fatalf("helper output %q: %v", js, err)
	}
	want := []Hop{
		{TTL: 1, Addr: netip.MustParseAddr("192.168.77.1")},
		{TTL: 2, Addr: netip.MustParseAddr("100.64.77.1")},
		{TTL: 3, Addr: netip.MustParseAddr("11.77.0.2"), Target: true},
	}
	if len(hops) != len(want) {
		t.Fatalf("hops %+v, want %+v", hops, want)
	}
	for i := range want {
		if hops[i].TTL != want[i].TTL || hops[i].Addr != want[i].Addr || hops[i].Target != want[i].Target {
			t.Errorf("hop %d = %+v, want %+v", i+1, hops[i], want[i])
		}
	}
	// The verdict a user would get from this path: carrier-grade NAT.
	d := Decide(Evidence{Gateway: netip.MustParseAddr("192.168.77.1"), LocalIP: netip.MustParseAddr("192.168.77.10"), Hops: hops})
	if d.NAT != NATCGNAT {
		t.Errorf("verdict %q on a path through 100.64.77.1, want %q: %v", d.NAT, NATCGNAT, d.Evidence)
	}
}
