package frame

import (
	"encoding/binary"
	"iter"
	"time"
)

// Messages is the message events of one read of one client: the frames
// echoed together, in order, which share the client, the time and the
// count of clients. A log renders what they share once. It and its
// payloads are valid only during ServerConfig.OnMessages.
type Messages struct {
	Client  uint64    // the client's id
	Remote  string    // the client's address, ip:port
	Clients int       // clients connected
	Time    time.Time // when they were echoed
	// frames holds the frames as they came in, headers included; the
	// last holds only its header and start when its rest was spliced.
	frames []byte
	count  int
}

// Len is how many messages m holds.
func (m Messages) Len() int { return m.count }

// All yields each message's payload in order, with the whole payload's
// length: more than the payload's when it holds only the message's start
// (ServerConfig.Preview).
func (m Messages) All() iter.Seq2[[]byte, int] {
	return func(yield func([]byte, int) bool) {
		for b := m.frames; len(b) >= HeaderSize; {
			size := int(binary.LittleEndian.Uint32(b))
			end := min(HeaderSize+size, len(b))
			if !yield(b[HeaderSize:end:end], size) {
				return
			}
			b = b[end:]
		}
	}
}

// Event is the message event of one of m's messages, payload with its
// whole length size, as OnEvent would receive it.
func (m Messages) Event(payload []byte, size int) Event {
	ev := Event{Kind: EventMessage, Client: m.Client, Remote: m.Remote, Payload: payload, Clients: m.Clients, Time: m.Time}
	if size > len(payload) {
		ev.Size = size
	}
	return ev
}

// emitMessages hands m to OnMessages, or each of its events to OnEvent.
func (s *Server) emitMessages(m Messages) {
	switch {
	case s.cfg.OnMessages != nil:
		s.cfg.OnMessages(m)
	case s.cfg.OnEvent != nil:
		for p, size := range m.All() {
			s.cfg.OnEvent(m.Event(p, size))
		}
	}
}

// NewMessages is the Messages of frames, complete frames as Append
// writes them: for a log's tests and benchmarks, which have no server.
func NewMessages(client uint64, remote string, clients int, t time.Time, frames []byte) Messages {
	m := Messages{Client: client, Remote: remote, Clients: clients, Time: t, frames: frames}
	for b := frames; len(b) >= HeaderSize; m.count++ {
		b = b[min(HeaderSize+int(binary.LittleEndian.Uint32(b)), len(b)):]
	}
	return m
}
