package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/reach-net/reach/frame"
	"github.com/spf13/cobra"
)

type sendOptions struct {
	Target   string
	Messages []string
	Retry    bool
	Timeout  time.Duration
	MaxFrame int
	JSON     bool
}

// Waits of the tutorial's client.
const (
	// retryPeriod is the tutorial's: try to connect once a second.
	retryPeriod = time.Second
	// echoWait is how long send waits for each echo: a round trip across the
	// internet is well under a second, so two means the server will not echo.
	echoWait = 2 * time.Second
)

func newSendCmd(ios *IOStreams, _ *deps) *cobra.Command {
	o := &sendOptions{}
	cmd := &cobra.Command{
		Use:   "send HOST:PORT MESSAGE...",
		Short: "Send framed messages, like the tutorial's client, and print the echoes",
		Long: `Connect to a framed server, send each MESSAGE as one frame (4-byte
little-endian length, then the UTF-8 bytes) and print each echoed reply.
With --retry it tries to connect once a second until --timeout, like the
tutorial's client. A server that receives but never answers (the tutorial's
own server) gets the messages, and send exits 3. So does an echo that differs
from the message: a large message cut short by a server whose reader takes a
frame with one Receive, as the tutorial's does.`,
		Example: `  reach send 203.0.113.7:1234 hola
  reach send localhost:1234 "first message" "second message"
  reach send --retry --timeout 30s 192.168.1.10:1234 hello`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := parseTarget(args[0])
			if err != nil {
				return err
			}
			o.Target, o.Messages = t, args[1:]
			if o.Timeout <= 0 {
				return usageErrorf("--timeout must be positive, got %s", o.Timeout)
			}
			return runSend(cmd.Context(), ios, o)
		},
	}
	cmd.Flags().BoolVar(&o.Retry, "retry", false, "retry connecting once a second until --timeout")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 10*time.Second, "give up connecting after this long")
	cmd.Flags().IntVar(&o.MaxFrame, "max-frame", frame.DefaultMaxFrame, "largest reply accepted, in bytes")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the result as JSON on stdout")
	return cmd
}

type sendResult struct {
	Target  string   `json:"target"`
	Sent    int      `json:"sent"`
	Replies []string `json:"replies"`
	Verdict string   `json:"verdict"` // "echoed", "changed" (exit 3), "no-echo", "failed"
	Detail  string   `json:"detail,omitempty"`
}

