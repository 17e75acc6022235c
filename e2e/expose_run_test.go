package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reach-net/reach/lab"
)

// event is one line of `reach expose --json`.
type event map[string]any

func (e event) str(k string) string {
	s, _ := e[k].(string)
	return s
}

func (e event) num(k string) float64 {
	f, _ := e[k].(float64)
	return f
}

// exposeRun is a running `reach expose --json`.
type exposeRun struct {
	t      *testing.T
	cmd    *exec.Cmd
	events chan event
	done   chan struct{} // closed when the process exited
	code   int           // exit code, set before done closes

	mu      sync.Mutex
	stdout  []string // every line, as printed
	stderr  strings.Builder
	notJSON []string
}

// startExpose starts `reach expose` with args (which must include --json)
// in host. It is interrupted, then killed, when the test ends.
func startExpose(t *testing.T, l *lab.Lab, host string, args ...string) *exposeRun {
	t.Helper()
	return startReach(t, l, host, append([]string{"expose"}, args...)...)
}

// startReach starts a long-running reach command (expose, serve) in host.
// It is interrupted, then killed, when the test ends.
func startReach(t *testing.T, l *lab.Lab, host string, args ...string) *exposeRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := reachCmd(ctx, t, l, host, args...)
	e := &exposeRun{t: t, cmd: cmd, events: make(chan event, 64), done: make(chan struct{})}
	cmd.Stderr = lockedWriter{&e.mu, &e.stderr}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting reach %s: %v", args[0], err)
	}
	go e.read(out)
	t.Cleanup(func() {
		e.stop()
		cancel()
		if t.Failed() {
			t.Logf("reach %s:\n%s", strings.Join(args, " "), e.output())
		}
	})
	return e
}

// read collects stdout lines as events, then waits for the process.
func (e *exposeRun) read(out io.Reader) {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		e.mu.Lock()
		e.stdout = append(e.stdout, line)
		var ev event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			e.notJSON = append(e.notJSON, line)
			e.mu.Unlock()
			continue
		}
		e.mu.Unlock()
		select {
		case e.events <- ev:
		default: // nobody waits for more than 64 unread events
		}
	}
	err := e.cmd.Wait()
	var exit *exec.ExitError
	e.code = 0
	if errors.As(err, &exit) {
		e.code = exit.ExitCode()
	} else if err != nil {
		e.code = -1
	}
	close(e.events)
	close(e.done)
}

// waitEvent returns the first event named name, failing the test if
// expose exits or readyTimeout passes first.
func (e *exposeRun) waitEvent(name string) event {
	e.t.Helper()
	return e.waitEventSeeing(name, nil)
}

// waitEventSeeing is waitEvent that hands each event before it to seen
// (when not nil).
func (e *exposeRun) waitEventSeeing(name string, seen func(event)) event {
	e.t.Helper()
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-e.events:
			if !ok {
				<-e.done
				e.t.Fatalf("reach expose exited with %d before a %q event\n%s", e.code, name, e.output())
			}
			if ev.str("event") == name {
				return ev
			}
			if seen != nil {
				seen(ev)
			}
		case <-timer.C:
			e.t.Fatalf("no %q event from reach expose within %s\n%s", name, readyTimeout, e.output())
		}
	}
}

// outputPoll is how often waitOutput looks at expose's output.
const outputPoll = 50 * time.Millisecond

// waitOutput waits until expose's stdout+stderr matches re and returns it,
// failing the test if expose exits or readyTimeout passes first.
func (e *exposeRun) waitOutput(re *regexp.Regexp) string {
	e.t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for {
		out := e.output()
		if re.MatchString(out) {
			return out
		}
		select {
		case <-e.done:
			if out := e.output(); re.MatchString(out) {
				return out
			}
			e.t.Fatalf("reach expose exited with %d without printing %s\n%s", e.code, re, e.output())
		case <-time.After(outputPoll):
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("reach expose did not print %s within %s\n%s", re, readyTimeout, out)
		}
	}
}

// interrupt sends SIGINT and returns the exit code.
func (e *exposeRun) interrupt() int {
	e.t.Helper()
	if err := e.cmd.Process.Signal(syscall.SIGINT); err != nil {
		e.t.Fatalf("SIGINT to reach expose: %v", err)
	}
	select {
	case <-e.done:
		return e.code
	case <-time.After(stopTimeout):
		e.t.Fatalf("reach expose did not exit within %s of SIGINT\n%s", stopTimeout, e.output())
	}
	return -1
}

// stop ends the process if it still runs: SIGINT, then kill.
func (e *exposeRun) stop() {
	select {
	case <-e.done:
		return
	default:
	}
	_ = e.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-e.done:
	case <-time.After(stopTimeout):
		_ = e.cmd.Process.Kill()
		<-e.done
	}
}

// wait waits for the process to exit by itself and returns its exit code.
func (e *exposeRun) wait() int {
	e.t.Helper()
	select {
	case <-e.done:
		return e.code
	case <-time.After(readyTimeout):
		e.t.Fatalf("reach expose did not exit within %s\n%s", readyTimeout, e.output())
	}
	return -1
}

// output is everything expose printed so far.
func (e *exposeRun) output() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return fmt.Sprintf("stdout:\n%s\nstderr:\n%s", strings.Join(e.stdout, "\n"), e.stderr.String())
}

// checkStdoutIsJSON fails the test if expose --json printed a line on
// stdout that is not a JSON object.
func (e *exposeRun) checkStdoutIsJSON() {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.notJSON) > 0 {
		e.t.Errorf("reach expose --json printed non-JSON lines on stdout: %q", e.notJSON)
	}
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (lw lockedWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.w.Write(p)
}
