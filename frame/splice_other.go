//go:build !linux

package frame

import (
	"errors"
	"net"
)

// canSplice reports whether spliceBack can pass c's bytes back to it:
// only on Linux.
func canSplice(net.Conn) bool { return false }

// spliceBack is never called where canSplice is false.
func spliceBack(net.Conn, []byte, int) (int, error, error) {
	return 0, nil, errors.New("frame: splice is not supported here")
}

// peekHead is never called where canSplice is false.
func peekHead(net.Conn, []byte, bool) (int, error) {
	return 0, errors.New("frame: peek is not supported here")
}

// spliceRun is never called where canSplice is false.
func spliceRun(net.Conn, int, func() int) (int, int, int, error, error) {
	return 0, 0, 0, nil, errors.New("frame: splice is not supported here")
}