func runSend(ctx context.Context, ios *IOStreams, o *sendOptions) error {
	res := sendResult{Target: o.Target, Replies: []string{}}
	finish := func(code int, verdict, detail string) error {
		res.Verdict, res.Detail = verdict, detail
		if o.JSON {
			ios.writeJSON(res)
		} else if detail != "" {
			ios.printf("%s\n", ios.wrap(detail, 0, 2))
		}
		if code == exitOK {
			return nil
		}
		return withCode(code, errSilent)
	}

	st := newSteps(ios, o.JSON)
	st.start("connecting to " + o.Target)
	conn, err := dialRetry(ctx, ios, o)
	st.finishSpinner()
	if err != nil {
		if ctx.Err() != nil {
			return withCode(exitInterrupted, ctx.Err())
		}
		return finish(exitNo, "failed", fmt.Sprintf("could not connect to %s: %v; run `reach check %s` to see why", o.Target, err, o.Target))
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	// Each message waits for its echo; once one does not come (a server
	// that only receives, like the tutorial's), or comes back changed, the
	// rest are still sent but their echoes are not read.
	counted := &countingReader{r: conn}
	r := frame.NewReader(counted, o.MaxFrame)
	var noEcho error
	var changed string // how the echo of message changedAt differed
	changedAt := 0
	for i, m := range o.Messages {
		if err := frame.Write(conn, []byte(m)); err != nil {
			return finish(exitNo, "failed", fmt.Sprintf("sending %s to %s failed after %d message(s): %v", quotePreview([]byte(m), 40), o.Target, res.Sent, err))
		}
		res.Sent++
		if noEcho != nil || changed != "" {
			continue
		}
		st.start(fmt.Sprintf("waiting for the echo of message %d", i+1))
		conn.SetReadDeadline(time.Now().Add(echoWait))
		before := counted.n
		reply, err := r.Next()
		st.finishSpinner()
		if ctx.Err() != nil {
			return withCode(exitInterrupted, ctx.Err())
		}
		if err != nil {
			if got := counted.n - before; got > frame.HeaderSize && errors.Is(err, os.ErrDeadlineExceeded) {
				changed, changedAt = cutEcho(len(m), int(got-frame.HeaderSize)), i+1
				continue
			}
			noEcho = err
			continue
		}
		res.Replies = append(res.Replies, string(reply))
		if !o.JSON {
			ios.result("%s", printable(reply))
		}
		if changed = compareEcho([]byte(m), reply); changed != "" {
			changedAt = i + 1
		}
	}
	switch {
	case changed != "":
		return finish(exitPartial, "changed", fmt.Sprintf("message %d of %d to %s: %s", changedAt, res.Sent, o.Target, changed))
	case errors.Is(noEcho, os.ErrDeadlineExceeded):
		return finish(exitPartial, "no-echo", fmt.Sprintf("sent %d message(s) to %s; the server received them but did not answer within %s (a server built from the tutorial only receives)", res.Sent, o.Target, echoWait))
	case noEcho != nil:
		return finish(exitPartial, "no-echo", fmt.Sprintf("sent %d message(s) to %s; no echo: %v", res.Sent, o.Target, noEcho))
	}
	return finish(exitOK, "echoed", "")
}

// dialRetry connects, once or (with --retry) once a second until the timeout.
func dialRetry(ctx context.Context, ios *IOStreams, o *sendOptions) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	var d net.Dialer
	for attempt := 1; ; attempt++ {
		conn, err := d.DialContext(ctx, "tcp", o.Target)
		if err == nil || !o.Retry || ctx.Err() != nil {
			return conn, err
		}
		if !o.JSON {
			ios.printf("connect attempt %d to %s failed (%v); retrying in %s\n", attempt, o.Target, err, retryPeriod)
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(retryPeriod):
		}
	}
}

// readerAdvice is what to do about a reader that takes a frame with one
// Receive: TCP hands over what has arrived, not a whole frame.
const readerAdvice = "the server's reader likely takes a frame with a single Receive " +
	"(the tutorial's), which returns only the bytes that have arrived: it must loop until it has read the whole length"

// compareEcho says how an echo differs from the message sent, or "" when
// it is the same: a large message cut short (only its start came back, or
// its start and then zeros: the rest of a buffer one Receive did not fill).
func compareEcho(sent, reply []byte) string {
	if bytes.Equal(sent, reply) {
		return ""
	}
	if len(reply) < len(sent) && bytes.HasPrefix(sent, reply) {
		return fmt.Sprintf("the echo holds only the first %d of the %d bytes sent: %s", len(reply), len(sent), readerAdvice)
	}
	if len(reply) == len(sent) {
		k := 0
		for k < len(sent) && sent[k] == reply[k] {
			k++
		}
		if k > 0 && len(bytes.Trim(reply[k:], "\x00")) == 0 {
			return fmt.Sprintf("the echo holds the first %d of the %d bytes sent, then zeros: %s", k, len(sent), readerAdvice)
		}
	}
	return fmt.Sprintf("the echo (%d bytes) differs from the %d bytes sent", len(reply), len(sent))
}

// cutEcho says that an echo stopped inside its payload.
func cutEcho(sent, got int) string {
	return fmt.Sprintf("the echo of a %d-byte message stopped after %d bytes: %s", sent, got, readerAdvice)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// printable shows a reply as it is when it is plain text, and quoted when
// it holds control bytes or is not UTF-8: a hostile server must not be able
// to drive the terminal with escape sequences.
func printable(b []byte) string {
	if utf8.Valid(b) && !bytes.ContainsFunc(b, func(r rune) bool { return unicode.IsControl(r) && r != '\t' }) {
		return string(b)
	}
	return strconv.Quote(string(b))
}
