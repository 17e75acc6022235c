package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/reach-net/reach/frame"
	"github.com/reach-net/reach/probe"
	"github.com/spf13/cobra"
)

// defaultMaxPerIP leaves most of the default 1024 slots to other hosts
// when one misbehaves, and is still far above what one real host opens
// (a LAN party behind one address).
const defaultMaxPerIP = 128

// hostOptions are the framed echo server's flags, shared by serve and expose.
type hostOptions struct {
	Port        int
	Bind        string
	MaxClients  int
	MaxPerIP    int
	IdleTimeout time.Duration
	MaxFrame    int
	Quiet       bool // no line per message
	// MessageBytes is how much of each message its line or JSON event
	// shows; zero means messagePreview, or jsonMessageLimit with --json.
	MessageBytes int
}

func addHostFlags(cmd *cobra.Command, o *hostOptions) {
	cmd.Flags().StringVar(&o.Bind, "bind", "", "address to listen on (default: all interfaces)")
	cmd.Flags().IntVar(&o.MaxClients, "max-clients", frame.DefaultMaxClients, "most clients served at once; more are refused")
	cmd.Flags().IntVar(&o.MaxPerIP, "max-per-ip", defaultMaxPerIP, "most clients served at once from one address, so one host cannot take every slot (0 = no limit)")
	cmd.Flags().DurationVar(&o.IdleTimeout, "idle-timeout", frame.DefaultIdleTimeout, "drop a client that sends no whole frame for this long")
	cmd.Flags().IntVar(&o.MaxFrame, "max-frame", frame.DefaultMaxFrame, "largest frame accepted, in bytes; a larger header drops the client")
	cmd.Flags().BoolVar(&o.Quiet, "quiet", false, "show no line per message; connects, disconnects and drops still show")
	cmd.Flags().IntVar(&o.MessageBytes, "message-bytes", 0, fmt.Sprintf("how many bytes of each message its line shows, up to the whole message (default %d, with --json %d)", messagePreview, jsonMessageLimit))
}

// messageLimit is how many bytes of each message a line shows: the
// user's --message-bytes, else the default of the log's kind, and never
// more than a frame may hold.
func (o *hostOptions) messageLimit(jsonMode bool) int {
	n := o.MessageBytes
	if n == 0 {
		n = defaultShown(jsonMode)
	}
	if o.MaxFrame > 0 {
		n = min(n, o.MaxFrame)
	}
	return n
}

func (o *hostOptions) validate() error {
	if err := checkPort("port", o.Port); err != nil {
		return err
	}
	if o.MaxClients < 1 {
		return usageErrorf("--max-clients must be at least 1, got %d", o.MaxClients)
	}
	if o.MaxPerIP < 0 {
		return usageErrorf("--max-per-ip must be 0 (no limit) or more, got %d", o.MaxPerIP)
	}
	if o.IdleTimeout <= 0 {
		return usageErrorf("--idle-timeout must be positive, got %s", o.IdleTimeout)
	}
	if o.MaxFrame < 0 || o.MaxFrame > 1<<31-1 {
		return usageErrorf("--max-frame must be from 0 to 2147483647 bytes, got %d", o.MaxFrame)
	}
	if o.MessageBytes < 0 {
		return usageErrorf("--message-bytes must be positive (or 0 for the default), got %d; --quiet shows no line per message", o.MessageBytes)
	}
	return nil
}

// newLog is the log of a server of proto ("tcp" or "udp") with these
// options.
func (o *hostOptions) newLog(ios *IOStreams, jsonMode bool, proto string) *clientLog {
	l := newHostLog(ios, jsonMode, o.Quiet)
	l.proto = proto
	l.limit = o.messageLimit(jsonMode)
	return l
}

// hosted is a running framed echo server: TCP, UDP or both on one port.
type hosted struct {
	listens  []listening // what it listens on, for the first line
	logs     []*clientLog
	shutdown []func(context.Context) error
	done     chan error // the first server that stopped by itself
	running  int
}

