package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

type serveOptions struct {
	hostOptions
	Proto string
	JSON  bool
}

func newServeCmd(ios *IOStreams, _ *deps) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve --port N",
		Short: "Host the framed echo server only (no port mapping)",
		Long: `Host the framed echo server: it accepts many clients, logs every frame
(4-byte little-endian length, then the payload) and echoes it back unchanged.
Each line starts with the time of day and shows a message's first 200
bytes (a JSON event its first 1024; --message-bytes changes how many);
--quiet leaves out the line of each message. A client that sends a bad
frame, too many bytes or nothing for --idle-timeout is dropped alone;
everyone else keeps being served. Ctrl-C stops it.`,
		Example: `  reach serve --port 1234
  reach serve --port 1234 --quiet     # connects, disconnects and drops only
  reach serve --port 1234 --json      # one JSON event per client action
  reach serve --port 1234 --json --message-bytes 65536   # whole messages of up to 64 KiB
  reach serve --port 27015 --proto both   # TCP and UDP on one port, as many games use`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			switch strings.ToLower(o.Proto) {
			case "tcp", "udp", "both":
				o.Proto = strings.ToLower(o.Proto)
			default:
				return usageErrorf("--proto must be tcp, udp or both, got %q", o.Proto)
			}
			return runServe(cmd.Context(), ios, o)
		},
	}
	cmd.Flags().IntVarP(&o.Port, "port", "p", 1234, "port to listen on")
	cmd.Flags().StringVar(&o.Proto, "proto", "tcp", "tcp, udp (each datagram holding one frame is echoed to its sender) or both")
	addHostFlags(cmd, &o.hostOptions)
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print one JSON object per event on stdout")
	return cmd
}

func runServe(ctx context.Context, ios *IOStreams, o *serveOptions) error {
	h, err := host(ios, o.JSON, o.hostOptions, o.Proto)
	if err != nil {
		return err
	}
	if o.JSON {
		for _, l := range h.listens {
			ios.writeJSON(map[string]any{"event": "listening", "address": l.addr, "protocol": l.proto})
		}
	} else {
		names := make([]string, len(h.listens))
		for i, l := range h.listens {
			names[i] = l.String()
		}
		ios.printf("serving the framed echo protocol on %s (Ctrl-C to stop)\n", strings.Join(names, " and "))
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-h.done:
		h.running--
	}
	err = h.close(ctx)
	if serveErr != nil {
		err = fmt.Errorf("the server stopped accepting clients: %w; restart it, and check the system's limit of open files (ulimit -n)", serveErr)
	}
	if o.JSON {
		ev := map[string]any{"event": "stopped"}
		if err != nil {
			ev["error"] = err.Error()
		}
		ios.writeJSON(ev)
	} else {
		ios.printf("stopped\n")
	}
	if err != nil {
		return withCode(exitNo, err)
	}
	return nil
}
