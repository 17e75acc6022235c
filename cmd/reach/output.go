package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/reach-net/reach/expose"
	"github.com/reach-net/reach/probe"
)

// IOStreams is where a command writes: Out for results (and JSON), ErrOut
// for progress, steps and advice meant for a person. Every write clears the
// spinner's line first, so nothing is ever appended to it.
type IOStreams struct {
	Out    io.Writer
	ErrOut io.Writer
	// IsTerminal reports whether ErrOut is a terminal that can rewrite a
	// line (not TERM=dumb): only then does a spinner run.
	IsTerminal bool
	// Color colours the marks on ErrOut; ColorOut the verdict line on Out.
	// Both are false off a terminal, with NO_COLOR or with TERM=dumb.
	Color, ColorOut bool
	// Width wraps the lines of steps and advice on ErrOut at this many
	// columns; zero means no wrapping (a pipe or a log file keeps one line
	// per fact, for grep).
	Width int
	// Verbose shows the raw error behind each failed step (--verbose).
	Verbose bool

	mu   sync.Mutex
	spin *spinner // the spinner on ErrOut's last line, if any
}

// maxWidth is the widest line reach prints on a terminal: the house rule
// that a step, a failure or a piece of advice fits 100 columns.
const maxWidth = 100

// newIOStreams returns the streams of a process: colour, spinner and
// wrapping only where a person watches a terminal that can show them.
func newIOStreams(stdout, stderr *os.File, getenv func(string) string) *IOStreams {
	outTTY, errTTY := isTerminal(stdout), isTerminal(stderr)
	// A Windows console that cannot take escape codes gets plain lines.
	outTTY = outTTY && enableEscapes(stdout)
	errTTY = errTTY && enableEscapes(stderr)
	caps := terminalCaps(outTTY, errTTY, getenv)
	ios := &IOStreams{Out: stdout, ErrOut: stderr, IsTerminal: caps.spinner, Color: caps.colorErr, ColorOut: caps.colorOut}
	if errTTY {
		ios.Width = maxWidth
		if w, _, err := term.GetSize(int(stderr.Fd())); err == nil && w > 20 && w < maxWidth {
			ios.Width = w
		}
	}
	return ios
}

// termCaps is what the output may do on the streams it has.
type termCaps struct {
	spinner  bool // rewrite ErrOut's last line
	colorErr bool // colour on ErrOut
	colorOut bool // colour on Out
}

// terminalCaps decides from whether stdout and stderr are terminals and the
// environment: NO_COLOR (any value but empty, no-color.org) turns colour
// off; TERM=dumb turns off colour and the spinner (a dumb terminal cannot
// move the cursor).
func terminalCaps(outTTY, errTTY bool, getenv func(string) string) termCaps {
	dumb := getenv("TERM") == "dumb"
	color := getenv("NO_COLOR") == "" && !dumb
	return termCaps{spinner: errTTY && !dumb, colorErr: errTTY && color, colorOut: outTTY && color}
}

// Step marks of the human output.
const (
	markOK   = "ok"
	markWarn = "warn"
	markFail = "fail"
)

// SGR colours of the marks: the three every terminal shows.
const (
	sgrGreen  = "\033[32m"
	sgrYellow = "\033[33m"
	sgrRed    = "\033[31m"
	sgrReset  = "\033[0m"
)

// paint colours s as mark is coloured, when on is set.
func paint(on bool, mark, s string) string {
	if !on {
		return s
	}
	switch mark {
	case markOK:
		return sgrGreen + s + sgrReset
	case markWarn:
		return sgrYellow + s + sgrReset
	case markFail:
		return sgrRed + s + sgrReset
	}
	return s
}

// Spinner timing.
const (
	// spinnerPeriod is how often the spinner frame changes: fast enough to
	// look alive, slow enough not to flood a slow terminal.
	spinnerPeriod = 100 * time.Millisecond
	// idleSpinnerDelay is how long a silence after a finished step lasts
	// before a spinner shows that reach still works: a wait shorter than
	// about 300 ms needs none, a longer one must not look like a hang.
	idleSpinnerDelay = 300 * time.Millisecond
)

