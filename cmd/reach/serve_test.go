package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/reach-net/reach/frame"
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

// messageEvent is what a script reads of a JSON message event.
type messageEvent struct {
	Event, Action, Message string
	Bytes                  int
	Truncated              bool
}

// serveMessages starts serve with args, sends each of msgs as a frame on
// one connection, checks each echo is exact, and returns the log once it
// shows them all.
func serveMessages(t *testing.T, msgs [][]byte, args ...string) string {
	t.Helper()
	addr, out := startServe(t, args...)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := frame.NewReader(c, 0)
	for _, m := range msgs {
		if err := frame.Write(c, m); err != nil {
			t.Fatal(err)
		}
		if got, err := r.Next(); err != nil || !bytes.Equal(got, m) {
			t.Fatalf("echo of a %d-byte message: %d bytes, %v", len(m), len(got), err)
		}
	}
	want := len(msgs)
	if slices.Contains(args, "--json") {
		waitFor(t, func() bool { return strings.Count(out.String(), `"action":"message"`) == want }, "serve --json logs every message")
	} else {
		waitFor(t, func() bool { return strings.Count(out.String(), `: "`) == want }, "serve logs every message")
	}
	return out.String()
}

// jsonMessageEvents is the message events of a serve --json log.
func jsonMessageEvents(t *testing.T, log string) []messageEvent {
	t.Helper()
	var evs []messageEvent
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		var ev messageEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not JSON: %.200q", line)
		}
		if ev.Event == "client" && ev.Action == "message" {
			evs = append(evs, ev)
		}
	}
	return evs
}

// What a JSON event shows of a message: a chat line whole, the first
// 1 KiB of a longer one by default, and with --message-bytes as much as
// the user asks, a 64 KiB frame whole (read, not spliced) or its start
// (the frames after the first spliced back); every echo exact.
func TestServeMessageBytes(t *testing.T) {
	text := func(n int) []byte { return bytes.Repeat([]byte("hola mundo "), n/11+1)[:n] }
	chat, long, big := text(40), text(3000), text(64<<10)
	cases := []struct {
		name string
		args []string
		want []int // bytes of each message shown
	}{
		{"default", nil, []int{40, jsonMessageLimit, jsonMessageLimit}},
		{"start of a big frame", []string{"--message-bytes", "3000"}, []int{40, 3000, 3000}},
		{"the whole message", []string{"--message-bytes", "100000"}, []int{40, 3000, 64 << 10}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msgs := [][]byte{chat, long, big, big, big}
			evs := jsonMessageEvents(t, serveMessages(t, msgs, append([]string{"--json"}, tc.args...)...))
			if len(evs) != len(msgs) {
				t.Fatalf("%d message events for %d messages", len(evs), len(msgs))
			}
			for i, ev := range evs {
				want := tc.want[min(i, len(tc.want)-1)]
				if ev.Message != string(msgs[i][:want]) || ev.Bytes != len(msgs[i]) || ev.Truncated != (want < len(msgs[i])) {
					t.Errorf("message %d of %d bytes: shows %d bytes, bytes %d, truncated %v; want %d bytes shown",
						i+1, len(msgs[i]), len(ev.Message), ev.Bytes, ev.Truncated, want)
				}
			}
		})
	}
	t.Run("for people", func(t *testing.T) {
		log := serveMessages(t, [][]byte{chat, big}, "--message-bytes", "5")
		for _, want := range []string{`: "hola "... (40 bytes)`, `: "hola "... (65536 bytes)`} {
			if !strings.Contains(log, want) {
				t.Errorf("the log does not show %s:\n%s", want, log)
			}
		}
	})
}
