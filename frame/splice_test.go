package frame

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// TestServerPreviewEchoesBigFramesWhole: with a preview, big frames are
// spliced back, small ones read; every echo is the exact frame, in order,
// and every event carries the payload's start and its whole size.
func TestServerPreviewEchoesBigFramesWhole(t *testing.T) {
	const preview = 204
	rec := newRecorder()
	_, addr := startServer(t, ServerConfig{OnEvent: rec.on, Preview: preview})
	rng := rand.New(rand.NewPCG(1, 2))
	var payloads [][]byte
	for _, n := range []int{5, 100 << 10, 64 << 10, 3, bigFrame, 1 << 20, preview, 70 << 10, 0, 40 << 10} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		payloads = append(payloads, p)
	}
	var all []byte
	for _, p := range payloads {
		all = Append(all, p)
	}
	c := dial(t, addr)
	go func() {
		// Uneven writes: a frame's header, its preview and its rest
		// arrive in pieces, several frames in one.
		for rest := all; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(90<<10))
			if _, err := c.Write(rest[:n]); err != nil {
				return
			}
			rest = rest[n:]
		}
	}()
	readEchoes(t, c, all)
	msgs := rec.waitCount(t, "message", len(payloads), kind(EventMessage))
	for i, p := range payloads {
		want := p[:min(len(p), preview)]
		if len(msgs[i].Payload) > len(want) {
			want = p // read whole: it came in with other frames
		}
		if !bytes.Equal(msgs[i].Payload, want) || msgs[i].PayloadSize() != len(p) {
			t.Errorf("event %d: %d bytes of %d, want the first %d (or all) of %d", i, len(msgs[i].Payload), msgs[i].PayloadSize(), len(want), len(p))
		}
	}
}

// TestServerPreviewTruncatedBigFrame: a big frame that ends early, part
// of it already spliced back, is a truncated frame as before.
func TestServerPreviewTruncatedBigFrame(t *testing.T) {
	// After a big frame, the next one's head is looked at in place and
	// the frame spliced whole: the same error either way.
	for _, before := range []int{0, 1, 3} {
		rec := newRecorder()
		_, addr := startServer(t, ServerConfig{OnEvent: rec.on, Preview: 204})
		c := dial(t, addr)
		var whole []byte
		for range before {
			whole = Append(whole, bytes.Repeat([]byte("w"), 70<<10))
		}
		frame := Append(nil, make([]byte, 100<<10))
		if _, err := c.Write(append(whole, frame[:HeaderSize+50<<10]...)); err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).CloseWrite()
		readEchoes(t, c, whole)
		ev := rec.waitCount(t, "error", 1, kind(EventError))[0]
		var te *TruncatedError
		if !errors.As(ev.Err, &te) || te.InHeader || te.Got != 50<<10 || te.Want != 100<<10 {
			t.Fatalf("after %d big frames: error %v, want truncated at 51200 of 102400 payload bytes", before, ev.Err)
		}
		if msgs := rec.count(kind(EventMessage)); msgs != before {
			t.Fatalf("after %d big frames: %d message events", before, msgs)
		}
	}
}

// TestServerPreviewIdleSides: a big frame stalled half-way is the
// client's idle sending; echoes never read are its idle reading.
func TestServerPreviewIdleSides(t *testing.T) {
	const idle = 300 * time.Millisecond
	rec := newRecorder()
	_, addr := startServer(t, ServerConfig{OnEvent: rec.on, Preview: 204, IdleTimeout: idle})

	stalled := dial(t, addr)
	frame := Append(nil, make([]byte, 100<<10))
	if _, err := stalled.Write(frame[:HeaderSize+50<<10]); err != nil {
		t.Fatal(err)
	}
	ev := rec.waitCount(t, "error", 1, kind(EventError))[0]
	var ie *IdleError
	if !errors.As(ev.Err, &ie) || ie.Echo {
		t.Fatalf("stalled sender: %v, want idle sending", ev.Err)
	}

	deaf := dial(t, addr)
	big := Append(nil, make([]byte, 1<<20))
	go func() {
		for {
			deaf.SetWriteDeadline(time.Now().Add(waitLimit))
			if _, err := deaf.Write(big); err != nil {
				return
			}
		}
	}()
	evs := rec.waitCount(t, "error", 2, kind(EventError))
	if !errors.As(evs[1].Err, &ie) || !ie.Echo {
		t.Fatalf("client reading nothing: %v, want idle reading", evs[1].Err)
	}
}

// TestServerPreviewSplicesARunInOrder: big frames that are all there at
// once go back in one splice pass; each echo is still the exact frame, in
// order, and each is an event of its own, with its own head and size.
func TestServerPreviewSplicesARunInOrder(t *testing.T) {
	const preview = 204
	rec := newRecorder()
	_, addr := startServer(t, ServerConfig{OnEvent: rec.on, Preview: preview})
	rng := rand.New(rand.NewPCG(3, 4))
	big := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		return p
	}
	c := dial(t, addr)
	first := Append(nil, big(64<<10)) // after a big frame, the next heads are looked at in place
	if _, err := c.Write(first); err != nil {
		t.Fatal(err)
	}
	readEchoes(t, c, first)
	var payloads [][]byte
	var run []byte
	for i := range 2 * runFrames {
		p := big(bigFrame + i*9<<10)
		payloads = append(payloads, p)
		run = Append(run, p)
	}
	go c.Write(run) // all at once: as much as the socket takes is there whole
	readEchoes(t, c, run)
	msgs := rec.waitCount(t, "message", 1+len(payloads), kind(EventMessage))[1:]
	for i, p := range payloads {
		if !bytes.Equal(msgs[i].Payload, p[:min(len(msgs[i].Payload), len(p))]) || len(msgs[i].Payload) < preview || msgs[i].PayloadSize() != len(p) {
			t.Errorf("event %d: %d bytes of %d, want the first %d (or more) of frame %d, %d bytes", i, len(msgs[i].Payload), msgs[i].PayloadSize(), preview, i, len(p))
		}
	}
}
