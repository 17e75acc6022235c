package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/reach-net/reach/frame"
	"github.com/reach-net/reach/probe"
	"github.com/spf13/cobra"
)

// defaultMaxPerIP leaves most of the default 1024 slots to other hosts
// when one misbehaves, and is still far above what one real host opens
// (a LAN party behind one address).
const defaultMaxPerIP = 128

// hostOptions are the framed echo server's flags, shared by serve and expose.
type hostOptions struct {
	Port        int
	Bind        string
	MaxClients  int
	MaxPerIP    int
	IdleTimeout time.Duration
	MaxFrame    int
}

func addHostFlags(cmd *cobra.Command, o *hostOptions) {
	cmd.Flags().StringVar(&o.Bind, "bind", "", "address to listen on (default: all interfaces)")
	cmd.Flags().IntVar(&o.MaxClients, "max-clients", frame.DefaultMaxClients, "most clients served at once; more are refused")
	cmd.Flags().IntVar(&o.MaxPerIP, "max-per-ip", defaultMaxPerIP, "most clients served at once from one address, so one host cannot take every slot (0 = no limit)")
	cmd.Flags().DurationVar(&o.IdleTimeout, "idle-timeout", frame.DefaultIdleTimeout, "drop a client that sends no whole frame for this long")
	cmd.Flags().IntVar(&o.MaxFrame, "max-frame", frame.DefaultMaxFrame, "largest frame accepted, in bytes; a larger header drops the client")
}

func (o *hostOptions) validate() error {
	if err := checkPort("port", o.Port); err != nil {
		return err
	}
	if o.MaxClients < 1 {
		return usageErrorf("--max-clients must be at least 1, got %d", o.MaxClients)
	}
	if o.MaxPerIP < 0 {
		return usageErrorf("--max-per-ip must be 0 (no limit) or more, got %d", o.MaxPerIP)
	}
	if o.IdleTimeout <= 0 {
		return usageErrorf("--idle-timeout must be positive, got %s", o.IdleTimeout)
	}
	if o.MaxFrame < 0 || o.MaxFrame > 1<<31-1 {
		return usageErrorf("--max-frame must be from 0 to 2147483647 bytes, got %d", o.MaxFrame)
	}
	return nil
}

// hosted is a running framed echo server.
type hosted struct {
	srv  *frame.Server
	ln   net.Listener
	log  *clientLog
	done chan error
}

// host listens on the port and serves the framed echo protocol until close.
func host(ios *IOStreams, jsonMode bool, o hostOptions) (*hosted, error) {
	addr := net.JoinHostPort(o.Bind, strconv.Itoa(o.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("port %d is already in use: another program listens there; stop it, pick another --port, or if it is your own server use --no-serve with expose", o.Port)
		}
		if errors.Is(err, syscall.EACCES) {
			return nil, fmt.Errorf("not allowed to listen on port %d: ports below 1024 need root; pick a port from 1024 up", o.Port)
		}
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	log := newClientLog(ios, jsonMode)
	srv := frame.NewServer(frame.ServerConfig{
		MaxClients:  o.MaxClients,
		MaxPerIP:    o.MaxPerIP,
		IdleTimeout: o.IdleTimeout,
		MaxFrame:    o.MaxFrame,
		OnEvent:     log.event,
	})
	h := &hosted{srv: srv, ln: ln, log: log, done: make(chan error, 1)}
	go func() { h.done <- srv.Serve(ln) }()
	return h, nil
}

// hostShutdownGrace is how long clients get to be closed on exit: closing
// sockets is local work, so a second is plenty.
const hostShutdownGrace = time.Second

// close stops accepting, closes every client and waits for them. It runs
// after ctx was cancelled (Ctrl-C), so it keeps only ctx's values.
func (h *hosted) close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hostShutdownGrace)
	defer cancel()
	err := h.srv.Shutdown(ctx)
	<-h.done
	h.log.close()
	return err
}

// clientEvent is the JSON form of a server event.
type clientEvent struct {
	Event     string `json:"event"`
	Action    string `json:"action"`
	Client    uint64 `json:"client"`
	Remote    string `json:"remote"`
	Message   string `json:"message,omitempty"`
	Bytes     *int   `json:"bytes,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
	Error     string `json:"error,omitempty"`
	Clients   int    `json:"clients"`
}

// Limits of the client log.
const (
	// messagePreview is how much of a message the human log shows.
	messagePreview = 200
	// jsonMessageLimit is how much of a message a JSON event carries: the
	// log stays readable when clients send frames of up to --max-frame.
	jsonMessageLimit = 4 << 10
	// clientLogQueue is how many events wait while the output is slow (a
	// paused pipe, a slow terminal); past it they are counted, not shown,
	// so the output never holds up the server.
	clientLogQueue = 4096
)

// clientLog prints the server's events from its own goroutine.
type clientLog struct {
	ios      *IOStreams
	jsonMode bool
	lines    chan func()
	done     chan struct{}
	dropped  atomic.Int64

	mu     sync.RWMutex
	closed bool
}

func newClientLog(ios *IOStreams, jsonMode bool) *clientLog {
	l := &clientLog{ios: ios, jsonMode: jsonMode, lines: make(chan func(), clientLogQueue), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for print := range l.lines {
			print()
		}
	}()
	return l
}

// event renders ev now (its payload is valid only during the call) and
// queues the printing.
func (l *clientLog) event(ev frame.Event) {
	print := l.render(ev)
	if print == nil {
		return
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return
	}
	select {
	case l.lines <- print:
	default:
		l.dropped.Add(1)
	}
}

// close prints what is queued and says how many events were not shown.
func (l *clientLog) close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.lines)
	}
	l.mu.Unlock()
	<-l.done
	if n := l.dropped.Swap(0); n > 0 {
		l.ios.printf("%d client events not shown: the output was slower than the clients\n", n)
	}
}

func (l *clientLog) render(ev frame.Event) func() {
	ios := l.ios
	if l.jsonMode {
		ce := clientEvent{Event: "client", Action: string(ev.Kind), Client: ev.Client, Remote: ev.Remote, Clients: ev.Clients}
		if ev.Kind == frame.EventMessage {
			n := len(ev.Payload)
			ce.Bytes = &n
			msg := ev.Payload
			if len(msg) > jsonMessageLimit {
				msg, ce.Truncated = msg[:jsonMessageLimit], true
			}
			ce.Message = string(msg)
		}
		if ev.Err != nil {
			ce.Error = ev.Err.Error()
		}
		return func() { ios.writeJSON(ce) }
	}
	who := fmt.Sprintf("client %d %s", ev.Client, ev.Remote)
	var line string
	switch ev.Kind {
	case frame.EventConnect:
		line = fmt.Sprintf("%s connected (%d connected)", who, ev.Clients)
	case frame.EventMessage:
		if probe.IsProbe(ev.Payload) {
			line = who + ": reach probe, echoed"
		} else {
			line = fmt.Sprintf("%s: %s", who, quotePreview(ev.Payload, messagePreview))
		}
	case frame.EventDisconnect:
		line = fmt.Sprintf("%s disconnected (%d connected)", who, ev.Clients)
	case frame.EventError:
		line = fmt.Sprintf("%s dropped: %v", who, ev.Err)
	default:
		return nil
	}
	return func() { ios.result("%s", line) }
}