var spinnerFrames = []string{"|", "/", "-", "\\"}

// spinner is the line that shows a wait. A named one (a step under way)
// redraws after any line printed above it; an idle one (the silence after
// a step) ends at the first line printed.
type spinner struct {
	what  string
	named bool
	drawn bool
	stop  chan struct{}
}

// startSpinner shows a spinner on ErrOut after delay, replacing any other.
func (ios *IOStreams) startSpinner(what string, named bool, delay time.Duration) {
	if !ios.IsTerminal {
		return
	}
	sp := &spinner{what: what, named: named, stop: make(chan struct{})}
	ios.mu.Lock()
	ios.dropSpinnerLocked()
	ios.spin = sp
	ios.mu.Unlock()
	go ios.spinLoop(sp, delay)
}

func (ios *IOStreams) spinLoop(sp *spinner, delay time.Duration) {
	wait := time.NewTimer(delay)
	defer wait.Stop()
	select {
	case <-sp.stop:
		return
	case <-wait.C:
	}
	t := time.NewTicker(spinnerPeriod)
	defer t.Stop()
	for i := 0; ; i++ {
		ios.mu.Lock()
		if ios.spin != sp {
			ios.mu.Unlock()
			return
		}
		label := "working"
		if sp.what != "" {
			label = sp.what
		}
		fmt.Fprintf(ios.ErrOut, "\r\033[K  %s  %s...", spinnerFrames[i%len(spinnerFrames)], label)
		sp.drawn = true
		ios.mu.Unlock()
		select {
		case <-sp.stop:
			return
		case <-t.C:
		}
	}
}

// stopSpinner ends the spinner, if any, and clears its line.
func (ios *IOStreams) stopSpinner() {
	ios.mu.Lock()
	defer ios.mu.Unlock()
	ios.dropSpinnerLocked()
}

// dropSpinnerLocked ends the spinner and clears its line; ios.mu is held.
func (ios *IOStreams) dropSpinnerLocked() {
	sp := ios.spin
	if sp == nil {
		return
	}
	if sp.drawn {
		fmt.Fprint(ios.ErrOut, "\r\033[K")
	}
	close(sp.stop)
	ios.spin = nil
}

// clearSpinnerLineLocked clears the spinner's line before another line is
// printed: a named spinner redraws below it at its next frame, an idle one
// ends. ios.mu is held.
func (ios *IOStreams) clearSpinnerLineLocked() {
	sp := ios.spin
	if sp == nil {
		return
	}
	if sp.drawn {
		fmt.Fprint(ios.ErrOut, "\r\033[K")
		sp.drawn = false
	}
	if !sp.named {
		close(sp.stop)
		ios.spin = nil
	}
}

// steps prints the human list of steps: one line per step with a mark and
// one line of evidence. On a terminal the running step shows a spinner, and
// so does a silence after a step.
type steps struct {
	ios   *IOStreams
	quiet bool // --json: no human lines
	// stream makes each finished step a JSON "step" event (expose --json).
	stream bool
}

func newSteps(ios *IOStreams, quiet bool) *steps { return &steps{ios: ios, quiet: quiet} }

// start shows that a step is under way ("finding the gateway").
func (s *steps) start(what string) {
	if s.quiet {
		return
	}
	s.ios.startSpinner(what, true, 0)
}

// finishSpinner ends the spinner, if any, and clears its line.
func (s *steps) finishSpinner() { s.ios.stopSpinner() }

// done ends the running step with a mark and a line of evidence.
func (s *steps) done(mark, name, detail string) {
	s.step(&expose.Step{Name: name, Mark: expose.Mark(mark), Detail: detail})
}

