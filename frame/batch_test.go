package frame

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestScanFrames(t *testing.T) {
	two := append(Append(nil, []byte("hola")), Append(nil, nil)...) // 8 + 4 bytes
	cases := []struct {
		name  string
		in    []byte
		max   int
		want  batch
		isErr error
	}{
		{"empty", nil, 100, batch{need: HeaderSize}, nil},
		{"short header", []byte{4, 0}, 100, batch{need: HeaderSize}, nil},
		{"header only", []byte{4, 0, 0, 0}, 100, batch{need: 8}, nil},
		{"one frame", Append(nil, []byte("hola")), 100, batch{end: 8, frames: 1, need: HeaderSize}, nil},
		{"two frames, an empty one last", two, 100, batch{end: 12, frames: 2, need: HeaderSize}, nil},
		{"two frames and half a third", append(two, 10, 0, 0, 0, 'a'), 100, batch{end: 12, frames: 2, need: 14}, nil},
		{"two frames and a third's first header byte", append(two, 10), 100, batch{end: 12, frames: 2, need: HeaderSize}, nil},
		{"at the limit", Append(nil, make([]byte, 100)), 100, batch{end: 104, frames: 1, need: HeaderSize}, nil},
		{"over the limit after two frames", append(two, 101, 0, 0, 0), 100, batch{end: 12, frames: 2}, ErrTooLarge},
		{"top bit after one frame", append(Append(nil, []byte("x")), 0, 0, 0, 0x80), 1 << 30, batch{end: 5, frames: 1}, ErrNegativeLength},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := scanFrames(tc.in, tc.max)
			if !errors.Is(err, tc.isErr) || (err != nil) != (tc.isErr != nil) {
				t.Fatalf("err %v, want %v", err, tc.isErr)
			}
			if got != tc.want {
				t.Errorf("batch %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestNextBufferSize(t *testing.T) {
	const big = HeaderSize + firstChunk
	cases := []struct {
		name       string
		cur        int
		filled     bool
		have, need int
		want       int
	}{
		{"idle stays idle", idleBuffer, false, 0, HeaderSize, idleBuffer},
		{"a chat line waits in the idle buffer", idleBuffer, false, 2, HeaderSize, idleBuffer},
		{"filled doubles", idleBuffer, true, 100, 200, 2 * idleBuffer},
		{"keeps doubling while filled", 64 << 10, true, 100, 200, 128 << 10},
		{"small frames stop at the batch buffer", batchBuffer, true, 100, 200, batchBuffer},
		{"drained goes back to idle", batchBuffer, false, 10, 68, idleBuffer},
		{"drained mid frame keeps what it holds", 128 << 10, false, 100 << 10, 200 << 10, 128 << 10},
		{"a big frame's header buys firstChunk", idleBuffer, false, 20, 1 << 20, big},
		{"a lying header buys no more", idleBuffer, false, 13, 1<<31 - 1, big},
		{"a frame that fits the idle buffer", idleBuffer, false, 20, 1000, idleBuffer},
		{"a frame just over it gets its size", idleBuffer, false, 20, 3000, 3000},
		{"a big frame grows past the batch buffer as it arrives", batchBuffer, true, batchBuffer, 1 << 20, 2 * batchBuffer},
		{"to exactly its size at the end", 1 << 20, true, 1 << 20, 1<<20 + HeaderSize, 1<<20 + HeaderSize},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := nextBufferSize(tc.cur, tc.filled, tc.have, tc.need); got != tc.want {
				t.Errorf("nextBufferSize(%d, %t, %d, %d) = %d, want %d", tc.cur, tc.filled, tc.have, tc.need, got, tc.want)
			}
		})
	}
}

// clientEvents returns the events of one client, in order.
func clientEvents(rec *recorder, id uint64) []Event {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []Event
	for _, e := range rec.events {
		if e.Client == id {
			out = append(out, e)
		}
	}
	return out
}

// readEchoes reads exactly want from c.
func readEchoes(t *testing.T, c net.Conn, want []byte) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading %d bytes of echo: %v", len(want), err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("echo differs from what was sent")
	}
}

func TestServerManyFramesInOneWrite(t *testing.T) {
	rec := newRecorder()
	_, addr := startServer(t, ServerConfig{OnEvent: rec.on})
	c := dial(t, addr)
	const frames = 2000 // 30 KiB: many per read, more than the idle buffer
	var wire []byte
	for i := range frames {
		wire = Append(wire, []byte(fmt.Sprintf("message %d", i)))
	}
	if _, err := c.Write(wire); err != nil {
		t.Fatal(err)
	}
	readEchoes(t, c, wire)
	msgs := rec.waitCount(t, "message", frames, kind(EventMessage))
	for i, e := range msgs {
		if want := fmt.Sprintf("message %d", i); string(e.Payload) != want {
			t.Fatalf("event %d carries %q, want %q: out of order or corrupted", i, e.Payload, want)
		}
	}
}