// host listens on the port (proto "tcp", "udp" or "both") and serves the
// framed echo protocol until close.
func host(ios *IOStreams, jsonMode bool, o hostOptions, proto string) (*hosted, error) {
	addr := net.JoinHostPort(o.Bind, strconv.Itoa(o.Port))
	h := &hosted{done: make(chan error, 2)}
	if proto == "tcp" || proto == "both" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, listenErr(o.Port, addr, err)
		}
		log := o.newLog(ios, jsonMode, "tcp")
		srv := frame.NewServer(frame.ServerConfig{
			MaxClients:  o.MaxClients,
			MaxPerIP:    o.MaxPerIP,
			IdleTimeout: o.IdleTimeout,
			MaxFrame:    o.MaxFrame,
			Preview:     log.preview(),
			OnEvent:     log.event,
			OnMessages:  log.messages,
		})
		h.add(listening{"tcp", ln.Addr().String()}, log, srv.Shutdown)
		go func() { h.done <- srv.Serve(ln) }()
	}
	if proto == "udp" || proto == "both" {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			h.close(context.Background())
			return nil, listenErr(o.Port, addr, err)
		}
		log := o.newLog(ios, jsonMode, "udp")
		srv := frame.NewUDPServer(frame.UDPConfig{MaxFrame: o.MaxFrame, IdleTimeout: o.IdleTimeout, OnEvent: log.event})
		h.add(listening{"udp", pc.LocalAddr().String()}, log, srv.Shutdown)
		go func() { h.done <- srv.Serve(pc) }()
	}
	return h, nil
}

// listening is one server's protocol and address.
type listening struct {
	proto string // "tcp" or "udp"
	addr  string // ip:port
}

func (l listening) String() string { return l.proto + " " + l.addr }

func (h *hosted) add(l listening, log *clientLog, shutdown func(context.Context) error) {
	h.listens = append(h.listens, l)
	h.logs = append(h.logs, log)
	h.shutdown = append(h.shutdown, shutdown)
	h.running++
}

// listenErr explains why the server could not listen.
func listenErr(port int, addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("port %d is already in use: another program listens there; stop it, pick another --port, or if it is your own server use --no-serve with expose", port)
	}
	if errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("not allowed to listen on port %d: ports below 1024 need root; pick a port from 1024 up", port)
	}
	return fmt.Errorf("listen on %s: %w", addr, err)
}

// hostShutdownGrace is how long clients get to be closed on exit: closing
// sockets is local work, so a second is plenty.
const hostShutdownGrace = time.Second

// close stops accepting, closes every client and waits for them. It runs
// after ctx was cancelled (Ctrl-C), so it keeps only ctx's values.
func (h *hosted) close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hostShutdownGrace)
	defer cancel()
	var first error
	for _, stop := range h.shutdown {
		if err := stop(ctx); err != nil && first == nil {
			first = err
		}
	}
	for ; h.running > 0; h.running-- {
		<-h.done
	}
	for _, l := range h.logs {
		l.close()
	}
	return first
}

// Limits of the client log.
const (
	// messagePreview is how much of a message the human log shows.
	messagePreview = 200
	// jsonMessageLimit is how much of a message a JSON event carries: a
	// chat line or a game's command whole, and the start of a big frame,
	// five times what a line for people shows. Each byte carried is
	// peeked, checked and copied for every frame: side by side, --json
	// with 1 KiB moved 64 KiB frames from 100 clients about 4% faster
	// than with 4 KiB, on 6% less CPU per MB (docs/BENCHMARKS.md).
	// --message-bytes asks for more.
	jsonMessageLimit = 1 << 10
	// clientLogQueue is how many events wait while the output is slow (a
	// paused pipe, a slow terminal); past it they are counted, not shown,
	// so the output never holds up the server.
	clientLogQueue = 4096
	// clientLogBytes bounds the same wait in bytes: 4096 JSON events of
	// 1 KiB messages would be 4 MiB.
	clientLogBytes = 1 << 20
	// slowOutput is how long a write of the log may take before the
	// output counts as slow. Until then the queue's bounds do not drop
	// lines: a busy server's clients can fill them before the printer is
	// next scheduled, with the output waiting for it, and a printer back
	// from its write may wait for a CPU too (a tenth of a second was seen
	// with 100 busy clients on 2 cores).
	slowOutput = time.Second
	// clientLogMaxBytes bounds what waits whatever the output does.
	clientLogMaxBytes = 16 << 20
)