// Indents of a step's lines: "  ok   gateway    evidence".
const (
	stepIndent = 18 // where the evidence starts
	noteIndent = 7  // where the notes under it start
)

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
	ios := s.ios
	ios.stopSpinner()
	mark := paint(ios.Color, string(st.Mark), fmt.Sprintf("%-4s", st.Mark))
	head := fmt.Sprintf("  %s %-10s ", mark, st.Name)
	var b strings.Builder
	b.WriteString(head)
	b.WriteString(ios.wrap(st.Detail, stepIndent+max(0, utf8.RuneCountInString(st.Name)-10), stepIndent))
	b.WriteByte('\n')
	for _, n := range st.Notes {
		b.WriteString(strings.Repeat(" ", noteIndent) + ios.wrap(n, noteIndent, noteIndent+2) + "\n")
	}
	if st.Err != nil && ios.Verbose {
		b.WriteString(strings.Repeat(" ", noteIndent) + "error: " + ios.wrap(st.Err.Error(), noteIndent+7, noteIndent+2) + "\n")
	}
	ios.printf("%s", b.String())
	ios.startSpinner("", false, idleSpinnerDelay)
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

// wrap breaks text into lines that fit ios.Width, the first starting at
// column first, the others indented to column indent. Without a width, or
// for a word longer than a line, it keeps the text as it is.
func (ios *IOStreams) wrap(text string, first, indent int) string {
	if ios.Width <= 0 || first+utf8.RuneCountInString(text) <= ios.Width {
		return text
	}
	var b strings.Builder
	col := first
	for i, w := range strings.Fields(text) {
		n := utf8.RuneCountInString(w)
		switch {
		case i == 0:
		case col+1+n > ios.Width && col > indent:
			b.WriteString("\n" + strings.Repeat(" ", indent))
			col = indent
		default:
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += n
	}
	return b.String()
}

func (ios *IOStreams) printf(format string, args ...any) {
	ios.mu.Lock()
	defer ios.mu.Unlock()
	ios.clearSpinnerLineLocked()
	fmt.Fprintf(ios.ErrOut, format, args...)
}

// result writes a line for pipes and scripts on stdout.
func (ios *IOStreams) result(format string, args ...any) {
	ios.mu.Lock()
	defer ios.mu.Unlock()
	ios.clearSpinnerLineLocked()
	fmt.Fprintf(ios.Out, format+"\n", args...)
}

// verdict writes the verdict line on stdout, coloured as mark (ok, warn,
// fail) on a terminal.
func (ios *IOStreams) verdict(mark, format string, args ...any) {
	ios.result("%s", paint(ios.ColorOut, mark, fmt.Sprintf(format, args...)))
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
	ios.clearSpinnerLineLocked()
	ios.Out.Write(buf.Bytes())
}

// diagnosis prints a verdict's candidate causes and advice under its
// headline.
func (ios *IOStreams) diagnosis(d probe.Diagnosis) {
	switch len(d.Causes) {
	case 0:
	case 1:
		ios.printf("  likely cause: %s\n", ios.wrap(d.Causes[0], 16, 4))
	default:
		ios.printf("  possible causes:\n")
		for _, c := range d.Causes {
			ios.printf("    - %s\n", ios.wrap(c, 6, 6))
		}
	}
	for _, a := range d.Advice {
		ios.printf("  -> %s\n", ios.wrap(a, 5, 5))
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

// writeJoined writes bufs to w in order with one Write, joined in
// *scratch (kept for the next call unless big), and returns its error: the bytes of
// one batch of the log stay one write wherever they go.
func writeJoined(w io.Writer, bufs [][]byte, scratch *[]byte) error {
	if len(bufs) == 1 {
		_, err := w.Write(bufs[0])
		return err
	}
	b := (*scratch)[:0]
	for _, p := range bufs {
		b = append(b, p...)
	}
	_, err := w.Write(b)
	if cap(b) > pooledBuffer {
		b = nil // a burst's join is not kept for good
	}
	*scratch = b
	return err
}
