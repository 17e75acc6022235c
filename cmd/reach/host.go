package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/reach-net/reach/frame"
	"github.com/reach-net/reach/probe"
	"github.com/spf13/cobra"
)

// hostOptions are the framed echo server's flags, shared by serve and expose.
type hostOptions struct {
	Port        int
	Bind        string
	MaxClients  int
	IdleTimeout time.Duration
	MaxFrame    int
}

func addHostFlags(cmd *cobra.Command, o *hostOptions) {
	cmd.Flags().StringVar(&o.Bind, "bind", "", "address to listen on (default: all interfaces)")
	cmd.Flags().IntVar(&o.MaxClients, "max-clients", 1024, "most clients served at once; more are refused")
	cmd.Flags().DurationVar(&o.IdleTimeout, "idle-timeout", 5*time.Minute, "drop a client that sends no whole frame for this long")
	cmd.Flags().IntVar(&o.MaxFrame, "max-frame", frame.DefaultMaxFrame, "largest frame accepted, in bytes; a larger header drops the client")
}

func (o *hostOptions) validate() error {
	if err := checkPort("port", o.Port); err != nil {
		return err
	}
	if o.MaxClients < 1 {
		return usageErrorf("--max-clients must be at least 1, got %d", o.MaxClients)
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
	srv := frame.NewServer(frame.ServerConfig{
		MaxClients:  o.MaxClients,
		IdleTimeout: o.IdleTimeout,
		MaxFrame:    o.MaxFrame,
		OnEvent:     clientPrinter(ios, jsonMode),
	})
	h := &hosted{srv: srv, ln: ln, done: make(chan error, 1)}
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
	return err
}

// clientEvent is the JSON form of a server event.
type clientEvent struct {
	Event   string `json:"event"`
	Action  string `json:"action"`
	Client  uint64 `json:"client"`
	Remote  string `json:"remote"`
	Message string `json:"message,omitempty"`
	Bytes   *int   `json:"bytes,omitempty"`
	Error   string `json:"error,omitempty"`
	Clients int    `json:"clients"`
}

// messagePreview is how much of a message the log shows.
const messagePreview = 200

func clientPrinter(ios *IOStreams, jsonMode bool) func(frame.Event) {
	return func(ev frame.Event) {
		if jsonMode {
			ce := clientEvent{Event: "client", Action: string(ev.Kind), Client: ev.Client, Remote: ev.Remote, Clients: ev.Clients}
			if ev.Kind == frame.EventMessage {
				n := len(ev.Payload)
				ce.Bytes = &n
				ce.Message = string(ev.Payload)
			}
			if ev.Err != nil {
				ce.Error = ev.Err.Error()
			}
			ios.writeJSON(ce)
			return
		}
		who := fmt.Sprintf("client %d %s", ev.Client, ev.Remote)
		switch ev.Kind {
		case frame.EventConnect:
			ios.result("%s connected (%d connected)", who, ev.Clients)
		case frame.EventMessage:
			if probe.IsProbe(ev.Payload) {
				ios.result("%s: reach probe, echoed", who)
				return
			}
			ios.result("%s: %s", who, quotePreview(ev.Payload, messagePreview))
		case frame.EventDisconnect:
			ios.result("%s disconnected (%d connected)", who, ev.Clients)
		case frame.EventError:
			ios.result("%s dropped: %v", who, ev.Err)
		}
	}
}
