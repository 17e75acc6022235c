package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reach-net/reach/frame"
	"github.com/reach-net/reach/probe"
	"github.com/reach-net/reach/upnp"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cli runs one reach command line in-process with buffers.
type cliRun struct {
	out, err *syncBuffer
	code     int
}

func runCLI(ctx context.Context, d *deps, args ...string) cliRun {
	r := cliRun{out: &syncBuffer{}, err: &syncBuffer{}}
	ios := &IOStreams{Out: r.out, ErrOut: r.err}
	r.code = execute(ctx, ios, d, args)
	return r
}

// offlineDeps are the real dependencies for commands that only touch
// loopback (serve, send, check), with every router and path look-up
// failing the test: a unit test must never send SSDP, NAT-PMP, PCP or STUN
// from this machine's real network.
func offlineDeps(t *testing.T) *deps {
	d := defaultDeps()
	d.Ledger = nil
	d.FindIPv6 = func(context.Context) (probe.IPv6Info, error) {
		t.Error("IPv6 look-up in an offline test")
		return probe.IPv6Info{}, probe.ErrNoIPv6Route
	}
	d.FindRouter = func(context.Context, upnp.Config) (*upnp.Router, error) {
		t.Error("router discovery in an offline test")
		return nil, errors.New("offline test")
	}
	d.FindGateway = func(context.Context, upnp.Config) (netip.Addr, netip.Addr, error) {
		t.Error("gateway look-up in an offline test")
		return netip.Addr{}, netip.Addr{}, errors.New("offline test")
	}
	d.PublicAddr = func(context.Context, []string) (probe.STUNResult, error) {
		t.Error("STUN in an offline test")
		return probe.STUNResult{}, errors.New("offline test")
	}
	d.Hops = func(context.Context, netip.AddrPort, int) ([]probe.Hop, error) {
		t.Error("hop probes in an offline test")
		return nil, errors.New("offline test")
	}
	return d
}

// freePort finds a loopback port nobody listens on.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startServe runs `reach serve` on a free loopback port until the test ends.
func startServe(t *testing.T, extra ...string) (addr string, out *syncBuffer) {
	t.Helper()
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan cliRun, 1)
	args := append([]string{"serve", "--bind", "127.0.0.1", "--port", strconv.Itoa(port)}, extra...)
	r := cliRun{out: &syncBuffer{}, err: &syncBuffer{}}
	go func() {
		r.code = execute(ctx, &IOStreams{Out: r.out, ErrOut: r.err}, offlineDeps(t), args)
		done <- r
	}()
	t.Cleanup(func() {
		cancel()
		if got := <-done; got.code != exitOK {
			t.Errorf("serve exited %d after Ctrl-C, want 0; stderr: %s", got.code, got.err)
		}
	})
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	waitListening(t, addr)
	return addr, r.out
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	for i := 0; i < 200; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

func TestUsageErrorsExit2(t *testing.T) {
	cases := [][]string{
		{"serve", "--port", "0"},
		{"serve", "--port", "70000"},
		{"check", "host"},
		{"check", "example.net:0"},
		{"check", ":1234"},
		{"check", "127.0.0.1:1234", "--count", "0"},
		{"check"},
		{"send", "127.0.0.1:1234"},
		{"send", "hostonly", "hi"},
		{"map"},
		{"map", "--port", "1234", "--proto", "sctp"},
		{"expose", "--port", "65536"},
		{"expose", "--port", "1234", "--gateway", "not-an-ip"},
		{"expose", "--port", "1234", "--method", "carrier-pigeon"},
		{"expose", "--port", "1234", "--stun", "off", "--stun", "x:1"},
		{"unmap", "--port", "-1"},
		{"diagnose", "--stun", "host:99999"},
		{"bogus"},
		{"serve", "--no-such-flag"},
		{"serve", "--message-bytes", "-1"},
		{"expose", "--port", "1234", "--message-bytes", "-5"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := runCLI(context.Background(), offlineDeps(t), args...)
			if r.code != exitUsage {
				t.Fatalf("exit %d, want 2; stderr: %s", r.code, r.err)
			}
			if !strings.Contains(r.err.String(), "reach: ") {
				t.Errorf("stderr has no error line: %q", r.err)
			}
		})
	}
}

