package frame

import (
	"errors"
	"fmt"
	"io"
	"math"
)

// Errors a Reader returns for frames it refuses. Match them with errors.Is;
// errors.As gives the numbers (*SizeError, *TruncatedError).
var (
	// ErrTooLarge: the header announces more bytes than the reader accepts.
	// A negative length is also too large.
	ErrTooLarge = errors.New("frame: frame too large")
	// ErrNegativeLength: the header has its top bit set, which a C# peer
	// reads as a negative Int32; no program written from the guide sends it.
	ErrNegativeLength = errors.New("frame: negative length")
	// ErrTruncated: the stream ended inside a header or a payload. A clean
	// end between two frames is io.EOF instead.
	ErrTruncated = errors.New("frame: truncated frame")
)

// SizeError is a header that announces a length the reader refuses.
type SizeError struct {
	Length int64 // the length the header announced, read as uint32
	Max    int   // the reader's limit
}

// Error says what the header claimed and what to do about it.
func (e *SizeError) Error() string {
	if e.Length > math.MaxInt32 {
		return fmt.Sprintf("frame: length %d has the top bit set (%d as a C# Int32); "+
			"the peer does not speak this protocol or lost track of frame boundaries",
			e.Length, int32(uint32(e.Length)))
	}
	return fmt.Sprintf("frame: length %d exceeds limit %d bytes; "+
		"raise --max-frame if the peer really sends frames this big", e.Length, e.Max)
}

// Is reports whether target is ErrTooLarge, or ErrNegativeLength when the
// length has the top bit set.
func (e *SizeError) Is(target error) bool {
	switch target {
	case ErrTooLarge:
		return true
	case ErrNegativeLength:
		return e.Length > math.MaxInt32
	}
	return false
}

// TruncatedError is a stream that ended inside a frame.
type TruncatedError struct {
	InHeader bool  // the stream ended inside the 4-byte header
	Got      int64 // bytes of the header or payload received
	Want     int64 // bytes of the header or payload expected
}

// Error says where the stream ended.
func (e *TruncatedError) Error() string {
	part := "payload"
	if e.InHeader {
		part = "header"
	}
	return fmt.Sprintf("frame: connection ended after %d of %d %s bytes; "+
		"the peer closed or crashed in the middle of a frame", e.Got, e.Want, part)
}

// Is reports whether target is ErrTruncated or io.ErrUnexpectedEOF.
func (e *TruncatedError) Is(target error) bool {
	return target == ErrTruncated || target == io.ErrUnexpectedEOF
}
