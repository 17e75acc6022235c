package frame

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// EventKind says what happened to a client of the echo server.
type EventKind string

// The kinds of Event. Every EventConnect is followed, once the connection
// ends, by exactly one EventDisconnect; a dropped client gets an EventError
// just before it. A client refused at the door (server full) gets only an
// EventError.
const (
	EventConnect    EventKind = "connect"
	EventMessage    EventKind = "message"
	EventDisconnect EventKind = "disconnect"
	// EventError: the server refused or dropped a client: too many clients,
	// a bad frame (too large, negative length, truncated), idle timeout.
	EventError EventKind = "error"
)

// Event is one thing that happened to one client of the echo server.
type Event struct {
	Kind   EventKind
	Client uint64 // the client's id, counting from 1 in order of arrival
	Remote string // the client's address, ip:port
	// Payload is, for EventMessage only, the frame echoed, or its first
	// ServerConfig.Preview bytes when it is longer; valid only during
	// the callback.
	Payload []byte
	// Size is the whole payload's length when Payload holds only its
	// start; zero otherwise (see PayloadSize).
	Size int
	// Err is why the server refused or dropped the client (EventError), or
	// why the connection ended (EventDisconnect; nil when the peer closed
	// cleanly between frames, ErrServerClosed on Shutdown).
	Err     error
	Clients int       // clients connected after the event
	Time    time.Time // when it happened
}

// PayloadSize is the length of the message's whole payload.
func (e Event) PayloadSize() int { return max(e.Size, len(e.Payload)) }

// Errors the server reports in events; match them with errors.Is.
var (
	// ErrServerClosed: Serve returns it after Shutdown; disconnect events
	// of clients closed by Shutdown carry it too.
	ErrServerClosed = errors.New("frame: server closed")
	// ErrServerFull: a client arrived while MaxClients were connected.
	ErrServerFull = errors.New("frame: server full")
	// ErrTooManyFromIP: a client arrived while MaxPerIP clients from its
	// address were connected.
	ErrTooManyFromIP = errors.New("frame: too many clients from one address")
	// ErrIdleTimeout: a client sent no complete frame, or read none of its
	// echoes, for the whole idle timeout.
	ErrIdleTimeout = errors.New("frame: idle timeout")
)

// FullError is a client refused because MaxClients were already connected.
type FullError struct {
	Max int // the server's MaxClients
}

// Error says the server is full and how to raise the limit.
func (e *FullError) Error() string {
	return fmt.Sprintf("frame: server full: %d clients; raise --max-clients", e.Max)
}

// Is reports whether target is ErrServerFull.
func (e *FullError) Is(target error) bool { return target == ErrServerFull }

// PerIPError is a client refused because MaxPerIP clients from its address
// were already connected.
type PerIPError struct {
	IP  netip.Addr // the client's address
	Max int        // the server's MaxPerIP
}

// Error names the address and how to raise the limit.
func (e *PerIPError) Error() string {
	return fmt.Sprintf("frame: %d clients from %s already connected; refused (one host may not take every slot; raise --max-per-ip if they are real)", e.Max, e.IP)
}

// Is reports whether target is ErrTooManyFromIP.
func (e *PerIPError) Is(target error) bool { return target == ErrTooManyFromIP }

// IdleError is a client dropped for making no progress within the timeout.
type IdleError struct {
	Timeout time.Duration // the server's IdleTimeout
	Echo    bool          // the client stopped reading its echoes, rather than sending
}

// Error says what the client failed to do in time.
func (e *IdleError) Error() string {
	if e.Echo {
		return fmt.Sprintf("frame: client read none of its echo for %s (idle timeout); dropped", e.Timeout)
	}
	return fmt.Sprintf("frame: client sent no complete frame for %s (idle timeout); dropped", e.Timeout)
}

// Is reports whether target is ErrIdleTimeout.
func (e *IdleError) Is(target error) bool { return target == ErrIdleTimeout }
