//go:build linux || darwin

package main

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// maxIOV is how many buffers one writev takes (IOV_MAX is 1024 on Linux
// and macOS).
const maxIOV = 1024

// writeBuffers writes bufs to w in order: a file (stdout) gets them in
// one writev each thousand, other writers in one Write, joined in
// *scratch. It returns the first error.
func writeBuffers(w io.Writer, bufs [][]byte, scratch *[]byte) error {
	f, ok := w.(*os.File)
	if !ok || len(bufs) == 1 {
		return writeJoined(w, bufs, scratch)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return writeJoined(w, bufs, scratch)
	}
	for len(bufs) > 0 {
		iov := bufs[:min(len(bufs), maxIOV)]
		var n int
		var werr error
		if err := rc.Write(func(fd uintptr) bool {
			n, werr = unix.Writev(int(fd), iov)
			return werr != unix.EAGAIN
		}); err != nil {
			return err
		}
		if werr == unix.EINTR {
			continue
		}
		if werr != nil {
			return werr
		}
		bufs = advance(bufs, n)
	}
	return nil
}

// advance drops the first n bytes written of bufs.
func advance(bufs [][]byte, n int) [][]byte {
	for len(bufs) > 0 && n >= len(bufs[0]) {
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	if len(bufs) > 0 && n > 0 {
		bufs[0] = bufs[0][n:]
	}
	return bufs
}
