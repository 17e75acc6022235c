// Package frame is the framed protocol of the C# guide reach grew from: each
// message is a little-endian uint32 length followed by that many bytes, as
// .NET's BitConverter.GetBytes(int) writes it. It also holds the echo server.
// The package never prints.
package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// DefaultMaxFrame is the largest payload a Reader accepts unless told
// otherwise: 1 MiB, far above any chat message, far below a memory problem.
const DefaultMaxFrame = 1 << 20

// HeaderSize is the length of the header in front of every payload.
const HeaderSize = 4

// firstChunk is the most a Reader allocates for a payload before its bytes
// arrive: a header that lies about its length costs no more than this, and
// the buffer grows (doubling) only as the peer really sends data.
const firstChunk = 64 << 10

// Reader reads frames from a stream. It is not safe for concurrent use.
type Reader struct {
	r     io.Reader
	max   int
	hdr   [HeaderSize]byte
	bufp  *[]byte // pooled buffer holding frame; nil between frames
	frame []byte  // header and payload of the last frame
}

// NewReader returns a Reader that refuses payloads longer than maxFrame
// bytes; maxFrame <= 0 means DefaultMaxFrame. The limit is capped just
// below the largest length a C# Int32 can carry.
func NewReader(r io.Reader, maxFrame int) *Reader {
	return &Reader{r: r, max: maxFrameLimit(maxFrame)}
}

// Next reads one frame and returns its payload, which stays valid until the
// next call to Next or Release. At a clean end of stream between frames it
// returns io.EOF; inside a frame, a *TruncatedError (ErrTruncated). A length
// above the limit or with the top bit set is a *SizeError, returned before
// any memory is taken for the payload. Other errors of the underlying
// reader (deadlines, resets) are returned wrapped.
func (r *Reader) Next() ([]byte, error) {
	r.Release()
	if n, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		switch {
		case err == io.EOF:
			return nil, io.EOF
		case err == io.ErrUnexpectedEOF:
			return nil, &TruncatedError{InHeader: true, Got: int64(n), Want: HeaderSize}
		}
		return nil, fmt.Errorf("frame: read header (%d of %d bytes): %w", n, HeaderSize, err)
	}
	length := int64(binary.LittleEndian.Uint32(r.hdr[:]))
	if length > int64(r.max) {
		return nil, &SizeError{Length: length, Max: r.max}
	}
	return r.readPayload(int(length))
}

// readPayload reads n payload bytes after the header already in r.hdr.
func (r *Reader) readPayload(n int) ([]byte, error) {
	total := HeaderSize + n
	bp := getBuf(min(total, HeaderSize+firstChunk))
	b := (*bp)[:cap(*bp)]
	copy(b, r.hdr[:])
	got := HeaderSize
	for got < total {
		if got == len(b) {
			// The peer sent all we had room for: grow, keeping what came.
			size := total
			if len(b) <= total/2 {
				size = 2 * len(b)
			}
			nbp := getBuf(size)
			nb := (*nbp)[:cap(*nbp)]
			copy(nb, b[:got])
			putBuf(bp)
			bp, b = nbp, nb
		}
		m, err := io.ReadFull(r.r, b[got:min(total, len(b))])
		got += m
		if err != nil {
			putBuf(bp)
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, &TruncatedError{Got: int64(got - HeaderSize), Want: int64(n)}
			}
			return nil, fmt.Errorf("frame: read payload (%d of %d bytes): %w", got-HeaderSize, n, err)
		}
	}
	r.bufp = bp
	r.frame = b[:total]
	return r.frame[HeaderSize:], nil
}

// Frame returns the last frame read, header and payload together, exactly as
// it came off the wire; valid until the next call to Next or Release. An
// echo server writes it back with one Write and no copy.
func (r *Reader) Frame() []byte { return r.frame }

// Release gives the last frame's buffer back to the shared pool, so that an
// idle connection holds no payload memory. The last payload must not be used
// afterwards. Next calls it itself.
func (r *Reader) Release() {
	if r.bufp != nil {
		putBuf(r.bufp)
		r.bufp, r.frame = nil, nil
	}
}

// Write writes payload as one frame with a single Write call, so that
// concurrent writers serialised by the caller never interleave a header with
// another frame's bytes. Payloads of 2 GiB or more do not fit a header.
func Write(w io.Writer, payload []byte) error {
	if int64(len(payload)) > math.MaxInt32 {
		return fmt.Errorf("frame: payload of %d bytes does not fit a frame (at most %d): %w",
			len(payload), math.MaxInt32, ErrTooLarge)
	}
	bp := getBuf(HeaderSize + len(payload))
	b := Append((*bp)[:0], payload)
	_, err := w.Write(b)
	*bp = b
	putBuf(bp)
	if err != nil {
		return fmt.Errorf("frame: write %d-byte frame: %w", len(payload), err)
	}
	return nil
}

// Append appends payload as one frame to dst and returns the extended
// slice. It panics if payload is 2 GiB or longer, which no header can carry.
func Append(dst, payload []byte) []byte {
	if int64(len(payload)) > math.MaxInt32 {
		panic(fmt.Sprintf("frame: payload of %d bytes does not fit a frame", len(payload)))
	}
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...)
}
