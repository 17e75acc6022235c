package frame

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// serveClient echoes c's frames until it leaves or misbehaves; n is the
// number of clients connected when it arrived.
func (s *Server) serveClient(c *client, n int) {
	defer s.wg.Done()
	s.emit(Event{Kind: EventConnect, Client: c.id, Remote: c.remote, Clients: n})
	dropped, err := s.echo(c)
	c.conn.Close()
	left := s.remove(c.id)
	if dropped {
		s.emit(Event{Kind: EventError, Client: c.id, Remote: c.remote, Err: err, Clients: left})
	}
	s.emit(Event{Kind: EventDisconnect, Client: c.id, Remote: c.remote, Err: err, Clients: left})
}

// echo writes every frame c sends back to it. It returns why it stopped:
// nil for a clean close by the peer, and whether the server dropped the
// client (bad frame, idle) rather than the connection ending by itself.
//
// Each read takes whatever has arrived; every complete frame in it goes
// back with one write, straight from the read buffer, then each is an
// event, in order. An idle client waits in a small buffer of its own.
// With a preview (ServerConfig.Preview) on TCP, a big frame's first keep
// bytes are read and the rest spliced back: it never enters the buffer.
func (s *Server) echo(c *client) (dropped bool, err error) {
	limit := maxFrameLimit(s.cfg.MaxFrame)
	rb := newReadBuffer()
	defer rb.release()
	newFrame := true
	need := HeaderSize      // the pending frame's size, header included
	last := 0               // the size of the last frame echoed
	var prev []byte         // the last frame echoed, if small: evidence of the tutorial's length bug
	keep := s.spliceKeep(c) // bytes of a big frame read; the rest is spliced; 0: none
	for {
		if newFrame {
			// The deadline covers a whole frame, not each read: a peer
			// sending one byte a minute is still dropped at the idle
			// timeout.
			c.read.extend(time.Now(), s.cfg.IdleTimeout, c.conn.SetReadDeadline)
			newFrame = false
		}
		if keep > 0 && rb.n == 0 && last >= bigFrame {
			// Big frames come one after another: the next one's head is
			// looked at in place and the whole frame spliced back.
			if spliced, dropped, err := s.peekFrame(c, rb, keep, limit); err != nil {
				return dropped, err
			} else if spliced > 0 {
				last, need, prev, newFrame = spliced, HeaderSize, prev[:0], true
				continue
			}
		}
		end := readEnd(len(rb.b), rb.n, need, last, keep)
		n, rerr := c.conn.Read(rb.b[rb.n:end])
		rb.n += n
		filled := rb.n == end
		bt, serr := scanFrames(rb.b[:rb.n], limit)
		need = bt.need
		if bt.frames > 0 {
			last = lastFrameSize(rb.b[:bt.end])
			prev = keepLast(prev, rb.b[:bt.end], last)
			if dropped, err := s.echoBatch(c, rb.b[:bt.end], bt.frames); err != nil {
				return dropped, err
			}
			rb.consume(bt.end)
			newFrame = true
		}
		if serr != nil {
			return true, explainDrop(prev, rb.b[:rb.n], serr)
		}
		if rerr != nil {
			dropped, err := s.readEnded(rb.n, bt.need, rerr)
			if dropped {
				err = explainDrop(prev, rb.b[:rb.n], err)
			}
			return dropped, err
		}
		if keep > 0 && bt.need >= bigFrame && rb.n >= keep {
			if dropped, err := s.spliceFrame(c, rb, bt.need, keep, prev); err != nil {
				return dropped, err
			}
			last, need, prev, newFrame = bt.need, HeaderSize, prev[:0], true
			continue
		}
		size := nextBufferSize(len(rb.b), filled, rb.n, bt.need)
		if keep > 0 && bt.need >= bigFrame {
			size = max(idleBuffer, keep, rb.n)
		}
		if filled && rb.n == 0 && last >= bigFrame && keep == 0 {
			// Big frames read whole, one per read: room for one. A
			// client that stops after one waits in this much, twice what
			// it just sent at most, until its next read returns.
			size = last
		}
		rb.resize(size)
	}
}

