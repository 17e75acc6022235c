package main

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/reach-net/reach/probe"
)

// check --via hands an IPv6 target to the relay as it is (it once refused
// every target but IPv4), and a relay without IPv6 gives no verdict on
// the target, only what to do about the relay.
func TestCheckViaIPv6Target(t *testing.T) {
	var asked []netip.AddrPort
	d := offlineDeps(t)
	d.CheckVia = func(_ context.Context, srv probe.TURNServer, target netip.AddrPort, proto string, _ probe.ViaConfig) probe.ViaResult {
		asked = append(asked, target)
		return probe.ViaResult{Relay: srv.String(), Target: target, Proto: proto, Failure: probe.ViaFamilyUnsupported, Code: 440,
			Detail: "the TURN server 127.0.0.1:3478 has no IPv6 relay address for [2001:db8:1::10]:1234 (440 Address Family not Supported)",
			Cause:  "the relay relays IPv4 only"}
	}
	relay := "turn:reach:secret@127.0.0.1:3478" // never dialed: CheckVia is a fake
	r := runCLI(context.Background(), d, "check", "--json", "--proto", "udp", "--via", relay, "[2001:db8:1::10]:1234")
	want := netip.MustParseAddrPort("[2001:db8:1::10]:1234")
	if len(asked) != 1 || asked[0] != want {
		t.Fatalf("the relay was asked to reach %v, want [%s]", asked, want)
	}
	var e struct {
		Verdict string `json:"verdict"`
		Error   string `json:"error"`
		Exit    int    `json:"exit"`
	}
	if err := json.Unmarshal([]byte(r.out.String()), &e); err != nil {
		t.Fatalf("output %q: %v", r.out, err)
	}
	if r.code != exitNo || e.Verdict != "" || !strings.Contains(e.Error, "no verdict on [2001:db8:1::10]:1234") ||
		!strings.Contains(e.Error, "no IPv6 relay address") || !strings.Contains(e.Error, "RFC 6156") {
		t.Errorf("exit %d, %+v; want exit 1, no verdict, the relay's missing IPv6 and what to do", r.code, e)
	}
}

func TestViaTargetAddr(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		addrs []netip.Addr
		want  netip.Addr
	}{
		{[]netip.Addr{a("2001:db8::1"), a("11.0.0.2")}, a("11.0.0.2")},
		{[]netip.Addr{a("::ffff:11.0.0.2")}, a("11.0.0.2")},
		{[]netip.Addr{a("2001:db8::1"), a("2001:db8::2")}, a("2001:db8::1")}, // a name with IPv6 only
	} {
		if got := viaTargetAddr(tc.addrs); got != tc.want {
			t.Errorf("viaTargetAddr(%v) = %s, want %s", tc.addrs, got, tc.want)
		}
	}
}

// A UDP probe from the relay that got no answer is silence, not "something
// answers": the next step says what proves the path instead. A TCP
// program that accepts without echoing still answers.
func TestCheckViaNoEchoHint(t *testing.T) {
	for _, tc := range []struct {
		proto   string
		verdict probe.Verdict
		want    string
		wantNot string
	}{
		{"udp", probe.NoAnswer, "reach serve --proto udp", "something answers"},
		{"tcp", probe.Open, "something answers", "proves nothing"},
	} {
		d := offlineDeps(t)
		d.CheckVia = func(_ context.Context, srv probe.TURNServer, target netip.AddrPort, proto string, _ probe.ViaConfig) probe.ViaResult {
			return probe.ViaResult{Relay: srv.String(), Target: target, Proto: proto, Failure: probe.ViaNoEcho, Verdict: tc.verdict, Detail: "no echo"}
		}
		r := runCLI(context.Background(), d, "check", "--json", "--proto", tc.proto, "--via", "turn:reach:secret@127.0.0.1:3478", "11.0.0.2:1234")
		var e struct {
			Verdict string `json:"verdict"`
			Next    string `json:"next"`
		}
		if err := json.Unmarshal([]byte(r.out.String()), &e); err != nil {
			t.Fatalf("%s: output %q: %v", tc.proto, r.out, err)
		}
		if e.Verdict != string(tc.verdict) || !strings.Contains(e.Next, tc.want) || strings.Contains(e.Next, tc.wantNot) {
			t.Errorf("%s: verdict %q, next %q; want %s and a next step with %q, without %q", tc.proto, e.Verdict, e.Next, tc.verdict, tc.want, tc.wantNot)
		}
	}
}