// clientLog prints the server's events. Each read's lines are rendered
// at once, in the server's goroutine (its payload is valid only during
// the call), into a buffer that is then handed to a printer goroutine,
// which writes what is handed to it with one write: a read's lines are
// copied once, when they are rendered.
type clientLog struct {
	ios      *IOStreams
	jsonMode bool
	quiet    bool   // no message events
	limit    int    // bytes of a message a line shows; zero means the default of its kind
	proto    string // "tcp" or "udp": a JSON event's protocol; a human line says "udp client"

	mu      sync.Mutex
	chunks  []logChunk // lines rendered, not yet written, in order
	size    int        // their bytes
	lines   int        // how many
	dropped int64      // events not shown: the queue was full
	closed  bool
	// writing is when the printer's write in progress began, in Unix
	// nanoseconds; zero when it is not writing. A write slower than slow
	// makes the queue's bounds drop lines.
	writing atomic.Int64
	slow    time.Duration
	wake    chan struct{} // lines wait; capacity 1
	full    chan struct{} // the queue is half full: write it now; capacity 1
	taken   chan struct{} // closed when the printer takes the queue; l.mu
	done    chan struct{} // the printer has ended
}

// logChunk is lines waiting for the printer: b, in the buffer *bp of
// lineBuffers, which goes back to the pool once b is written.
type logChunk struct {
	bp *[]byte
	b  []byte
}

// newClientLog returns a log of every event, lines for people or JSON.
func newClientLog(ios *IOStreams, jsonMode bool) *clientLog {
	return newHostLog(ios, jsonMode, false)
}

// newHostLog is newClientLog that, when quiet, leaves out message events
// (--quiet): connects, disconnects and drops still show.
func newHostLog(ios *IOStreams, jsonMode, quiet bool) *clientLog {
	l := &clientLog{ios: ios, jsonMode: jsonMode, quiet: quiet, proto: "tcp", slow: slowOutput,
		wake: make(chan struct{}, 1), full: make(chan struct{}, 1), taken: make(chan struct{}), done: make(chan struct{})}
	go l.print()
	return l
}

// preview is how much of a message the log needs: what a line shows,
// and a character more so that it is cut at a character's start.
func (l *clientLog) preview() int { return l.shown() + utf8.UTFMax }

// shown is how many bytes of a message a line shows.
func (l *clientLog) shown() int {
	if l.limit > 0 {
		return l.limit
	}
	return defaultShown(l.jsonMode)
}

// defaultShown is how many bytes of a message a line shows unless the
// user says: messagePreview for people, jsonMessageLimit in JSON.
func defaultShown(jsonMode bool) int {
	if jsonMode {
		return jsonMessageLimit
	}
	return messagePreview
}

// lineBuffers hold what is rendered: a line, or a read's lines, until
// the printer has written them. They start as big as a busy read's lines
// (a read of 16 KiB of chat lines is 50 KiB of JSON), so that rendering
// them does not grow one, and a buffer that gathers lines takes many.
var lineBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// Sizes of the log's buffers.
const (
	// smallLines is up to how many bytes a read's lines are copied into
	// the buffer before them, not handed over as a buffer of their own.
	smallLines = 2 << 10
	// pooledBuffer is the largest buffer that goes back to lineBuffers:
	// a burst's buffers do not stay for good.
	pooledBuffer = 1 << 20
)

// putLineBuffer gives bp back to lineBuffers, unless it is big.
func putLineBuffer(bp *[]byte) {
	if cap(*bp) <= pooledBuffer {
		*bp = (*bp)[:0]
		lineBuffers.Put(bp)
	}
}

// event renders ev and queues the line, or counts it as not shown when
// the output is behind.
func (l *clientLog) event(ev frame.Event) {
	if l.quiet && ev.Kind == frame.EventMessage {
		return
	}
	bp := lineBuffers.Get().(*[]byte)
	*bp = l.render((*bp)[:0], ev)
	if len(*bp) == 0 {
		putLineBuffer(bp)
		return
	}
	l.queue(bp, 0, 1)
}