// echoBatch writes frames, complete frames as they came in, back with
// one write, then emits an event for each, of the time the echo started.
func (s *Server) echoBatch(c *client, frames []byte, count int) (dropped bool, err error) {
	now := time.Now()
	c.write.extend(now, s.cfg.IdleTimeout, c.conn.SetWriteDeadline)
	if _, err := c.conn.Write(frames); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return true, &IdleError{Timeout: s.cfg.IdleTimeout, Echo: true}
		}
		return s.ended(err)
	}
	c.frames.Add(uint64(count))
	if s.cfg.OnEvent != nil || s.cfg.OnMessages != nil {
		s.emitMessages(Messages{Client: c.id, Remote: c.remote, Clients: s.count(), Time: now, frames: frames, count: count})
	}
	return false, nil
}

// spliceFrame echoes a big frame of need bytes whose first rb.n bytes
// are in rb: those with one write, the rest passed from the socket back
// to it without entering the buffer; then its event, with the first keep
// bytes of rb (read, or looked at in place by peekFrame with rb.n zero).
func (s *Server) spliceFrame(c *client, rb *readBuffer, need, keep int, prev []byte) (dropped bool, err error) {
	now := time.Now()
	c.write.extend(now, s.cfg.IdleTimeout, c.conn.SetWriteDeadline)
	moved, rerr, werr := spliceBack(c.conn, rb.b[:rb.n], need-rb.n)
	switch {
	case werr != nil && errors.Is(werr, os.ErrDeadlineExceeded):
		return true, &IdleError{Timeout: s.cfg.IdleTimeout, Echo: true}
	case werr != nil:
		return s.ended(werr)
	case rerr != nil:
		dropped, err := s.readEnded(rb.n+moved, need, rerr)
		if dropped {
			err = explainDrop(prev, rb.b[:rb.n], err)
		}
		return dropped, err
	}
	c.frames.Add(1)
	if s.cfg.OnEvent != nil || s.cfg.OnMessages != nil {
		s.emitMessages(Messages{Client: c.id, Remote: c.remote, Clients: s.count(), Time: now, frames: rb.b[:keep], count: 1})
	}
	rb.n = 0
	return false, nil
}

// peekFrame echoes the next frame from c whole by splice when it is big
// and its first keep bytes have arrived: they are copied into rb without
// being taken, for its event. The big frames that follow it, already
// there whole in their heads, go back in the same pass (spliceRun), each
// head looked at in place too, up to runFrames. It returns the last
// frame's size, header included, or 0 when it did nothing (a small frame,
// a frame too large, its start not all there, the stream's end, a look
// that failed): then the frame is read as any other, which says what was
// wrong. Each frame echoed is an event, in order, after the pass.
func (s *Server) peekFrame(c *client, rb *readBuffer, keep, limit int) (size int, dropped bool, err error) {
	rb.resize(max(len(rb.b), keep))
	n, perr := peekHead(c.conn, rb.b[:keep], true)
	if perr != nil || n < keep {
		return 0, false, nil
	}
	bt, serr := scanFrames(rb.b[:n], limit)
	if serr != nil || bt.frames > 0 || bt.need < bigFrame {
		return 0, false, nil
	}
	// The heads stay in the socket: the splice takes the whole frames.
	rb.n = 0
	run := getRun(keep)
	defer putRun(run)
	run.add(rb.b[:keep], bt.need)
	more := func() int {
		if len(run.sizes) == runFrames {
			return 0
		}
		head := run.next(keep)
		if n, err := peekHead(c.conn, head, false); err != nil || n < keep {
			return 0
		}
		bt, serr := scanFrames(head, limit)
		if serr != nil || bt.frames > 0 || bt.need < bigFrame {
			return 0 // read as any other, after this pass
		}
		run.add(head, bt.need)
		return bt.need
	}
	now := time.Now()
	c.write.extend(now, s.cfg.IdleTimeout, c.conn.SetWriteDeadline)
	done, have, written, rerr, werr := spliceRun(c.conn, bt.need, more)
	echoed := done
	if werr != nil {
		echoed = run.whole(written)
	}
	s.echoed(c, now, run, echoed, keep)
	switch {
	case werr != nil && errors.Is(werr, os.ErrDeadlineExceeded):
		return 0, true, &IdleError{Timeout: s.cfg.IdleTimeout, Echo: true}
	case werr != nil:
		dropped, err := s.ended(werr)
		return 0, dropped, err
	case rerr != nil:
		dropped, err := s.readEnded(have, run.sizes[done], rerr)
		return 0, dropped, err
	}
	return run.sizes[done-1], false, nil
}

