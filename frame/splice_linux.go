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

// fcntlSetPipeSize and fcntlGetPipeSize are F_SETPIPE_SZ and
// F_GETPIPE_SZ; pipeSize the room asked for: a run of two 64 KiB frames
// (see spliceRun) at any offset in their pages, and no more, since every
// pipe's pages count against the user's limit (fs.pipe-user-pages-soft,
// 16384 pages), past which the system gives new pipes two pages.
const (
	fcntlSetPipeSize = 1031
	fcntlGetPipeSize = 1032
	pipeSize         = 256 << 10
)

// pipe is a kernel pipe that spliced bytes pass through; size is the room
// the system gave it, n how many bytes it holds.
type pipe struct{ r, w, size, n int }

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
	// Room for a run of big frames at any offset in their pages (the
	// default 16 pages hold a 64 KiB frame only when it starts a page);
	// where the system refuses (a user's pipe pages are limited), the
	// default does, with a pass more per frame and shorter runs.
	syscall.Syscall(syscall.SYS_FCNTL, uintptr(fds[1]), fcntlSetPipeSize, pipeSize)
	size, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fds[1]), fcntlGetPipeSize, 0)
	if errno != 0 {
		size = 16 << 12
	}
	return &pipe{r: fds[0], w: fds[1], size: int(size)}, nil
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

// release keeps p for the next frame when it is empty, else closes it.
func (p *pipe) release() {
	if p.n == 0 {
		putPipe(p)
	} else {
		p.close()
	}
}

// drainTo passes every byte p holds to the socket behind rc, with flags
// added to the splice's (spliceMore: more follows); it returns how many
// went, and the error of the write that failed.
func (p *pipe) drainTo(rc syscall.RawConn, flags int) (sent int, err error) {
	for p.n > 0 {
		var put int64
		var serr error
		if err := rc.Write(func(fd uintptr) bool {
			put, serr = splice(p.r, int(fd), p.n, spliceMove|spliceNonblock|flags)
			return serr != syscall.EAGAIN
		}); err != nil {
			return sent, err
		}
		if serr != nil {
			return sent, os.NewSyscallError("splice", serr)
		}
		p.n -= int(put)
		sent += int(put)
	}
	return sent, nil
}

// peekHead copies the first bytes waiting on c into buf without taking
// them: a big frame's header and preview, so that the whole frame can
// then be spliced back, its head included, in one pass. With wait it
// waits for the first byte as a read does (n is 0 at the end of the
// stream); without, n is what is there now, 0 when nothing is.
func peekHead(c net.Conn, buf []byte, wait bool) (n int, err error) {
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return 0, err
	}
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		for {
			n, _, rerr = syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK)
			if rerr != syscall.EINTR {
				return !wait || rerr != syscall.EAGAIN
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
	defer p.release()
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
		p.n = int(got)
		flags := 0
		if moved+p.n < n {
			flags = spliceMore
		}
		put, err := p.drainTo(rc, flags)
		moved += put
		if err != nil {
			return moved, nil, err
		}
	}
	return moved, nil, nil
}

// spliceRun passes big frames from c back to it through one pipe,
// without their entering user space: the first, of first bytes, then,
// once a frame is all in the pipe and the pipe has room, the next one
// whose size more returns (0: none waits whole in its head, or the run is
// long enough). The pipe is emptied before any wait for bytes
// still to come and at the end, so that nothing sits in it for what has
// not arrived. It returns how many frames came in whole (done), how many
// bytes of the next one (have), how many bytes went back (written), and
// the error of the side that failed: reading (io.EOF when the peer closed
// first), after what came in went back, or writing. The connection's
// deadlines hold.
func spliceRun(c net.Conn, first int, more func() int) (done, have, written int, readErr, writeErr error) {
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return 0, 0, 0, err, nil
	}
	p, err := getPipe()
	if err != nil {
		return 0, 0, 0, nil, err
	}
	defer p.release()
	flush := func() error {
		put, err := p.drainTo(rc, 0)
		written += put
		return err
	}
	for cur := first; ; {
		for have < cur {
			var got int64
			var serr error
			later := false // nothing more now, and the pipe holds bytes: empty it first
			if err := rc.Read(func(fd uintptr) bool {
				got, serr = splice(int(fd), p.w, min(cur-have, p.size-p.n), spliceMove|spliceNonblock)
				if serr == syscall.EAGAIN && p.n > 0 {
					later = true
					return true
				}
				return serr != syscall.EAGAIN
			}); err != nil {
				werr := flush()
				return done, have, written, err, werr
			}
			if serr == nil && got > 0 {
				have += int(got)
				p.n += int(got)
			}
			switch {
			case later || p.n == p.size:
				if err := flush(); err != nil {
					return done, have, written, nil, err
				}
			case serr != nil:
				werr := flush()
				return done, have, written, os.NewSyscallError("splice", serr), werr
			case got == 0:
				werr := flush()
				return done, have, written, io.EOF, werr
			}
		}
		done, have = done+1, 0
		next := 0
		if p.n < p.size {
			next = more()
		}
		if next == 0 {
			break
		}
		cur = next
	}
	werr := flush() // before written is read: the order of a return's operands is not fixed
	return done, 0, written, nil, werr
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
