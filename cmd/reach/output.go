package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/reach-net/reach/expose"
	"github.com/reach-net/reach/probe"
)

// IOStreams is where a command writes: Out for results (and JSON), ErrOut
// for progress, steps and advice meant for a person.
type IOStreams struct {
	Out    io.Writer
	ErrOut io.Writer
	// IsTerminal reports whether ErrOut is a terminal: only then does a
	// spinner run and lines get rewritten in place.
	IsTerminal bool
	// Verbose shows the raw error behind each failed step (--verbose).
	Verbose bool

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
	s.step(&expose.Step{Name: name, Mark: expose.Mark(mark), Detail: detail})
}

// step ends the running step: its mark, its line of evidence, the notes
// under it, and with --verbose the raw error behind it.
func (s *steps) step(st *expose.Step) {
	if s.stream {
		ev := stepEvent{Event: "step", Step: st.Name, OK: st.Mark == expose.MarkOK, Mark: string(st.Mark), Detail: st.Detail, Notes: st.Notes}
		if st.Err != nil {
			ev.Error = st.Err.Error()
		}
		s.ios.writeJSON(ev)
	}
	if s.quiet {
		return
	}
	s.finishSpinner()
	s.ios.printf("  %-4s %-10s %s\n", st.Mark, st.Name, st.Detail)
	for _, n := range st.Notes {
		s.ios.printf("       %s\n", n)
	}
	if st.Err != nil && s.ios.Verbose {
		s.ios.printf("       error: %v\n", st.Err)
	}
}

// render shows a session's progress and steps; other events are the
// command's own to render.
func (s *steps) render(ev expose.Event) {
	switch e := ev.(type) {
	case *expose.Progress:
		s.start(e.What)
	case *expose.Step:
		s.step(e)
	}
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
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "->" stays "->"
	if err := enc.Encode(v); err != nil {
		buf.Reset()
		enc.Encode(map[string]string{"error": err.Error()})
	}
	ios.mu.Lock()
	defer ios.mu.Unlock()
	ios.Out.Write(buf.Bytes())
}

// diagnosis prints a verdict's candidate causes and advice under its
// headline.
func (ios *IOStreams) diagnosis(d probe.Diagnosis) {
	switch len(d.Causes) {
	case 0:
	case 1:
		ios.printf("  likely cause: %s\n", d.Causes[0])
	default:
		ios.printf("  possible causes:\n")
		for _, c := range d.Causes {
			ios.printf("    - %s\n", c)
		}
	}
	for _, a := range d.Advice {
		ios.printf("  -> %s\n", a)
	}
}

// stepEvent is a finished step in expose's JSON event stream.
type stepEvent struct {
	Event  string   `json:"event"`
	Step   string   `json:"step"`
	OK     bool     `json:"ok"`
	Mark   string   `json:"mark"`
	Detail string   `json:"detail"`
	Notes  []string `json:"notes,omitempty"`
	Error  string   `json:"error,omitempty"`
}
