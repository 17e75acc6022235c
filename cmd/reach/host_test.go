package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/reach-net/reach/frame"
	"github.com/reach-net/reach/probe"
)

// clientEvent is the JSON form of a server event, as encoding/json writes
// it: appendClientJSON must produce exactly this.
type clientEvent struct {
	Event      string `json:"event"`
	Action     string `json:"action"`
	Protocol   string `json:"protocol"`
	Client     uint64 `json:"client"`
	Remote     string `json:"remote"`
	Message    string `json:"message,omitempty"`
	MessageB64 []byte `json:"message_b64,omitempty"`
	Bytes      *int   `json:"bytes,omitempty"`
	Truncated  bool   `json:"truncated,omitempty"`
	Error      string `json:"error,omitempty"`
	Clients    int    `json:"clients"`
	Time       string `json:"time"`
}

// referenceJSON encodes ev through clientEvent with encoding/json, as
// IOStreams.writeJSON does.
func referenceJSON(t testing.TB, ev frame.Event) string {
	ce := clientEvent{Event: "client", Action: string(ev.Kind), Protocol: "tcp", Client: ev.Client, Remote: ev.Remote, Clients: ev.Clients,
		Time: ev.Time.Format(jsonTimeLayout)}
	if ev.Kind == frame.EventMessage {
		n := len(ev.Payload)
		ce.Bytes = &n
		msg := cutAt(ev.Payload, jsonMessageLimit)
		ce.Truncated = len(msg) < n
		if utf8.Valid(msg) {
			ce.Message = string(msg)
		} else {
			ce.MessageB64 = msg
		}
	}
	if ev.Err != nil {
		ce.Error = ev.Err.Error()
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ce); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

var at = time.Date(2026, 11, 26, 9, 5, 7, 123456789, time.FixedZone("CET", 3600))

func message(p string) frame.Event {
	return frame.Event{Kind: frame.EventMessage, Client: 3, Remote: "11.0.0.1:50412", Payload: []byte(p), Clients: 2, Time: at}
}

func TestClientJSONMatchesEncodingJSON(t *testing.T) {
	events := []frame.Event{
		{Kind: frame.EventConnect, Client: 1, Remote: "127.0.0.1:5000", Clients: 1, Time: at},
		{Kind: frame.EventDisconnect, Client: 1, Remote: "[::1]:5000", Clients: 0, Time: at},
		{Kind: frame.EventDisconnect, Client: 1, Remote: "127.0.0.1:5000", Err: frame.ErrServerClosed, Time: at},
		{Kind: frame.EventError, Client: 7, Remote: "127.0.0.1:5000", Err: &frame.SizeError{Length: 1 << 31, Max: 1 << 20}, Clients: 4, Time: at},
		{Kind: frame.EventError, Err: errors.New("quote \" backslash \\ tab \t <html> & \u2028"), Time: at},
		message("hola"),
		message(""),
		message("adiós, 你好, 🎉"),
		message("\x00\x01\b\f\n\r\t\x1f\x7f \"quoted\" \\ <a href='x'>&amp;</a> \u2028 \u2029"),
		message(string(probe.NewProbe())),
		message(strings.Repeat("a", jsonMessageLimit)),
		message(strings.Repeat("a", jsonMessageLimit+1)),
		message(strings.Repeat("a", jsonMessageLimit-1) + "ñ and more"), // the cut falls inside ñ
	}
	for i, ev := range events {
		got := string(appendClientJSON(nil, ev, "tcp", ev.Time, jsonMessageLimit))
		if want := referenceJSON(t, ev); got != want {
			t.Errorf("event %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func TestClientJSONBinaryMessageIsBase64(t *testing.T) {
	payload := []byte{'a', 0xf1, 'o', 0xff, 0} // "año" in Windows-1252, and bytes no text has
	line := appendClientJSON(nil, message(string(payload)), "tcp", at, jsonMessageLimit)
	var got map[string]any
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	if _, ok := got["message"]; ok {
		t.Errorf("a binary payload has a lossy message field: %s", line)
	}
	b, err := base64.StdEncoding.DecodeString(fmt.Sprint(got["message_b64"]))
	if err != nil || !bytes.Equal(b, payload) {
		t.Errorf("message_b64 decodes to %q (%v), want %q: %s", b, err, payload, line)
	}
	if got["bytes"] != float64(len(payload)) || got["time"] != "2026-11-26T09:05:07.123+01:00" {
		t.Errorf("bytes or time wrong: %s", line)
	}
}

func FuzzClientJSON(f *testing.F) {
	f.Add("hola", "127.0.0.1:1", "")
	f.Add("\u2028\x00\"\\<>&", "[::1]:2", "frame: x \u2029")
	f.Fuzz(func(t *testing.T, msg, remote, errText string) {
		if !utf8.ValidString(remote) || !utf8.ValidString(errText) {
			t.Skip() // the server's addresses and errors are text
		}
		ev := message(msg)
		ev.Remote = remote
		if errText != "" {
			ev.Err = errors.New(errText)
		}
		if got, want := string(appendClientJSON(nil, ev, "tcp", at, jsonMessageLimit)), referenceJSON(t, ev); got != want {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

// TestClientLineNamesCodePageWithinThePreview: a long message in a legacy
// code page gets its code page named, and the line stays the preview's
// length, not the message's.
func TestClientLineNamesCodePageWithinThePreview(t *testing.T) {
	msg := strings.Repeat("caf\xe9 cr\xe8me ", 1500) // Windows-1252, 18 KB
	line := string((&clientLog{}).render(nil, message(msg)))
	if !strings.Contains(line, "as windows-1252 it reads \"café crème café") || len(line) > 2000 {
		t.Errorf("line of %d bytes for an %d-byte message:\n%.400s", len(line), len(msg), line)
	}
}

func TestClientLineForPeople(t *testing.T) {
	long := strings.Repeat("x", messagePreview-1) + "ñ"
	cases := []struct {
		ev   frame.Event
		want string
	}{
		{frame.Event{Kind: frame.EventConnect, Client: 3, Remote: "11.0.0.1:50412", Clients: 2, Time: at},
			"09:05:07 client 3 11.0.0.1:50412 connected (2 connected)\n"},
		{message("hola"), `09:05:07 client 3 11.0.0.1:50412: "hola"` + "\n"},
		{message("a\tb\"c\\ ñ \xff"), "09:05:07 client 3 11.0.0.1:50412: " + strconv.Quote("a\tb\"c\\ ñ \xff") + "\n"},
		{message(long), "09:05:07 client 3 11.0.0.1:50412: " + strconv.Quote(long[:messagePreview-1]) + "... (201 bytes)\n"},
		{message(string(probe.NewProbe())), "09:05:07 client 3 11.0.0.1:50412: reach probe, echoed\n"},
		{frame.Event{Kind: frame.EventError, Client: 3, Remote: "11.0.0.1:50412", Err: frame.ErrIdleTimeout, Time: at},
			"09:05:07 client 3 11.0.0.1:50412 dropped: frame: idle timeout\n"},
		{frame.Event{Kind: frame.EventDisconnect, Client: 3, Remote: "11.0.0.1:50412", Time: at},
			"09:05:07 client 3 11.0.0.1:50412 disconnected (0 connected)\n"},
	}
	l := &clientLog{}
	for _, tc := range cases {
		if got := string(l.render(nil, tc.ev)); got != tc.want {
			t.Errorf("\n got %q\nwant %q", got, tc.want)
		}
	}
}

func TestAppendQuotedIsStrconvQuote(t *testing.T) {
	for _, s := range []string{"", "hola", "a\"b", `a\b`, "\x7f", "~ }", "ñ", "\xff", "\n", "\u2028"} {
		if got, want := string(appendQuoted(nil, []byte(s))), strconv.Quote(s); got != want {
			t.Errorf("appendQuoted(%q) = %s, want %s", s, got, want)
		}
	}
	// Long messages are checked 32 and 8 bytes a step: a byte to quote at
	// every position of a 70-byte message.
	for _, c := range []byte{'"', '\\', '\n', 0x7f, 0xff, 0} {
		for pos := range 70 {
			p := bytes.Repeat([]byte("a"), 70)
			p[pos] = c
			if got, want := string(appendQuoted(nil, p)), strconv.Quote(string(p)); got != want {
				t.Fatalf("appendQuoted(%q) = %s, want %s", p, got, want)
			}
		}
	}
}

// gatedWriter blocks every Write until released and counts the writes.
type gatedWriter struct {
	gate    chan struct{}
	entered chan struct{} // a write began; capacity 1
	mu      sync.Mutex
	writes  int
	written bytes.Buffer
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	select {
	case w.entered <- struct{}{}:
	default:
	}
	<-w.gate
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.written.Write(p)
}

func TestClientLogNeverHoldsUpTheServer(t *testing.T) {
	out := &gatedWriter{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	var errOut bytes.Buffer
	l := newClientLog(&IOStreams{Out: out, ErrOut: &errOut}, false)
	l.slow = 0 // a write that has not returned is a slow output at once
	l.event(message("first"))
	select {
	case <-out.entered: // the printer is stuck in a write
	case <-time.After(30 * time.Second):
		t.Fatal("the printer never wrote the first line")
	}
	const events = 3 * clientLogQueue
	sent := make(chan struct{})
	go func() {
		for i := range events {
			l.event(message(strconv.Itoa(i)))
		}
		close(sent)
	}()
	select {
	case <-sent:
	case <-time.After(30 * time.Second):
		t.Fatal("the server's events waited for a stalled output")
	}
	close(out.gate)
	l.close()
	lines := strings.Count(out.written.String(), "\n") - 1
	if lines >= events || lines < clientLogQueue {
		t.Errorf("%d of %d events shown; want the queue's %d and the rest counted", lines, events, clientLogQueue)
	}
	if out.writes > 3 {
		t.Errorf("%d writes for %d lines; want one per batch", out.writes, lines)
	}
	if want := fmt.Sprintf("%d client events not shown", events-lines); !strings.Contains(errOut.String(), want) {
		t.Errorf("stderr %q lacks %q", errOut.String(), want)
	}
}

// TestClientLogWaitsForAStarvedPrinter: at the hard bound, with the
// output keeping up, a client's line waits for the printer to take the
// batch rather than being lost.
func TestClientLogWaitsForAStarvedPrinter(t *testing.T) {
	var out bytes.Buffer
	l := newClientLog(&IOStreams{Out: &out, ErrOut: &out}, false)
	l.mu.Lock()
	filler := bytes.Repeat([]byte("x\n"), clientLogMaxBytes/2)
	l.chunks, l.size, l.lines = []logChunk{{bp: &filler, b: filler}}, len(filler), clientLogMaxBytes/2
	l.mu.Unlock()
	l.event(message("after the bound"))
	l.close()
	if got := out.String(); !strings.Contains(got, "after the bound") || strings.Contains(got, "not shown") {
		t.Errorf("the line after the hard bound was lost:\n%s", got[max(0, len(got)-300):])
	}
}

// TestClientLogKeepsUpWithAFastOutput: past the queue's bounds, lines
// are dropped only while a write is slow: a printer that is merely not
// scheduled yet loses none, up to the hard bound.
func TestClientLogKeepsUpWithAFastOutput(t *testing.T) {
	l := &clientLog{slow: slowOutput}
	l.lines, l.size = clientLogQueue, 100
	if !l.fits(1, 100) {
		t.Error("a full queue with no write in progress refused a line")
	}
	l.slow = time.Hour // "just begun" whatever the machine's pace
	l.writing.Store(time.Now().UnixNano())
	if !l.fits(1, 100) {
		t.Error("a full queue with a write just begun refused a line")
	}
	l.slow = slowOutput
	l.writing.Store(time.Now().Add(-2 * slowOutput).UnixNano())
	if l.fits(1, 100) {
		t.Error("a full queue behind a slow write took a line")
	}
	l.writing.Store(0)
	l.size = clientLogMaxBytes
	if l.fits(1, 100) {
		t.Error("a queue at the hard bound took a line")
	}
	l.lines, l.size = 0, 0
	if !l.fits(1, 2*clientLogMaxBytes) {
		t.Error("an empty queue refused a line")
	}
}

func TestQuietLogHidesMessagesOnly(t *testing.T) {
	for _, jsonMode := range []bool{false, true} {
		var out bytes.Buffer
		l := newHostLog(&IOStreams{Out: &out, ErrOut: &out}, jsonMode, true)
		l.event(frame.Event{Kind: frame.EventConnect, Client: 1, Remote: "127.0.0.1:1", Clients: 1})
		l.event(message("hola"))
		l.event(frame.Event{Kind: frame.EventError, Client: 1, Remote: "127.0.0.1:1", Err: frame.ErrIdleTimeout})
		l.event(frame.Event{Kind: frame.EventDisconnect, Client: 1, Remote: "127.0.0.1:1"})
		l.close()
		got := out.String()
		if strings.Contains(got, "hola") || strings.Count(got, "\n") != 3 {
			t.Errorf("json %t: quiet log:\n%s\nwant the connect, the drop and the disconnect only", jsonMode, got)
		}
	}
}

func TestPlainWord(t *testing.T) {
	// Neighbours at the edges of what is plain: a borrow from the byte
	// found must not hide another, nor flag a plain one.
	for _, fill := range []string{"abcdefgh", "        ", "~~~~~~~~", "!#!#!#!#"} {
		for c := range 256 {
			for pos := range 8 {
				w := []byte(fill)
				w[pos] = byte(c)
				want := c >= ' ' && c < utf8.RuneSelf && c != '"' && c != '\\'
				if got := plainWord(binary.LittleEndian.Uint64(w)); got != want {
					t.Errorf("plainWord(%q) = %t, want %t", w, got, want)
				}
			}
		}
	}
}

// TestPlainRun: a run of plain words ends at the word of the first byte
// that is not plain, wherever it is in a step of plainRun's, whatever the
// byte.
func TestPlainRun(t *testing.T) {
	const size = 150 // two steps of 64, whole words after them, a tail
	for c := range 256 {
		for pos := range size {
			p := bytes.Repeat([]byte("!#~ a"), size/5)
			p[pos] = byte(c)
			want := size / 8 * 8
			if c < ' ' || c >= utf8.RuneSelf || c == '"' || c == '\\' {
				want = min(want, pos/8*8)
			}
			if got := plainRun(p); got != want {
				t.Fatalf("plainRun with %#x at %d = %d, want %d", c, pos, got, want)
			}
		}
	}
}

// TestBatchedLinesMatchOneByOne: the lines the log renders for a read's
// messages together (what they share once) are the lines it renders for
// each message's event alone, for every kind of message the log treats
// apart, a big frame of which the server reads only the start included.
func TestBatchedLinesMatchOneByOne(t *testing.T) {
	var wire []byte
	for _, m := range [][]byte{
		[]byte("hola mundo"), []byte("¡hola, señor!"), []byte("caf\xe9 cr\xe8me"), []byte("line\nbreak \"quoted\" \\"),
		probe.NewProbe(), {}, []byte("12345678"), bytes.Repeat([]byte("ñ"), 300), bytes.Repeat([]byte("x"), 100<<10),
		[]byte("ab"), []byte("cd"), []byte("efg"), bytes.Repeat([]byte("z"), jsonMessageLimit), bytes.Repeat([]byte("y"), jsonMessageLimit+1),
		[]byte("tab\there"), []byte("99"),
	} {
		wire = frame.Append(wire, m)
	}
	for _, jsonMode := range []bool{false, true} {
		var batched, single, quiet bytes.Buffer
		lb := newClientLog(&IOStreams{Out: &batched, ErrOut: &batched}, jsonMode)
		ls := newClientLog(&IOStreams{Out: &single, ErrOut: &single}, jsonMode)
		lq := newHostLog(&IOStreams{Out: &quiet, ErrOut: &quiet}, jsonMode, true) // --quiet
		srv := frame.NewServer(frame.ServerConfig{Preview: lb.preview(), OnMessages: func(m frame.Messages) {
			lb.messages(m)
			lq.messages(m)
			for p, size := range m.All() {
				ls.event(m.Event(p, size))
			}
		}})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ln)
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(wire); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, len(wire))); err != nil {
			t.Fatalf("echo: %v", err)
		}
		c.Close()
		srv.Shutdown(context.Background())
		lb.close()
		ls.close()
		lq.close()
		if quiet.Len() != 0 {
			t.Errorf("json %t: --quiet showed messages:\n%s", jsonMode, quiet.String())
		}
		if strings.Count(batched.String(), "\n") != 16 || batched.String() != single.String() {
			t.Errorf("json %t: batched lines\n%s\nwant the 16 lines rendered one by one\n%s", jsonMode, batched.String(), single.String())
		}
	}
}

func TestPrintableWord(t *testing.T) {
	for c := range 256 {
		for pos := range 8 {
			for _, fill := range []byte{'a', ' ', '~', '!'} {
				w := bytes.Repeat([]byte{fill}, 8)
				w[pos] = byte(c)
				want := c >= ' ' && c <= '~' && c != '"' && c != '\\'
				if got := printableWord(binary.LittleEndian.Uint64(w)); got != want {
					t.Errorf("printableWord(%q) = %t, want %t", w, got, want)
				}
			}
		}
	}
}
