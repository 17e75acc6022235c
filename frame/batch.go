package frame

import (
	"encoding/binary"
	"math"
)

// The echo server reads whatever a client has sent into one buffer and
// writes every complete frame in it back with one write.
const (
	// idleBuffer is the buffer a client waits in between bursts, its own
	// for as long as it is connected: a chat line or a probe fits, and
	// 10,000 idle clients hold 20 MiB of it.
	idleBuffer = 2 << 10
	// batchBuffer is the most a read buffer grows to while the frames it
	// holds are small: a few syscalls per megabyte, a bounded cost per
	// busy client. A bigger frame gets the room it needs, as it arrives.
	batchBuffer = 256 << 10
)

// batch is what the start of a read buffer holds: complete frames, then
// the beginning of the next one.
type batch struct {
	end    int // bytes of complete frames, headers included
	frames int // how many complete frames
	// need is the size of the next frame whole, header included;
	// HeaderSize while its header is incomplete.
	need int
}

// scanFrames finds the complete frames at the start of b. A header that
// announces more than max bytes (or has its top bit set, which max never
// allows) is a *SizeError, returned with the frames before it, which are
// good: no byte is taken for the refused frame.
func scanFrames(b []byte, max int) (batch, error) {
	var bt batch
	for {
		rest := b[bt.end:]
		if len(rest) < HeaderSize {
			bt.need = HeaderSize
			return bt, nil
		}
		length := int64(binary.LittleEndian.Uint32(rest))
		if length > int64(max) {
			return bt, &SizeError{Length: length, Max: max}
		}
		total := HeaderSize + int(length)
		if len(rest) < total {
			bt.need = total
			return bt, nil
		}
		bt.end += total
		bt.frames++
	}
}

// nextBufferSize returns how big the buffer for the next read should be,
// given the current size cur, whether the last read filled it, the bytes
// it still holds (the start of a frame) and that frame's size whole.
// The buffer doubles only while reads keep filling it (the peer sends
// faster than it is echoed); it goes back to the idle buffer once a read
// leaves room and what it holds fits, so a client that goes quiet waits
// in its own small buffer. A frame's header is worth at most firstChunk
// bytes of room at once, as for Reader: a header that lies costs no more.
func nextBufferSize(cur int, filled bool, have, need int) int {
	size := cur
	switch {
	case filled:
		size = 2 * cur
	case have <= idleBuffer:
		size = idleBuffer
	}
	if need > size {
		size = max(size, min(need, HeaderSize+firstChunk))
	}
	return max(min(size, max(batchBuffer, need)), have)
}

// bigFrame is the frame size from which a read stops at the end of a
// frame: copying the start of the next one to the front of the buffer
// would cost as much as a read.
const bigFrame = batchBuffer / 8

// readEnd returns where in a buffer of size bytes, holding have bytes of
// a frame of need bytes, the next read should stop: at the end of that
// frame when it is big, at the end of a frame as big as the last one when
// the buffer is empty (a stream of big frames is read one whole frame at
// a time, none copied), else at the end of the buffer. When the server
// splices big frames (keep > 0), it reads only their first keep bytes.
func readEnd(size, have, need, last, keep int) int {
	switch {
	case keep > 0 && have >= HeaderSize && need >= bigFrame:
		return min(size, max(keep, have))
	case keep > 0 && have == 0 && last >= bigFrame:
		return min(size, keep)
	case have >= HeaderSize && need >= bigFrame:
		return min(size, need)
	case have == 0 && last >= bigFrame:
		return min(size, last)
	}
	return size
}

// lastFrameSize returns the size, header included, of the last of the
// complete frames b holds.
func lastFrameSize(b []byte) int {
	for {
		total := HeaderSize + int(binary.LittleEndian.Uint32(b))
		if total == len(b) {
			return total
		}
		b = b[total:]
	}
}

// maxFrameLimit is the largest payload limit a server or Reader applies:
// header and payload must fit an int on 32-bit hosts and a C# Int32.
func maxFrameLimit(maxFrame int) int {
	if maxFrame <= 0 {
		return DefaultMaxFrame
	}
	return min(maxFrame, math.MaxInt32-HeaderSize)
}

// readBuffer is a client's read buffer: its own idle buffer, or a bigger
// one from the pool while it is busy.
type readBuffer struct {
	own []byte  // the idle buffer
	bp  *[]byte // the pooled buffer in use; nil while in own
	b   []byte  // the buffer in use, its whole capacity
	n   int     // bytes held, from b[0]
}

func newReadBuffer() *readBuffer {
	own := make([]byte, idleBuffer)
	return &readBuffer{own: own, b: own}
}

// consume drops the first end bytes (frames echoed), keeping the rest at
// the start of the buffer.
func (rb *readBuffer) consume(end int) {
	rb.n = copy(rb.b, rb.b[end:rb.n])
}

// resize moves what the buffer holds into one of size bytes (or more:
// pooled buffers come in powers of two).
func (rb *readBuffer) resize(size int) {
	if size == len(rb.b) || (size > idleBuffer && size <= len(rb.b) && rb.bp != nil && size > len(rb.b)/2) {
		return
	}
	var bp *[]byte
	b := rb.own
	if size > idleBuffer {
		bp = getBuf(size)
		b = (*bp)[:cap(*bp)]
	}
	copy(b, rb.b[:rb.n])
	rb.release()
	rb.bp, rb.b = bp, b
}

// release gives the pooled buffer back; the buffer is its own idle one
// after.
func (rb *readBuffer) release() {
	if rb.bp != nil {
		putBuf(rb.bp)
		rb.bp, rb.b = nil, rb.own
	}
}
