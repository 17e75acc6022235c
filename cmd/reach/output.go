package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// IOStreams is where a command writes: Out for results (and JSON), ErrOut
// for progress, steps and advice meant for a person.
type IOStreams struct {
	Out    io.Writer
	ErrOut io.Writer
	// IsTerminal reports whether ErrOut is a terminal: only then does a
	// spinner run and lines get rewritten in place.
	IsTerminal bool

	mu sync.Mutex
}

// Step marks of the human output.
const (
	markOK   = "ok"
	markWarn = "warn"
	markFail = "fail"
)

// spinnerPeriod is how often the spinner frame changes: fast enough to look
// alive, slow enough not to flood a slow terminal.
const spinnerPeriod = 100 * time.Millisecond

var spinnerFrames = []string{"|", "/", "-", "\\"}

// steps prints the human list of steps: one line per step with a mark and
// one line of evidence. On a terminal the running step shows a spinner.
type steps struct {
	ios   *IOStreams
	quiet bool // --json: no human lines
	// stream makes each finished step a JSON "step" event (expose --json).
	stream bool

	mu      sync.Mutex
	stop    chan struct{}
	stopped chan struct{}
	running string
}

func newSteps(ios *IOStreams, quiet bool) *steps { return &steps{ios: ios, quiet: quiet} }

// start shows that a step is under way ("finding the gateway").
func (s *steps) start(what string) {
	if s.quiet || !s.ios.IsTerminal {
		return
	}
	s.finishSpinner()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running = what
	s.stop, s.stopped = make(chan struct{}), make(chan struct{})
	go s.spin(what, s.stop, s.stopped)
}

func (s *steps) spin(what string, stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(spinnerPeriod)
	defer t.Stop()
	for i := 0; ; i++ {
		s.ios.mu.Lock()
		fmt.Fprintf(s.ios.ErrOut, "\r\033[K  %s  %s...", spinnerFrames[i%len(spinnerFrames)], what)
		s.ios.mu.Unlock()
		select {
		case <-stop:
			s.ios.mu.Lock()
			fmt.Fprint(s.ios.ErrOut, "\r\033[K")
			s.ios.mu.Unlock()
			return
		case <-t.C:
		}
	}
}

func (s *steps) finishSpinner() {
	s.mu.Lock()
	stop, done := s.stop, s.stopped
	s.stop, s.stopped = nil, nil
	s.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

// done ends the running step with a mark and a line of evidence.
func (s *steps) done(mark, name, detail string) {
	if s.stream {
		s.ios.writeJSON(stepEvent{Event: "step", Step: name, OK: mark != markFail, Mark: mark, Detail: detail})
	}
	if s.quiet {
		return
	}
	s.finishSpinner()
	s.ios.printf("  %-4s %-10s %s\n", mark, name, detail)
}

// line prints a free line under the steps (advice, instructions).
func (s *steps) line(format string, args ...any) {
	if s.quiet {
		return
	}
	s.finishSpinner()
	s.ios.printf(format+"\n", args...)
}

func (ios *IOStreams) printf(format string, args ...any) {
	ios.mu.Lock()
	defer ios.mu.Unlock()
	fmt.Fprintf(ios.ErrOut, format, args...)
}

// result writes a line for pipes and scripts on stdout.
func (ios *IOStreams) result(format string, args ...any) {
	ios.mu.Lock()
	defer ios.mu.Unlock()
	fmt.Fprintf(ios.Out, format+"\n", args...)
}

// writeJSON writes v as one line of JSON on stdout.
func (ios *IOStreams) writeJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	ios.mu.Lock()
	defer ios.mu.Unlock()
	ios.Out.Write(append(b, '\n'))
}

// advise prints the verdict and the next steps a person should take.
func (ios *IOStreams) advise(verdict string, next []string) {
	ios.printf("\n%s\n", verdict)
	for _, n := range next {
		ios.printf("  -> %s\n", strings.TrimSpace(n))
	}
}

// stepEvent is a finished step in expose's JSON event stream.
type stepEvent struct {
	Event  string `json:"event"`
	Step   string `json:"step"`
	OK     bool   `json:"ok"`
	Mark   string `json:"mark"`
	Detail string `json:"detail"`
}