func TestHelpShowsAnExampleForEveryCommand(t *testing.T) {
	root := newRootCmd(&IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}, offlineDeps(t))
	for _, c := range root.Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		if !strings.Contains(c.Example, "reach "+c.Name()) {
			t.Errorf("%s --help has no example of itself", c.Name())
		}
	}
	r := runCLI(context.Background(), offlineDeps(t), "--version")
	if r.code != 0 || !strings.Contains(r.out.String(), "reach version") {
		t.Errorf("--version: exit %d, out %q", r.code, r.out)
	}
}

func TestCheckAgainstServeIsVerified(t *testing.T) {
	addr, log := startServe(t)
	r := runCLI(context.Background(), offlineDeps(t), "check", addr, "--count", "3")
	if r.code != exitOK {
		t.Fatalf("exit %d, want 0; out %s err %s", r.code, r.out, r.err)
	}
	if !strings.Contains(r.out.String(), "verified") || !strings.Contains(r.out.String(), "over 3 probes") {
		t.Errorf("check output lacks the verdict and RTTs: %q", r.out)
	}
	waitFor(t, func() bool { return strings.Contains(log.String(), "reach probe, echoed") }, "serve logs the probe")
	if !strings.Contains(r.err.String(), "loopback address: it proves the server runs, nothing about the internet") {
		t.Errorf("a verified loopback check does not say it proves nothing about the internet: %s", r.err)
	}
}

// A refused check of a loopback port says the address is local, and never
// that it proves the server runs.
func TestRefusedLoopbackCheckProvesNothing(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	r := runCLI(context.Background(), offlineDeps(t), "check", "--proto", "udp", addr)
	if r.code != exitNo || !strings.Contains(r.out.String(), "refused") {
		t.Fatalf("check of a closed UDP port: exit %d, out %q", r.code, r.out)
	}
	if all := r.out.String() + r.err.String(); !strings.Contains(all, "loopback address") || strings.Contains(all, "proves the server runs") {
		t.Errorf("a refused loopback check says it proves the server runs, or not that the address is local:\n%s", all)
	}
}

// A check through a relay that fails on its own side (here its address
// refuses) gives no verdict on the target, only what went wrong with the
// relay: a relay's failure is not evidence about the port.
func TestCheckViaFailedRelayGivesNoVerdict(t *testing.T) {
	addr, _ := startServe(t)
	relay := freePort(t)
	r := runCLI(context.Background(), offlineDeps(t), "check", "--json", "--via", fmt.Sprintf("turn:u:p@127.0.0.1:%d", relay), addr)
	var e struct {
		Verdict string `json:"verdict"`
		Error   string `json:"error"`
		Exit    int    `json:"exit"`
	}
	if err := json.Unmarshal([]byte(r.out.String()), &e); err != nil {
		t.Fatalf("output %q: %v", r.out, err)
	}
	if r.code != 1 || e.Verdict != "" || e.Exit != 1 || !strings.Contains(e.Error, "no verdict on "+addr) || !strings.Contains(e.Error, "TURN relay") {
		t.Errorf("exit %d, %+v; want exit 1, no verdict, an error naming the relay", r.code, e)
	}
}

// With --json a usage error is JSON too, and "->" is not escaped.
func TestJSONFailuresAreJSON(t *testing.T) {
	r := runCLI(context.Background(), offlineDeps(t), "check", "nohost", "--json")
	var e struct {
		Error string `json:"error"`
		Exit  int    `json:"exit"`
	}
	if err := json.Unmarshal([]byte(r.out.String()), &e); err != nil || e.Exit != exitUsage || e.Error == "" || r.code != exitUsage {
		t.Errorf("usage error with --json: exit %d, stdout %q, want {\"error\":...,\"exit\":2}", r.code, r.out)
	}
	var b bytes.Buffer
	(&IOStreams{Out: &b}).writeJSON(map[string]string{"a": "1234/tcp -> 192.168.1.10:1234"})
	if !strings.Contains(b.String(), "->") {
		t.Errorf("JSON escapes ->: %s", b.String())
	}
}

func TestCheckJSON(t *testing.T) {
	addr, _ := startServe(t)
	r := runCLI(context.Background(), offlineDeps(t), "check", addr, "--json", "--count", "2")
	if r.code != exitOK {
		t.Fatalf("exit %d; err %s", r.code, r.err)
	}
	for _, field := range []string{`"target":"` + addr + `"`, `"verdict":"verified"`, `"rtt_ms":`, `"rtt_min_ms":`, `"rtt_avg_ms":`, `"rtt_max_ms":`, `"detail":`} {
		if !strings.Contains(r.out.String(), field) {
			t.Errorf("JSON lacks %s: %s", field, r.out)
		}
	}
}

