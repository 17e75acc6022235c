package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

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
