package main

import (
	"context"
	"encoding/json"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/reach-net/reach/probe"
)

// serve --proto both echoes over TCP and UDP on one port, and the log
// tells the UDP clients apart.
func TestServeBothProtocols(t *testing.T) {
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	r := cliRun{out: &syncBuffer{}, err: &syncBuffer{}}
	done := make(chan int, 1)
	go func() {
		done <- execute(ctx, &IOStreams{Out: r.out, ErrOut: r.err}, offlineDeps(t),
			[]string{"serve", "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--proto", "both"})
	}()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	waitListening(t, addr)
	if res := probe.Check(ctx, addr, probe.CheckConfig{}); res.Verdict != probe.Verified {
		t.Errorf("TCP check: %s (%s)", res.Verdict, res.Detail)
	}
	if res := probe.CheckUDP(ctx, addr, probe.CheckConfig{}); res.Verdict != probe.Verified {
		t.Errorf("UDP check: %s (%s)", res.Verdict, res.Detail)
	}
	waitFor(t, func() bool { return strings.Contains(r.out.String(), "udp client 1 127.0.0.1:") }, "serve logs the UDP client")
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("serve exited %d; stderr %s", code, r.err)
	}
	if !strings.Contains(r.err.String(), "tcp 127.0.0.1:"+strconv.Itoa(port)+" and udp 127.0.0.1:"+strconv.Itoa(port)) {
		t.Errorf("serve does not say it listens on both: %s", r.err)
	}
}

// A Windows client whose Encoding.Default is a legacy code page: the log
// shows the bytes escaped, never as U+FFFD, and names the code page.
func TestServeNamesALegacyCodePage(t *testing.T) {
	addr, out := startServe(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := []byte("a\xf1o") // "año" in windows-1252
	c.Write(append([]byte{byte(len(msg)), 0, 0, 0}, msg...))
	waitFor(t, func() bool { return strings.Contains(out.String(), "windows-1252") }, "the log names the code page")
	if strings.Contains(out.String(), "\uFFFD") {
		t.Errorf("the log shows U+FFFD: %s", out)
	}
}

// serve --json says where it listens with one event per protocol, each
// address an ip:port a program can dial, and each client event says which
// protocol it came over.
func TestServeJSONListening(t *testing.T) {
	addr, out := startServe(t, "--proto", "both", "--json")
	ctx := context.Background()
	probe.Check(ctx, addr, probe.CheckConfig{})
	probe.CheckUDP(ctx, addr, probe.CheckConfig{})
	// The log writes whole lines: once both are there, every line is.
	waitFor(t, func() bool { return strings.Count(out.String(), `"action":"message"`) == 2 }, "serve --json logs both probes")
	var listening, messages []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var ev struct{ Event, Action, Address, Protocol string }
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		switch {
		case ev.Event == "listening":
			listening = append(listening, ev.Protocol+" "+ev.Address)
		case ev.Event == "client" && ev.Action == "message":
			messages = append(messages, ev.Protocol)
		}
	}
	if want := []string{"tcp " + addr, "udp " + addr}; !slices.Equal(listening, want) {
		t.Errorf("listening events %q, want %q", listening, want)
	}
	if slices.Sort(messages); !slices.Equal(messages, []string{"tcp", "udp"}) {
		t.Errorf("the probes' message events say protocols %q, want tcp and udp", messages)
	}
}