// messages renders m's lines, what they share (client, address, time,
// count) once, and queues them with one lock; lines that do not fit the
// queue are counted as not shown.
func (l *clientLog) messages(m frame.Messages) {
	if l.quiet || m.Len() == 0 {
		return
	}
	t := m.Time
	if t.IsZero() {
		t = time.Now()
	}
	bp := lineBuffers.Get().(*[]byte)
	// The buffer holds what every line starts and ends with, then the
	// lines.
	buf := (*bp)[:0]
	if l.jsonMode {
		buf = appendJSONHead(buf, frame.EventMessage, l.proto, m.Client, m.Remote)
	} else {
		buf = append(l.appendHead(buf, m.Client, m.Remote, t), ": "...)
	}
	headEnd := len(buf)
	if l.jsonMode {
		buf = append(buf, jsonPlainMessage...)
		buf = appendJSONTail(buf, m.Clients, t)
	} else {
		buf = append(buf, '\n')
	}
	tailEnd := len(buf)
	limit := l.shown()
	if l.jsonMode {
		buf = jsonMessages(buf, headEnd, tailEnd, m, limit)
	} else {
		for p, size := range m.All() {
			buf = append(buf, buf[:headEnd]...)
			buf = appendHumanMessage(buf, p, size, limit)
			buf = append(buf, buf[headEnd:tailEnd]...)
		}
	}
	*bp = buf
	l.queue(bp, tailEnd, m.Len())
}

// jsonPlainMessage is what a JSON line has between its head and the
// message's text, when the message is plain text.
const jsonPlainMessage = `,"message":"`

// jsonMessages appends the JSON lines of m's messages to buf, which
// holds their head (to headEnd), jsonPlainMessage, and their tail (to
// tailEnd); each message shows its first limit bytes. A message of plain
// text that fits whole, the common case, is its head with
// `,"message":"`, its bytes, and `","bytes":N` with the tail, kept for
// the next message of the same size: the bytes encoding/json would
// write, in three copies.
func jsonMessages(buf []byte, headEnd, tailEnd int, m frame.Messages, limit int) []byte {
	msgEnd := headEnd + len(jsonPlainMessage)
	head, plainHead, tail := buf[:headEnd], buf[:msgEnd], buf[msgEnd:tailEnd]
	var room [128]byte
	sizedTail := room[:0] // `","bytes":N` and the tail, for messages of lastSize
	lastSize := -1
	for p, size := range m.All() {
		if size != len(p) || size == 0 || size > limit || !isPlain(p) {
			buf = append(buf, head...)
			buf = appendJSONMessage(buf, p, size, limit)
			buf = append(buf, tail...)
			continue
		}
		if size != lastSize {
			sizedTail = append(strconv.AppendInt(append(sizedTail[:0], `","bytes":`...), int64(size), 10), tail...)
			lastSize = size
		}
		buf = append(buf, plainHead...)
		buf = append(buf, p...)
		buf = append(buf, sizedTail...)
	}
	return buf
}