func TestCheckReadOnlyListenerIsOpen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { // the tutorial's server: reads, never answers
				buf := make([]byte, 1024)
				for {
					if _, err := c.Read(buf); err != nil {
						c.Close()
						return
					}
				}
			}()
		}
	}()
	r := runCLI(context.Background(), offlineDeps(t), "check", ln.Addr().String(), "--timeout", "3s")
	if r.code != exitPartial {
		t.Fatalf("exit %d, want 3; out %s err %s", r.code, r.out, r.err)
	}
	if !strings.Contains(r.out.String(), "open") {
		t.Errorf("verdict not open: %q", r.out)
	}
}

func TestCheckClosedPortIsRefused(t *testing.T) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	r := runCLI(context.Background(), offlineDeps(t), "check", addr, "--json")
	if r.code != exitNo {
		t.Fatalf("exit %d, want 1; out %s", r.code, r.out)
	}
	if !strings.Contains(r.out.String(), `"verdict":"refused"`) {
		t.Errorf("verdict not refused: %s", r.out)
	}
}

func TestSendGetsEchoes(t *testing.T) {
	addr, log := startServe(t)
	r := runCLI(context.Background(), offlineDeps(t), "send", addr, "hola", "", "second message")
	if r.code != exitOK {
		t.Fatalf("exit %d; err %s", r.code, r.err)
	}
	if got, want := r.out.String(), "hola\n\nsecond message\n"; got != want {
		t.Errorf("echoes %q, want %q", got, want)
	}
	waitFor(t, func() bool { return strings.Contains(log.String(), `: "hola"`) }, "serve logs the message")
}

func TestSendToSilentServerExits3(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 8)
		n, _ := c.Read(buf)
		got <- buf[:n]
		time.Sleep(3 * time.Second)
	}()
	r := runCLI(context.Background(), offlineDeps(t), "send", ln.Addr().String(), "hola")
	if r.code != exitPartial {
		t.Fatalf("exit %d, want 3; err %s", r.code, r.err)
	}
	if b := <-got; !bytes.Equal(b, []byte{4, 0, 0, 0, 'h', 'o', 'l', 'a'}) {
		t.Errorf("server received % x, want the tutorial's frame 04 00 00 00 68 6f 6c 61", b)
	}
}

func TestSendRetriesUntilServerComes(t *testing.T) {
	port := freePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	go func() {
		time.Sleep(1200 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		runCLI(ctx, offlineDeps(t), "serve", "--bind", "127.0.0.1", "--port", strconv.Itoa(port))
	}()
	r := runCLI(context.Background(), offlineDeps(t), "send", "--retry", "--timeout", "5s", addr, "late")
	if r.code != exitOK || r.out.String() != "late\n" {
		t.Fatalf("exit %d out %q err %s", r.code, r.out, r.err)
	}
	if !strings.Contains(r.err.String(), "retrying") {
		t.Errorf("no retry line: %s", r.err)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for i := 0; i < 300; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("timed out waiting: %s", what)
}

// Usage errors say what was wrong in words and point at the command's own
// --help.
func TestUsageErrorsExplain(t *testing.T) {
	cases := []struct {
		args      []string
		want, not string
	}{
		{[]string{"expose", "1234"}, "did you mean `--port 1234`?", ""},
		{[]string{"serve", "1234"}, "did you mean `--port 1234`?", ""},
		{[]string{"diagnose", "now"}, `diagnose takes no arguments, got "now"`, ""},
		{[]string{"expose", "--port", "abc"}, `--port must be a port number from 1 to 65535, got "abc"`, "strconv"},
		{[]string{"check", "--count", "x", "h:1"}, `--count must be a whole number, got "x"`, "strconv"},
		{[]string{"check", "--timeout", "5", "h:1"}, `--timeout must be a duration such as`, "time:"},
		{[]string{"expose", "--port", "1234", "--port", "1235"}, "--port given twice (1234, then 1235)", ""},
		{[]string{"check"}, "check takes HOST:PORT, got 0 argument(s): for example `reach check 203.0.113.7:1234`", ""},
		{[]string{"chek"}, "did you mean `reach check`?", ""},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			r := runCLI(context.Background(), offlineDeps(t), c.args...)
			if r.code != exitUsage {
				t.Fatalf("exit %d, want 2; stderr: %s", r.code, r.err)
			}
			if !strings.Contains(r.err.String(), c.want) || c.not != "" && strings.Contains(r.err.String(), c.not) {
				t.Errorf("stderr %q, want %q without %q", r.err, c.want, c.not)
			}
			help := "Run `reach --help` for usage."
			if c.args[0] != "chek" {
				help = "Run `reach " + c.args[0] + " --help` for usage."
			}
			if !strings.HasSuffix(r.err.String(), help+"\n") {
				t.Errorf("stderr does not end with %q: %q", help, r.err)
			}
		})
	}
}

