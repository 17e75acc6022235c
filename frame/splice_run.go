package frame

import "sync"

// runFrames is the most big frames one splice pass takes (peekFrame).
// Two halve the passes of a client that keeps frames coming, while its
// first echo waits for one frame more at most: with runs of up to 16, a
// client with four frames in flight (the echo benchmark's) got its echoes
// four at a time and waited between them, and 4 clients went slower.
const runFrames = 2

// spliceRunBuf holds, for one pass, each frame's head (keep bytes, for
// its event) and size, header included.
type spliceRunBuf struct {
	heads []byte
	sizes []int
}

var runPool = sync.Pool{New: func() any { return &spliceRunBuf{sizes: make([]int, 0, runFrames)} }}

// getRun is an empty run with room for runFrames heads of keep bytes.
func getRun(keep int) *spliceRunBuf {
	r := runPool.Get().(*spliceRunBuf)
	if cap(r.heads) < runFrames*keep {
		r.heads = make([]byte, 0, runFrames*keep)
	}
	r.heads, r.sizes = r.heads[:0], r.sizes[:0]
	return r
}

func putRun(r *spliceRunBuf) { runPool.Put(r) }

// next is the room for the next frame's head, to look at it in place.
func (r *spliceRunBuf) next(keep int) []byte { return r.heads[len(r.heads) : len(r.heads)+keep] }

// add records a frame of size bytes whose head is head (r.next's room,
// or the first frame's head elsewhere).
func (r *spliceRunBuf) add(head []byte, size int) {
	if len(r.sizes) == 0 {
		r.heads = append(r.heads, head...)
	} else {
		r.heads = r.heads[:len(r.heads)+len(head)]
	}
	r.sizes = append(r.sizes, size)
}

// whole is how many of the run's frames the first written bytes hold
// whole.
func (r *spliceRunBuf) whole(written int) int {
	n := 0
	for _, size := range r.sizes {
		if written < size {
			break
		}
		written -= size
		n++
	}
	return n
}