// isPlain reports whether p is all bytes that a JSON string holds as they
// are.
func isPlain(p []byte) bool {
	i := plainRun(p)
	for ; i < len(p); i++ {
		if c := p[i]; c < ' ' || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// queue hands the n lines in *bp from start to the printer, with one
// lock; those that do not fit the queue are counted as not shown. bp is
// the log's after the call.
func (l *clientLog) queue(bp *[]byte, start, n int) {
	lines := (*bp)[start:]
	l.mu.Lock()
	for l.size+len(lines) > clientLogMaxBytes && !l.slowWrite() && !l.closed {
		l.awaitPrinter()
	}
	switch {
	case l.closed:
		putLineBuffer(bp)
	case l.fits(n, len(lines)):
		l.add(bp, lines)
		l.lines += n
	default:
		for rest := lines; len(rest) > 0; {
			end := bytes.IndexByte(rest, '\n') + 1 // a message's line has one newline, at its end
			if end == 0 {
				end = len(rest)
			}
			line := rest[:end]
			rest = rest[len(line):]
			if !l.fits(1, len(line)) {
				l.dropped++
				continue
			}
			l.copyIn(line)
			l.lines++
		}
		putLineBuffer(bp)
	}
	full := l.lines >= clientLogQueue/2 || l.size >= clientLogBytes/2
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	if full {
		select {
		case l.full <- struct{}{}:
		default:
		}
	}
}

// add queues lines, held in *bp: a few bytes are copied after the lines
// before them, more are queued in bp as they are. l.mu is held.
func (l *clientLog) add(bp *[]byte, lines []byte) {
	if len(lines) <= smallLines {
		l.copyIn(lines)
		putLineBuffer(bp)
		return
	}
	l.chunks = append(l.chunks, logChunk{bp: bp, b: lines})
	l.size += len(lines)
}

// copyIn queues a copy of lines: after the last lines queued when their
// buffer has room, else in a buffer of lineBuffers. l.mu is held.
func (l *clientLog) copyIn(lines []byte) {
	l.size += len(lines)
	if k := len(l.chunks) - 1; k >= 0 {
		if c := &l.chunks[k]; cap(c.b)-len(c.b) >= len(lines) {
			c.b = append(c.b, lines...)
			return
		}
	}
	bp := lineBuffers.Get().(*[]byte)
	*bp = append((*bp)[:0], lines...)
	l.chunks = append(l.chunks, logChunk{bp: bp, b: *bp})
}

// fits reports whether n more lines of size bytes may join the queue:
// within the queue's bounds (a line always, when none waits), or past
// them while the output keeps up (no write in progress for slow), to
// clientLogMaxBytes. l.mu is held.
func (l *clientLog) fits(n, size int) bool {
	switch {
	case l.lines == 0 || (l.lines+n <= clientLogQueue && l.size+size <= clientLogBytes):
		return true
	case l.size+size > clientLogMaxBytes:
		return false
	}
	return !l.slowWrite()
}

// slowWrite reports whether the printer's write in progress has taken
// longer than slow: the output is slow (a paused pipe, a slow terminal).
func (l *clientLog) slowWrite() bool {
	began := l.writing.Load()
	return began != 0 && time.Since(time.Unix(0, began)) >= l.slow
}

// awaitPrinter waits, l.mu held and released meanwhile, until the
// printer takes the queue, or its write in progress has been slow: at the
// hard bound with the output keeping up, the printer is behind only for
// want of a CPU, and a client's lines wait for it rather than being lost.
func (l *clientLog) awaitPrinter() {
	taken := l.taken
	var slow <-chan time.Time
	if began := l.writing.Load(); began != 0 {
		t := time.NewTimer(time.Until(time.Unix(0, began).Add(l.slow)))
		defer t.Stop()
		slow = t.C
	}
	l.mu.Unlock()
	for _, c := range []chan struct{}{l.wake, l.full} {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	select {
	case <-taken:
	case <-slow:
	}
	l.mu.Lock()
}

// flushDelay is how long the printer lets lines gather after the first
// it is woken for: a busy server's reads come in bursts, and one write (and
// one wake of the printer) per burst rather than per read is a few
// percent of its time. A line shows this much late at most.
const flushDelay = 2 * time.Millisecond

// print writes what is queued with one write until the log is closed: a
// flushDelay after its first line, or at once when the queue is half
// full.
func (l *clientLog) print() {
	defer close(l.done)
	var spare []logChunk
	var bufs [][]byte
	var scratch []byte // where a writer that is not a file gets bufs joined
	gather := time.NewTimer(flushDelay)
	for range l.wake {
		gather.Reset(flushDelay)
		select {
		case <-gather.C:
		case <-l.full:
			gather.Stop()
		}
		l.mu.Lock()
		chunks, closed := l.chunks, l.closed
		l.chunks, l.size, l.lines = spare[:0], 0, 0
		close(l.taken)
		l.taken = make(chan struct{})
		if len(chunks) > 0 {
			l.writing.Store(time.Now().UnixNano())
		}
		l.mu.Unlock()
		if len(chunks) > 0 {
			bufs = bufs[:0]
			for _, c := range chunks {
				bufs = append(bufs, c.b)
			}
			l.ios.mu.Lock()
			writeBuffers(l.ios.Out, bufs, &scratch)
			l.ios.mu.Unlock()
			l.writing.Store(0)
			clear(bufs)
			for i, c := range chunks {
				putLineBuffer(c.bp)
				chunks[i] = logChunk{}
			}
		}
		spare = chunks
		if closed {
			return
		}
	}
}

// close prints what is queued and says how many events were not shown.
func (l *clientLog) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	select {
	case l.full <- struct{}{}:
	default:
	}
	<-l.done
	l.mu.Lock()
	n := l.dropped
	l.dropped = 0
	l.mu.Unlock()
	if n > 0 {
		l.ios.printf("%d client events not shown: the output was slower than the clients\n", n)
	}
}

// render appends ev's line to b: JSON, or for people, the time of day
// first (a server runs for hours). Nothing is appended for an unknown kind.
func (l *clientLog) render(b []byte, ev frame.Event) []byte {
	t := ev.Time
	if t.IsZero() {
		t = time.Now()
	}
	if l.jsonMode {
		return appendClientJSON(b, ev, l.proto, t, l.shown())
	}
	start := len(b)
	b = l.appendHead(b, ev.Client, ev.Remote, t)
	switch ev.Kind {
	case frame.EventConnect:
		b = append(b, " connected ("...)
		b = strconv.AppendInt(b, int64(ev.Clients), 10)
		b = append(b, " connected)"...)
	case frame.EventMessage:
		b = append(b, ": "...)
		b = appendHumanMessage(b, ev.Payload, ev.PayloadSize(), l.shown())
	case frame.EventDisconnect:
		b = append(b, " disconnected ("...)
		b = strconv.AppendInt(b, int64(ev.Clients), 10)
		b = append(b, " connected)"...)
	case frame.EventError:
		b = append(b, " dropped: "...)
		if ev.Err != nil {
			b = append(b, ev.Err.Error()...)
		}
	default:
		return b[:start]
	}
	return append(b, '\n')
}

// appendHead appends what a human line starts with: the time of day,
// then which client.
func (l *clientLog) appendHead(b []byte, client uint64, remote string, t time.Time) []byte {
	b = appendClock(b, t)
	b = append(b, ' ')
	if l.proto == "udp" {
		b = append(b, "udp "...)
	}
	b = append(b, "client "...)
	b = strconv.AppendUint(b, client, 10)
	b = append(b, ' ')
	return append(b, remote...)
}

// appendHumanMessage appends what a human line says of a message whose
// payload p (its start, when shorter) is of size bytes: the reach probe
// by name, else the message's first limit bytes quoted, its code page
// named when it is not UTF-8.
func appendHumanMessage(b, p []byte, size, limit int) []byte {
	if probe.IsProbe(p) {
		return append(b, "reach probe, echoed"...)
	}
	cut := cutAt(p, limit)
	b, printable := appendQuotedASCII(b, cut)
	if len(cut) < size {
		b = append(b, "... ("...)
		b = strconv.AppendInt(b, int64(size), 10)
		b = append(b, " bytes)"...)
	}
	if printable && len(cut) == len(p) {
		return b // printable ASCII is UTF-8: no code page to name
	}
	// The code page is judged on the message's start, as much as a JSON
	// event carries (or the line, when it shows more); the line shows the
	// reading of the part it quotes.
	if w := cutAt(wholeRunes(p, size), max(limit, jsonMessageLimit)); !utf8.Valid(w) && !hasUTF8Letter(w) {
		if lt, ok := frame.DetectCodePage(w); ok {
			lt.Text = firstRunes(lt.Text, len(cut)) // one character per byte
			b = append(b, " ("...)
			b = append(b, lt.String()...)
			b = append(b, "; "...)
			b = append(b, frame.LegacyAdvice...)
			b = append(b, ')')
		}
	}
	return b
}

// firstRunes is s's first n characters.
func firstRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// appendClock appends t's time of day, 15:04:05.
func appendClock(b []byte, t time.Time) []byte {
	h, m, s := t.Clock()
	return append(b, byte('0'+h/10), byte('0'+h%10), ':', byte('0'+m/10), byte('0'+m%10), ':', byte('0'+s/10), byte('0'+s%10))
}

// wholeRunes is a message's payload p, or when it holds only the start
// of the message of size bytes, that start without a character its end
// cuts.
func wholeRunes(p []byte, size int) []byte {
	if size <= len(p) {
		return p
	}
	for i := len(p) - 1; i >= 0 && i >= len(p)-utf8.UTFMax; i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				return p[:i]
			}
			break
		}
	}
	return p
}