func TestServerFramesBiggerThanTheIdleBuffer(t *testing.T) {
	rec := newRecorder()
	_, addr := startServer(t, ServerConfig{OnEvent: rec.on})
	c := dial(t, addr)
	r := NewReader(c, 0)
	sizes := []int{idleBuffer - HeaderSize, idleBuffer - HeaderSize + 1, 3000, batchBuffer + 1, DefaultMaxFrame, 5, 0}
	for _, n := range sizes {
		if err := roundTrip(c, r, bytes.Repeat([]byte{byte(n)}, n)); err != nil {
			t.Fatalf("%d-byte frame: %v", n, err)
		}
	}
	// Two big frames in one write, back to back with small ones.
	var wire []byte
	for _, n := range []int{1, 200_000, 2, 300_000, 3} {
		wire = Append(wire, bytes.Repeat([]byte{byte(n)}, n))
	}
	if _, err := c.Write(wire); err != nil {
		t.Fatal(err)
	}
	readEchoes(t, c, wire)
	msgs := rec.waitCount(t, "message", len(sizes)+5, kind(EventMessage))
	for i, n := range append(sizes, 1, 200_000, 2, 300_000, 3) {
		if len(msgs[i].Payload) != n {
			t.Errorf("event %d: %d bytes, want %d", i, len(msgs[i].Payload), n)
		}
	}
}

// A frame over the limit in the middle of a batch: the frames before it
// are echoed and logged, then the client is dropped with the reason.
func TestServerLimitMidBatch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header []byte
		want   error
	}{
		{"over the limit", []byte{0xe9, 0x03, 0, 0}, ErrTooLarge}, // 1001
		{"top bit", []byte{0, 0, 0, 0x80}, ErrNegativeLength},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			_, addr := startServer(t, ServerConfig{OnEvent: rec.on, MaxFrame: 1000})
			c := dial(t, addr)
			good := append(Append(nil, []byte("first")), Append(nil, []byte("second"))...)
			if _, err := c.Write(append(append(good, tc.header...), "and more"...)); err != nil {
				t.Fatal(err)
			}
			readEchoes(t, c, good)
			expectClosed(t, c, tc.name)
			rec.waitCount(t, "disconnect", 1, kind(EventDisconnect))
			var got []string
			for _, e := range clientEvents(rec, 1) {
				s := string(e.Kind)
				if e.Kind == EventMessage {
					s += " " + string(e.Payload)
				}
				if e.Kind == EventError && !errors.Is(e.Err, tc.want) {
					t.Errorf("dropped with %v, want %v", e.Err, tc.want)
				}
				got = append(got, s)
			}
			want := "connect,message first,message second,error,disconnect"
			if strings.Join(got, ",") != want {
				t.Errorf("events %s, want %s", strings.Join(got, ","), want)
			}
		})
	}
}

// TestServerOnMessages: with OnMessages, every message event comes in
// order, in groups that share a client and a time, big (spliced) frames
// too, and none goes to OnEvent.
func TestServerOnMessages(t *testing.T) {
	rec := newRecorder()
	var groups int
	_, addr := startServer(t, ServerConfig{OnEvent: rec.on, Preview: 204, OnMessages: func(m Messages) {
		rec.mu.Lock()
		groups++
		rec.mu.Unlock()
		n := 0
		for p, size := range m.All() {
			if m.Client != 1 || m.Time.IsZero() || m.Clients != 1 {
				t.Errorf("messages of client %d at %v with %d clients; want client 1, a time, 1 client", m.Client, m.Time, m.Clients)
			}
			rec.on(m.Event(p, size))
			n++
		}
		if n != m.Len() {
			t.Errorf("All yielded %d messages, Len says %d", n, m.Len())
		}
	}})
	c := dial(t, addr)
	const frames = 2000
	var wire []byte
	for i := range frames {
		wire = Append(wire, []byte(fmt.Sprintf("message %d", i)))
	}
	big := bytes.Repeat([]byte("b"), 100<<10)
	wire = Append(wire, big)
	if _, err := c.Write(wire); err != nil {
		t.Fatal(err)
	}
	readEchoes(t, c, wire)
	msgs := rec.waitCount(t, "message", frames+1, kind(EventMessage))
	for i, e := range msgs[:frames] {
		if want := fmt.Sprintf("message %d", i); string(e.Payload) != want {
			t.Fatalf("event %d carries %q, want %q: out of order or corrupted", i, e.Payload, want)
		}
	}
	if last := msgs[frames]; last.PayloadSize() != len(big) || !bytes.Equal(last.Payload, big[:len(last.Payload)]) {
		t.Fatalf("big frame's event: %d bytes of %d", len(last.Payload), last.PayloadSize())
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if groups >= frames {
		t.Fatalf("%d groups for %d messages; want them grouped by read", groups, frames+1)
	}
}
