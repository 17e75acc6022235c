package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrNotOneFrame: a UDP datagram that does not hold exactly one frame (a
// header and as many payload bytes as it announces, nothing after them).
var ErrNotOneFrame = errors.New("frame: datagram does not hold exactly one frame")

// DatagramError is a UDP datagram whose size does not match the frame its
// header announces.
type DatagramError struct {
	Size   int   // bytes in the datagram
	Length int64 // payload length the header announced; -1 when the datagram is shorter than a header
}

// Error says what the datagram held and what a frame needs.
func (e *DatagramError) Error() string {
	if e.Length < 0 {
		return fmt.Sprintf("frame: datagram of %d bytes is shorter than a %d-byte frame header", e.Size, HeaderSize)
	}
	return fmt.Sprintf("frame: datagram of %d bytes holds a header announcing %d payload bytes; "+
		"one frame needs exactly %d bytes in one datagram", e.Size, e.Length, int64(HeaderSize)+e.Length)
}

// Is reports whether target is ErrNotOneFrame, or ErrTruncated when the
// datagram is shorter than the frame it starts.
func (e *DatagramError) Is(target error) bool {
	switch target {
	case ErrNotOneFrame:
		return true
	case ErrTruncated:
		return e.Length < 0 || int64(e.Size) < int64(HeaderSize)+e.Length
	}
	return false
}

// ParseDatagram returns the payload of a UDP datagram that holds exactly one
// frame. A length above maxFrame (<= 0 means DefaultMaxFrame) or with the
// top bit set is a *SizeError, as on a stream; a datagram shorter or longer
// than its frame is a *DatagramError. The payload aliases b.
func ParseDatagram(b []byte, maxFrame int) ([]byte, error) {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	if int64(maxFrame) > math.MaxInt32-HeaderSize {
		maxFrame = math.MaxInt32 - HeaderSize
	}
	if len(b) < HeaderSize {
		return nil, &DatagramError{Size: len(b), Length: -1}
	}
	length := int64(binary.LittleEndian.Uint32(b))
	if length > int64(maxFrame) {
		return nil, &SizeError{Length: length, Max: maxFrame}
	}
	if int64(len(b)) != HeaderSize+length {
		return nil, &DatagramError{Size: len(b), Length: length}
	}
	return b[HeaderSize:], nil
}