// cutAt returns p's first limit bytes, fewer if that would split a UTF-8
// character.
func cutAt(p []byte, limit int) []byte {
	if len(p) <= limit {
		return p
	}
	for i := limit; i > 0 && i > limit-utf8.UTFMax; i-- {
		if utf8.RuneStart(p[i]) {
			return p[:i]
		}
	}
	return p[:limit]
}

// appendQuoted appends strconv.Quote(string(p)); printable ASCII, the
// common case, without the string copy.
func appendQuoted(b, p []byte) []byte {
	b, _ = appendQuotedASCII(b, p)
	return b
}

// appendQuotedASCII is appendQuoted that also reports whether p was all
// printable ASCII (and so valid UTF-8).
func appendQuotedASCII(b, p []byte) ([]byte, bool) {
	i := 0
	for ; i+32 <= len(p); i += 32 {
		q := p[i : i+32]
		if notPrintable(binary.LittleEndian.Uint64(q))|notPrintable(binary.LittleEndian.Uint64(q[8:]))|
			notPrintable(binary.LittleEndian.Uint64(q[16:]))|notPrintable(binary.LittleEndian.Uint64(q[24:])) != 0 {
			break
		}
	}
	for ; i+8 <= len(p) && printableWord(binary.LittleEndian.Uint64(p[i:])); i += 8 {
	}
	for _, c := range p[i:] {
		if c < ' ' || c > '~' || c == '"' || c == '\\' {
			return strconv.AppendQuote(b, string(p)), false
		}
	}
	b = append(b, '"')
	b = append(b, p...)
	return append(b, '"'), true
}

