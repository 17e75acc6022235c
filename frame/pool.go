package frame

import (
	"math/bits"
	"sync"
)

// Buffers come from one pool per power-of-two size, so that a client that
// is idle holds none and a burst of big frames is not paid for twice.
const (
	// minPoolShift: 64 bytes, the smallest buffer worth a pool round trip.
	minPoolShift = 6
	// maxPoolShift: 16 MiB; bigger buffers (only with a raised limit) are
	// left to the garbage collector so the pool never pins them.
	maxPoolShift = 24
)

var pools [maxPoolShift - minPoolShift + 1]sync.Pool

// sizeClass returns the power of two a buffer of n bytes is taken from.
func sizeClass(n int) int {
	shift := bits.Len(uint(n - 1))
	if n <= 1 || shift < minPoolShift {
		return minPoolShift
	}
	return shift
}

// getBuf returns a buffer of length n from the pool of its size class.
func getBuf(n int) *[]byte {
	shift := sizeClass(n)
	if shift > maxPoolShift {
		b := make([]byte, n)
		return &b
	}
	if v := pools[shift-minPoolShift].Get(); v != nil {
		bp := v.(*[]byte)
		*bp = (*bp)[:n]
		return bp
	}
	b := make([]byte, n, 1<<shift)
	return &b
}

// putBuf gives a buffer from getBuf back; the caller must not use it again.
func putBuf(bp *[]byte) {
	c := cap(*bp)
	shift := bits.Len(uint(c)) - 1
	if c == 0 || c != 1<<shift || shift < minPoolShift || shift > maxPoolShift {
		return
	}
	*bp = (*bp)[:0]
	pools[shift-minPoolShift].Put(bp)
}
