package frame

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// A client built from the tutorial counts the length of "año" in
// characters (3), not bytes (4): the server echoes "añ", then reads "o"
// and the next header as a length, and the client is dropped. The drop
// says why, and what to change in the client.
func TestServerExplainsTheCharLengthBug(t *testing.T) {
	events := make(chan Event, 16)
	_, addr := startServer(t, ServerConfig{OnEvent: func(ev Event) {
		if ev.Kind == EventError {
			events <- ev
		}
	}})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	wire := append([]byte{3, 0, 0, 0}, "año"...) // the tutorial: data.Length is 3
	wire = append(wire, append([]byte{5, 0, 0, 0}, "hello"...)...)
	if _, err := c.Write(wire); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	select {
	case ev := <-events:
		var cl *CharLengthError
		if !errors.As(ev.Err, &cl) || !strings.Contains(ev.Err.Error(), "counts the length in characters, not bytes") ||
			!strings.Contains(ev.Err.Error(), "Encoding.UTF8.GetBytes") {
			t.Errorf("drop = %v, want the char-length explanation", ev.Err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no drop event")
	}
	c.Close()
}