// appendClientJSON appends ev as a JSON "client" event and a newline:
// the fields of clientEvent (host_test.go) in its order, as encoding/json
// with SetEscapeHTML(false) writes them, a message's first limit bytes
// in it. A message that is not UTF-8 is message_b64, its bytes in
// standard base64, rather than U+FFFD.
func appendClientJSON(b []byte, ev frame.Event, proto string, t time.Time, limit int) []byte {
	b = appendJSONHead(b, ev.Kind, proto, ev.Client, ev.Remote)
	if ev.Kind == frame.EventMessage {
		b = appendJSONMessage(b, ev.Payload, ev.PayloadSize(), limit)
	}
	if ev.Err != nil {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, ev.Err.Error())
	}
	return appendJSONTail(b, ev.Clients, t)
}

// appendJSONHead appends the fields a JSON client event starts with.
func appendJSONHead(b []byte, kind frame.EventKind, proto string, client uint64, remote string) []byte {
	b = append(b, `{"event":"client","action":`...)
	b = appendJSONString(b, string(kind))
	b = append(b, `,"protocol":`...)
	b = appendJSONString(b, proto)
	b = append(b, `,"client":`...)
	b = strconv.AppendUint(b, client, 10)
	b = append(b, `,"remote":`...)
	return appendJSONString(b, remote)
}

// appendJSONMessage appends a message event's fields for payload p (its
// start, when shorter) of a message of size bytes, its first limit bytes
// as the message.
func appendJSONMessage(b, p []byte, size, limit int) []byte {
	msg := cutAt(p, limit)
	// The plain start is ASCII: the message is UTF-8 if its rest is.
	plain := plainRun(msg)
	switch {
	case len(msg) == 0:
	case plain == len(msg) || utf8.Valid(msg[plain:]):
		b = append(b, `,"message":`...)
		b = appendJSONFrom(b, msg, plain)
	default:
		b = append(b, `,"message_b64":"`...)
		b = base64.StdEncoding.AppendEncode(b, msg)
		b = append(b, '"')
	}
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, int64(size), 10)
	if len(msg) < size {
		b = append(b, `,"truncated":true`...)
	}
	return b
}

// appendJSONTail appends the fields a JSON client event ends with, and
// its newline.
func appendJSONTail(b []byte, clients int, t time.Time) []byte {
	b = append(b, `,"clients":`...)
	b = strconv.AppendInt(b, int64(clients), 10)
	b = append(b, `,"time":"`...)
	b = appendJSONTime(b, t)
	return append(b, "\"}\n"...)
}

// plainWord reports whether the 8 bytes in x are all ASCII that a JSON
// string holds as it is (no control character, quote or backslash): a
// message of plain text is checked 8 bytes at a time.
func plainWord(x uint64) bool { return notPlain(x) == 0 }

// SWAR constants: a one and a high bit in every byte of a word.
const ones, highs = 0x0101010101010101, 0x8080808080808080

// notPlain is zero when the 8 bytes in x are plainWord's.
func notPlain(x uint64) uint64 { return plainBits(x) & highs }

// plainBits is notPlain before its mask: a byte's high bit is set when
// the byte is not ASCII (it is set in x), is below ' ' or is a quote (its
// XOR with 2 maps those, and nothing else, below '!', and taking '!' from
// it borrows), or is a backslash (its XOR with it is zero, and taking one
// from zero borrows). A borrow runs on into the next byte only from a
// byte already found. The other bits are noise: a run of words is masked
// once.
func plainBits(x uint64) uint64 {
	return x | ((x ^ ones*2) - ones*'!') | ((x ^ ones*'\\') - ones)
}

