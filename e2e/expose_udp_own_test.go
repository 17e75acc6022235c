package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/reach-net/reach/lab"
)

// udpProgramEnv makes this test binary, started inside a lab host, a UDP
// program of the user's own, as a game server is: it answers every
// datagram with its own message ("pong"), never with reach's echo, and
// prints where each came from. It runs before TestMain (init), so a
// helper run neither builds reach nor runs tests.
const udpProgramEnv = "REACH_E2E_UDP_PROGRAM"

func init() {
	if os.Getenv(udpProgramEnv) != "" {
		os.Exit(udpProgram(os.Args[len(os.Args)-1]))
	}
}

// udpProgram listens on addr (all addresses, as most programs do), says
// "listening", then answers until killed.
func udpProgram(addr string) int {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("listening")
	buf := make([]byte, 2048)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("got %d bytes from %s\n", n, from)
		pc.WriteTo([]byte("pong"), from)
	}
}

// startHelper starts this test binary in host as the helper program that
// env selects (udpProgramEnv, receiverEnv), on addr, and waits until it
// listens; it is stopped when the test ends.
func startHelper(t *testing.T, l *lab.Lab, host, env, addr string) *receiverOutput {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := l.Command(ctx, host, exe, addr)
	cmd.Env = append(os.Environ(), env+"=1")
	out := &receiverOutput{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	for end := time.Now().Add(receiverStart); !strings.Contains(out.String(), "listening\n"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%s on %s in %s did not start within %s: %q", env, addr, host, receiverStart, out)
		}
	}
	return out
}

// untilReady returns expose's step events up to its ready event (the
// last of each name), and that event.
func untilReady(e *exposeRun) (steps map[string]event, ready event) {
	e.t.Helper()
	steps = map[string]event{}
	ready = e.waitEventSeeing("ready", func(ev event) {
		if ev.str("event") == "step" {
			steps[ev.str("step")] = ev
		}
	})
	return steps, ready
}

// expose --no-serve --proto udp finds the user's own UDP program where
// the router forwards, without sending it anything, and never says that
// nothing listens there. With --via the TURN relay outside reaches the
// program through the mapping: its answer, not reach's echo, shows the
// port open from outside.
func TestExposeNoServeUDPFindsYourProgram(t *testing.T) {
	t.Parallel()
	port := "1260"
	lanAddr := lab.PCAddr + ":" + port
	for _, tc := range []struct {
		name   string
		via    []string
		status string
	}{
		{"no relay", nil, "unverified"},
		{"through the TURN relay", []string{"--via", lab.TURNServer}, "open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t, lab.Options{UPnP: true})
			prog := startHelper(t, l, lab.PC, udpProgramEnv, ":"+port)
			args := append(append([]string{"--port", port, "--proto", "udp", "--no-serve", "--json"}, stunFlag...), tc.via...)
			exp := startExpose(t, l, lab.PC, args...)
			steps, ready := untilReady(exp)
			serve := steps["serve"]
			if serve["ok"] != true || serve.str("detail") != "your program listens on UDP "+lanAddr {
				t.Errorf("serve step = %v, want your program found on %s", serve, lanAddr)
			}
			if ready.str("status") != tc.status || ready["verified"] == true {
				t.Errorf("ready = %v, want status %s, not verified", ready, tc.status)
			}
			words(t, "ready detail", ready.str("detail"), nil, []string{"nothing listens", "not reachable"})
			words(t, "advice", ready.list("advice"), nil, []string{"start your program"})
			got := prog.String()
			if tc.via == nil {
				if strings.Contains(got, "got ") {
					t.Errorf("the program got datagrams from reach's look, which sends nothing:\n%s", got)
				}
			} else {
				words(t, "evidence", ready.list("evidence"), []string{"(turn): open"}, nil)
				if !strings.Contains(got, "from "+lab.InetAddr+":") {
					t.Errorf("the program got nothing from the relay at %s:\n%s", lab.InetAddr, got)
				}
			}
			if code := exp.interrupt(); code != 0 {
				t.Errorf("exit %d after SIGINT\n%s", code, exp.output())
			}
		})
	}
}