func TestFlagValuesComplete(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "map", "--proto", ""}, "tcp\nudp\n:4\n"},
		{[]string{"__complete", "expose", "--method", ""}, "auto\nupnp\npcp\nnat-pmp\n:4\n"},
		{[]string{"__complete", "diagnose", "--stun", ""}, "off\n:4\n"},
		{[]string{"__complete", "expose", "--ipv6", ""}, "auto\noff\nonly\n:4\n"},
		{[]string{"__complete", "map", "--ipv6", ""}, "auto\noff\nonly\n:4\n"},
		{[]string{"__complete", "check", "--timeout", ""}, ":4\n"}, // no file names
	} {
		r := runCLI(context.Background(), offlineDeps(t), c.args...)
		if r.out.String() != c.want {
			t.Errorf("%s: %q, want %q", strings.Join(c.args, " "), r.out, c.want)
		}
	}
}

// check prints each fact once: no step line repeating the verdict line,
// the rtt once.
func TestCheckSaysEachFactOnce(t *testing.T) {
	addr, _ := startServe(t)
	r := runCLI(context.Background(), offlineDeps(t), "check", addr, "--count", "2")
	all := r.out.String() + r.err.String()
	if n := strings.Count(all, "rtt"); n != 1 {
		t.Errorf("rtt printed %d times:\n%s", n, all)
	}
	if n := strings.Count(all, "verified"); n != 1 {
		t.Errorf("verified printed %d times:\n%s", n, all)
	}
	closed := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	r = runCLI(context.Background(), offlineDeps(t), "check", closed)
	if got := r.out.String(); got != "refused: "+closed+": connection refused\n" {
		t.Errorf("refused verdict line %q", got)
	}
	if strings.Contains(r.err.String(), "refused ") && strings.Contains(r.err.String(), "fail") {
		t.Errorf("a step line repeats the verdict: %s", r.err)
	}
}

// A server whose reader takes a frame with one Receive (the tutorial's)
// echoes only part of a large message: send says so, and exits 3.
func TestSendSaysWhenTheEchoIsCut(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply func(msg []byte) []byte
		want  string
	}{
		{"shorter frame", func(m []byte) []byte { return m[:1000] }, "the echo holds only the first 1000 of the 100000 bytes sent"},
		{"zeros after", func(m []byte) []byte {
			b := make([]byte, len(m))
			copy(b, m[:1000])
			return b
		}, "the echo holds the first 1000 of the 100000 bytes sent, then zeros"},
		// The whole length in the header, then only what one Receive got.
		{"stopped inside", func(m []byte) []byte { return m }, "the echo of a 100000-byte message stopped after 1000 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				r := frame.NewReader(c, 1<<20)
				m, err := r.Next()
				if err != nil {
					return
				}
				if tc.name == "stopped inside" {
					c.Write(frame.Append(nil, m)[:frame.HeaderSize+1000])
					time.Sleep(echoWait + time.Second)
					return
				}
				frame.Write(c, tc.reply(m))
				time.Sleep(time.Second)
			}()
			msg := strings.Repeat("x", 100000)
			r := runCLI(context.Background(), offlineDeps(t), "send", ln.Addr().String(), msg)
			if r.code != exitPartial || !strings.Contains(r.err.String(), tc.want) || !strings.Contains(r.err.String(), "single Receive") {
				t.Errorf("exit %d, stderr %q; want 3 and %q", r.code, r.err, tc.want)
			}
		})
	}
}