// echoed counts and emits, in order, the first n frames of run, which
// went back whole at now.
func (s *Server) echoed(c *client, now time.Time, run *spliceRunBuf, n, keep int) {
	if n == 0 {
		return
	}
	c.frames.Add(uint64(n))
	if s.cfg.OnEvent == nil && s.cfg.OnMessages == nil {
		return
	}
	for i := range n {
		s.emitMessages(Messages{Client: c.id, Remote: c.remote, Clients: s.count(), Time: now, frames: run.heads[i*keep : (i+1)*keep], count: 1})
	}
}

// spliceKeep returns how many bytes of a big frame from c are read into
// memory, header included, the rest spliced; zero when nothing is.
func (s *Server) spliceKeep(c *client) int {
	if s.cfg.Preview <= 0 || HeaderSize+s.cfg.Preview > bigFrame/2 {
		return 0
	}
	if !canSplice(c.conn) {
		return 0
	}
	return HeaderSize + s.cfg.Preview
}

// deadline is a connection's read or write deadline, kept the idle
// timeout ahead of the client's progress. Setting one changes a runtime
// timer, which a stream of small frames would pay on every read; so it is
// moved only once progress has left it deadlineSlack of the timeout
// behind: a client then has between 63/64 of the timeout and the whole.
type deadline struct{ at time.Time }

// deadlineSlack is how far, as a fraction of the timeout, a deadline may
// lag behind: 4.7 s of the default 5 minutes.
const deadlineSlack = 64

// extend makes the deadline timeout after now, or leaves it when it is
// within the slack of that, with set (SetReadDeadline or
// SetWriteDeadline).
func (d *deadline) extend(now time.Time, timeout time.Duration, set func(time.Time) error) {
	at := now.Add(timeout)
	if !d.at.IsZero() && at.Sub(d.at) < timeout/deadlineSlack {
		return
	}
	d.at = at
	set(at)
}

// readEnded classifies the error that stopped reading from a client,
// holding have bytes of a frame of need bytes (header included).
func (s *Server) readEnded(have, need int, err error) (dropped bool, _ error) {
	switch {
	case err == io.EOF && have == 0:
		return false, nil
	case err == io.EOF && have < HeaderSize:
		return true, &TruncatedError{InHeader: true, Got: int64(have), Want: HeaderSize}
	case err == io.EOF:
		return true, &TruncatedError{Got: int64(have - HeaderSize), Want: int64(need - HeaderSize)}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return true, &IdleError{Timeout: s.cfg.IdleTimeout}
	case have < HeaderSize:
		err = fmt.Errorf("frame: read header (%d of %d bytes): %w", have, HeaderSize, err)
	default:
		err = fmt.Errorf("frame: read payload (%d of %d bytes): %w", have-HeaderSize, need-HeaderSize, err)
	}
	return s.ended(err)
}

// ended reports a connection that ended by itself or by Shutdown.
func (s *Server) ended(err error) (dropped bool, _ error) {
	if errors.Is(err, net.ErrClosed) && s.isClosed() {
		return false, ErrServerClosed
	}
	return false, err
}

// count is how many clients are connected.
func (s *Server) count() int { return int(s.connected.Load()) }

// keepSmall is the largest last frame kept as evidence for the
// char-length check: the tutorial's messages are short lines of text.
const keepSmall = 4 << 10

// keepLast copies the last frame of frames (last bytes, header included)
// into buf, or forgets it when it is large.
func keepLast(buf, frames []byte, last int) []byte {
	if last > keepSmall {
		return buf[:0]
	}
	return append(buf[:0], frames[len(frames)-last:]...)
}

// explainDrop wraps why a client was dropped with the tutorial's classic
// bug when its bytes show it: a length counted in characters, not bytes.
func explainDrop(prev, pending []byte, err error) error {
	if cl, ok := DetectCharLength(prev, pending); ok {
		return &CharLengthError{Err: err, Found: cl}
	}
	return err
}

// CharLengthError is a drop whose bytes show that the client counts the
// frame length in characters, not bytes (see DetectCharLength).
type CharLengthError struct {
	Err   error
	Found CharLength
}

// Error says what happened, then why and what to change in the client.
func (e *CharLengthError) Error() string { return e.Err.Error() + "; " + e.Found.Explain() }

// Unwrap is the drop's own error.
func (e *CharLengthError) Unwrap() error { return e.Err }
