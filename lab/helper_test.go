package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/reach-net/reach/probe"
)

// The test binary doubles as the lab's TCP server and client: started
// inside a namespace with helperEnv set, it serves or dials instead of
// running tests.
const helperEnv = "LAB_TEST_HELPER"

// helperDialTimeout bounds one dial and read of the helper client: one or
// two hops inside this machine.
const helperDialTimeout = 3 * time.Second

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "serve":
		os.Exit(helperServe(os.Args[len(os.Args)-1]))
	case "dial":
		os.Exit(helperDial(os.Args[len(os.Args)-1]))
	case "get":
		os.Exit(helperGet(os.Args[len(os.Args)-1]))
	case "hops":
		os.Exit(helperHops(os.Args[len(os.Args)-1]))
	case "stun":
		os.Exit(helperSTUN(os.Args[len(os.Args)-1]))
	case "ssdp":
		os.Exit(helperSSDP(os.Args[len(os.Args)-1]))
	case "echo", "udpecho", "udpsilent":
		os.Exit(helperEcho(os.Getenv(helperEnv), os.Args[len(os.Args)-1]))
	case "via":
		os.Exit(helperVia(os.Args[len(os.Args)-1]))
	case "checkudp":
		os.Exit(helperCheckUDP(os.Args[len(os.Args)-1]))
	}
	os.Exit(m.Run())
}

// helperServe listens on addr and greets every client with "hello <peer>".
func helperServe(addr string) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("listening")
	for {
		c, err := ln.Accept()
		if err != nil {
			return 1
		}
		fmt.Fprintf(c, "hello %s\n", c.RemoteAddr())
		c.Close()
	}
}

// helperDial connects to addr and prints the greeting line.
func helperDial(addr string) int {
	c, err := net.DialTimeout("tcp", addr, helperDialTimeout)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(helperDialTimeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Print(line)
	return 0
}

// helperGet prints the body of an HTTP GET of url (at most 1 MiB).
func helperGet(url string) int {
	c := &http.Client{Timeout: helperDialTimeout}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, resp.Status)
		return 1
	}
	if _, err := io.Copy(os.Stdout, io.LimitReader(resp.Body, 1<<20)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// helperHops prints the routers that answer TTL-limited probes toward
// addr, one address per line ("-" for a silent hop), with reach's own
// hop probe.
func helperHops(addr string) int {
	ctx, cancel := context.WithTimeout(context.Background(), helperDialTimeout)
	defer cancel()
	hops, err := probe.Hops(ctx, netip.MustParseAddrPort(addr), 3)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, h := range hops {
		if h.Addr.IsValid() {
			fmt.Println(h.Addr)
		} else {
			fmt.Println("-")
		}
	}
	return 0
}

// stunNoAnswer is what helperSTUN prints when no STUN answer came.
const stunNoAnswer = "no answer"

// helperSTUN prints the public address server (host:port) saw, with
// reach's own STUN client, or stunNoAnswer if none came in time.
func helperSTUN(server string) int {
	res, err := probe.PublicAddr(context.Background(), []string{server})
	if errors.Is(err, probe.ErrSTUNNoAnswer) {
		fmt.Println(stunNoAnswer)
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(res.Addr.Addr())
	return 0
}

// ssdpWait is how long helperSSDP listens for answers: miniupnpd answers
// an M-SEARCH after ~55 ms, and the request asks for answers within MX=1 s.
const ssdpWait = time.Second

// helperSSDP sends one SSDP M-SEARCH for search target st to the multicast
// group and prints the address of each device that answers, once, in the
// order they answered.
func helperSSDP(st string) int {
	conn, err := net.ListenUDP("udp4", nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer conn.Close()
	req := "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: " + st + "\r\n\r\n"
	if _, err := conn.WriteToUDP([]byte(req), &net.UDPAddr{IP: net.IPv4(239, 255, 255, 250), Port: 1900}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_ = conn.SetReadDeadline(time.Now().Add(ssdpWait))
	seen := make(map[string]bool)
	buf := make([]byte, 2048)
	for {
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			return 0 // the deadline: every answer is in
		}
		if ip := from.IP.String(); strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") && !seen[ip] {
			seen[ip] = true
			fmt.Println(ip)
		}
	}
}

// serveIn starts the helper server on addr in host and waits until it
// listens; it is stopped when the test ends.
func serveIn(t *testing.T, l *Lab, host, addr string) {
	t.Helper()
	serveModeIn(t, l, host, "serve", addr)
}

// serveModeIn starts the helper in a serving mode (serve, echo, udpecho,
// udpsilent) on addr in host and waits until it listens; it is stopped
// when the test ends.
func serveModeIn(t *testing.T, l *Lab, host, mode, addr string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := l.Command(ctx, host, exe, addr)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "listening" {
		t.Fatalf("helper %s server on %s in %s did not start: %q %v", mode, addr, host, line, err)
	}
}

// dialFrom dials addr from host with the helper client and returns the
// greeting, or the error it printed.
func dialFrom(t *testing.T, l *Lab, host, addr string) (greeting string, err error) {
	t.Helper()
	return runHelper(t, l, host, "dial", addr)
}

// runHelper runs the helper in mode with arg in host and returns its
// output, or the error it printed.
func runHelper(t *testing.T, l *Lab, host, mode, arg string) (string, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*helperDialTimeout)
	defer cancel()
	cmd := l.Command(ctx, host, exe, arg)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); ok {
			return "", fmt.Errorf("%s", strings.TrimSpace(stderr.String()))
		}
		t.Fatalf("%s helper: %v", mode, err)
	}
	return strings.TrimSpace(stdout.String()), nil
}
