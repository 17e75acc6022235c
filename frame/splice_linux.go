package frame

import (
	"io"
	"net"
	"os"
	"syscall"
)

// The flags of splice(2): move pages rather than copy them, never block
// (the runtime's poller waits), and more data follows.
const (
	spliceMove     = 0x1
	spliceNonblock = 0x2
	spliceMore     = 0x4
)

// canSplice reports whether spliceBack can pass c's bytes back to it.
func canSplice(c net.Conn) bool {
	_, ok := c.(*net.TCPConn)
	return ok
}

// fcntlSetPipeSize is F_SETPIPE_SZ; pipeSize the room asked for.
const (
	fcntlSetPipeSize = 1031
	pipeSize         = 128 << 10
)

// pipe is a kernel pipe that spliced bytes pass through.
type pipe struct{ r, w int }

// spliceSpare holds pipes between frames, so that a stream of big frames
// does not open and close one per frame; beyond it they are closed.
var spliceSpare = make(chan *pipe, 32)

func getPipe() (*pipe, error) {
	select {
	case p := <-spliceSpare:
		return p, nil
	default:
	}
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return nil, os.NewSyscallError("pipe2", err)
	}
	// Room for a whole 64 KiB frame at any offset in its pages (the
	// default 16 pages hold one only when it starts a page); where the
	// system refuses, the default does, with a pass more per frame.
	syscall.Syscall(syscall.SYS_FCNTL, uintptr(fds[1]), fcntlSetPipeSize, pipeSize)
	return &pipe{r: fds[0], w: fds[1]}, nil
}

// putPipe keeps p, empty, for the next frame, or closes it.
func putPipe(p *pipe) {
	select {
	case spliceSpare <- p:
	default:
		p.close()
	}
}

func (p *pipe) close() {
	syscall.Close(p.r)
	syscall.Close(p.w)
}

// peekHead copies the first bytes waiting on c into buf without taking
// them: a big frame's header and preview, so that the whole frame can
// then be spliced back, its head included, in one pass. It waits for the
// first byte as a read does; n is 0 at the end of the stream.
func peekHead(c net.Conn, buf []byte) (n int, err error) {
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return 0, err
	}
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		for {
			n, _, rerr = syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK)
			if rerr != syscall.EINTR {
				return rerr != syscall.EAGAIN
			}
		}
	}); err != nil {
		return 0, err
	}
	if rerr != nil {
		return 0, os.NewSyscallError("recvfrom", rerr)
	}
	return max(n, 0), nil
}

// spliceBack writes head to c, then passes the next n bytes c receives
// back to it through a pipe, without their entering user space; head
// waits for them (MSG_MORE), so that both leave in the same segments. It
// returns how many of the n went back, and the error of the side that
// failed: reading (io.EOF when the peer closed first) or writing. The
// connection's deadlines hold.
func spliceBack(c net.Conn, head []byte, n int) (moved int, readErr, writeErr error) {
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return 0, err, nil
	}
	for len(head) > 0 {
		var sent int
		var serr error
		if err := rc.Write(func(fd uintptr) bool {
			for {
				sent, serr = syscall.SendmsgN(int(fd), head, nil, nil, syscall.MSG_MORE)
				if serr != syscall.EINTR {
					return serr != syscall.EAGAIN
				}
			}
		}); err != nil {
			return 0, nil, err
		}
		if serr != nil {
			return 0, nil, os.NewSyscallError("sendmsg", serr)
		}
		head = head[sent:]
	}
	p, err := getPipe()
	if err != nil {
		return 0, nil, err
	}
	inPipe := 0
	defer func() {
		if inPipe == 0 {
			putPipe(p)
		} else {
			p.close()
		}
	}()
	for moved < n {
		var got int64
		var serr error
		if err := rc.Read(func(fd uintptr) bool {
			got, serr = splice(int(fd), p.w, n-moved, spliceMove|spliceNonblock)
			return serr != syscall.EAGAIN
		}); err != nil {
			return moved, err, nil
		}
		if serr != nil {
			return moved, os.NewSyscallError("splice", serr), nil
		}
		if got == 0 {
			return moved, io.EOF, nil
		}
		inPipe = int(got)
		for inPipe > 0 {
			flags := spliceMove | spliceNonblock
			if moved+inPipe < n {
				flags |= spliceMore
			}
			var put int64
			if err := rc.Write(func(fd uintptr) bool {
				put, serr = splice(p.r, int(fd), inPipe, flags)
				return serr != syscall.EAGAIN
			}); err != nil {
				return moved, nil, err
			}
			if serr != nil {
				return moved, nil, os.NewSyscallError("splice", serr)
			}
			inPipe -= int(put)
			moved += int(put)
		}
	}
	return moved, nil, nil
}

// splice is splice(2) from rfd to wfd, retried when interrupted.
func splice(rfd, wfd, n, flags int) (int64, error) {
	for {
		m, err := syscall.Splice(rfd, nil, wfd, nil, n, flags)
		if err != syscall.EINTR {
			return m, err
		}
	}
}