// plainRun returns how many of p's first bytes, a multiple of 8, are
// plainWord's: a long message of plain text is checked 64 bytes a step,
// with one mask and one branch.
func plainRun(p []byte) int {
	i := 0
	for ; i+64 <= len(p); i += 64 {
		q := p[i : i+64 : i+64]
		if (plainBits(binary.LittleEndian.Uint64(q))|plainBits(binary.LittleEndian.Uint64(q[8:]))|
			plainBits(binary.LittleEndian.Uint64(q[16:]))|plainBits(binary.LittleEndian.Uint64(q[24:]))|
			plainBits(binary.LittleEndian.Uint64(q[32:]))|plainBits(binary.LittleEndian.Uint64(q[40:]))|
			plainBits(binary.LittleEndian.Uint64(q[48:]))|plainBits(binary.LittleEndian.Uint64(q[56:])))&highs != 0 {
			break
		}
	}
	for ; i+8 <= len(p) && plainWord(binary.LittleEndian.Uint64(p[i:])); i += 8 {
	}
	return i
}

// formattedTime is a time as JSON events show it, valid for its whole
// millisecond in its zone (zones change offset on whole seconds).
type formattedTime struct {
	ms  int64
	loc *time.Location
	s   []byte
}

// lastJSONTime is the last time formatted for a JSON event: the events of
// one batch share one time, and many batches share a millisecond.
var lastJSONTime atomic.Pointer[formattedTime]

// appendJSONTime appends t.AppendFormat(jsonTimeLayout), reusing the
// last time formatted when it is of the same millisecond.
func appendJSONTime(b []byte, t time.Time) []byte {
	ms, loc := t.UnixMilli(), t.Location()
	if f := lastJSONTime.Load(); f != nil && f.ms == ms && f.loc == loc && ms >= 0 {
		return append(b, f.s...)
	}
	start := len(b)
	b = t.AppendFormat(b, jsonTimeLayout)
	lastJSONTime.Store(&formattedTime{ms: ms, loc: loc, s: slices.Clone(b[start:])})
	return b
}

// printableWord reports whether the 8 bytes in x are all printable ASCII
// that strconv.Quote leaves as they are: plainWord's, but not DEL.
func printableWord(x uint64) bool { return notPrintable(x) == 0 }

// notPrintable is zero when the 8 bytes in x are printableWord's.
func notPrintable(x uint64) uint64 {
	return notPlain(x) | ((x^ones*0x7f)-ones)&highs
}

// jsonTimeLayout is RFC 3339 to the millisecond, in the host's zone.
const jsonTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// appendJSONString appends s as a JSON string, escaped as encoding/json
// does without HTML escaping; s is valid UTF-8 (invalid bytes would become
// U+FFFD, as there).
func appendJSONString[T string | []byte](b []byte, s T) []byte {
	return appendJSONFrom(b, s, 0)
}

// appendJSONFrom is appendJSONString of s whose first plain bytes are
// known to need no escape.
func appendJSONFrom[T string | []byte](b []byte, s T, plain int) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := plain; i < len(s); {
		for i+8 <= len(s) && plainWord(uint64(s[i])|uint64(s[i+1])<<8|uint64(s[i+2])<<16|uint64(s[i+3])<<24|
			uint64(s[i+4])<<32|uint64(s[i+5])<<40|uint64(s[i+6])<<48|uint64(s[i+7])<<56) {
			i += 8
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune([]byte(s[i:min(i+utf8.UTFMax, len(s))]))
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, `\ufffd`...)
				i++
				start = i
				continue
			}
			if r == '\u2028' || r == '\u2029' {
				b = append(b, s[start:i]...)
				b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		if c >= ' ' && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// hasUTF8Letter reports whether p holds a valid multi-byte UTF-8
// character: then it is UTF-8 text with a stray byte, not a legacy code
// page.
func hasUTF8Letter(p []byte) bool {
	for len(p) > 0 {
		r, n := utf8.DecodeRune(p)
		if r != utf8.RuneError && n > 1 {
			return true
		}
		p = p[n:]
	}
	return false
}
