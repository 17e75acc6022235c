package e2e

import (
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reach-net/reach/frame"
	"github.com/reach-net/reach/lab"
)

// receiverEnv makes this test binary, started inside a lab host, a program
// of the user's own that only receives, as the guide's server does: it
// reads each frame, prints it, and never answers. It runs before TestMain
// (init), so a helper run neither builds reach nor runs tests.
const receiverEnv = "REACH_E2E_RECEIVER"

// receiverStart bounds a receiver coming up: one exec inside the lab.
const receiverStart = 10 * time.Second

func init() {
	if os.Getenv(receiverEnv) != "" {
		os.Exit(receive(os.Args[len(os.Args)-1]))
	}
}

// receive listens on addr, says "listening", then receives until killed.
func receive(addr string) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return fail(err)
	}
	fmt.Println("listening")
	var mu sync.Mutex // one line at a time, as the guide's console
	for n := 1; ; n++ {
		c, err := ln.Accept()
		if err != nil {
			return fail(err)
		}
		go func(n int, c net.Conn) {
			defer c.Close()
			r := frame.NewReader(c, frame.DefaultMaxFrame)
			for {
				msg, err := r.Next()
				if err != nil {
					return
				}
				mu.Lock()
				fmt.Printf("client %d: %s\n", n, msg)
				mu.Unlock()
			}
		}(n, c)
	}
}

// receiverOutput is what a receiver printed.
type receiverOutput struct {
	mu  sync.Mutex
	out strings.Builder
}

func (r *receiverOutput) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.Write(p)
}

func (r *receiverOutput) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

// waitFor waits until the receiver printed a line with s.
func (r *receiverOutput) waitFor(t *testing.T, s string) {
	t.Helper()
	for end := time.Now().Add(receiverStart); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(r.String(), s) {
			return
		}
	}
	t.Errorf("the receiver did not print %q within %s; it printed:\n%s", s, receiverStart, r)
}

// startReceiver starts a receiver in host on addr and waits until it
// listens; it is stopped when the test ends.
func startReceiver(t *testing.T, l *lab.Lab, host, addr string) *receiverOutput {
	t.Helper()
	return startHelper(t, l, host, receiverEnv, addr)
}

// A TURN relay outside reaches a program that only receives, as the
// guide's server does: that port is open from outside, unverified, never
// "not reachable". Behind expose --no-serve the program is the user's own
// (the forward reaches it); check --via says open (exit 3); and where the
// router forwards the port by hand to another device that runs such a
// program, expose with reach's own server says open with the candidates.
func TestViaReachesAReceiveOnlyServer(t *testing.T) {
	t.Parallel()
	t.Run("your own program behind expose --no-serve, and check --via", func(t *testing.T) {
		t.Parallel()
		l := newLab(t, lab.Options{UPnP: true})
		startReceiver(t, l, lab.PC, ":1234")
		exp := startExpose(t, l, lab.PC, exposeArgs("--no-serve", "--via", lab.TURNServer)...)
		ready := exp.waitEvent("ready")
		if ready.str("status") != "open" || ready["verified"] == true || !strings.Contains(ready.str("detail"), "reaches your program") {
			t.Errorf("ready = %v, want status open: the relay's connection reached your program", ready)
		}
		words(t, "evidence", ready.list("evidence"), []string{"(turn): open"}, nil)
		via := reach(t, l, lab.PC, "check", "--via", lab.TURNServer, "11.0.0.2:1234")
		if via.code != 3 || !strings.HasPrefix(via.stdout, "open: 11.0.0.2:1234") || strings.Contains(via.stdout+via.stderr, "not reachable") {
			t.Errorf("check --via of a server that only receives: want exit 3 and an open verdict\n%s", via)
		}
		if code := exp.interrupt(); code != 0 {
			t.Errorf("exit %d after SIGINT\n%s", code, exp.output())
		}
	})
	t.Run("reach's server, the port forwarded by hand to another device", func(t *testing.T) {
		t.Parallel()
		l := newLab(t, lab.Options{NoService: true, Forwards: []lab.Forward{{Proto: "tcp", ExternalPort: 1234, InternalIP: lab.Dev2Addr}}})
		recv := startReceiver(t, l, lab.Dev2, ":1234")
		exp := startExpose(t, l, lab.PC, exposeArgs("--via", lab.TURNServer)...)
		ready := exp.waitEvent("ready")
		detail := ready.str("detail")
		if ready.str("status") != "open" || ready["verified"] == true || !strings.Contains(detail, "open from outside, not verified") || strings.Contains(detail, "not reachable") {
			t.Errorf("ready = %v, want status open from outside, not verified", ready)
		}
		if causes, _ := ready["causes"].([]any); len(causes) < 2 {
			t.Errorf("causes = %v, want the candidates, not one cause", ready["causes"])
		}
		words(t, "causes", ready.list("causes"), []string{"another device"}, nil)
		// The relay's probe is an ordinary frame: the receiver read it.
		recv.waitFor(t, ": reach-probe/1 ")
	})
}
