package frame

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestServerDropsMisbehavingClientsAlone(t *testing.T) {
	rec := newRecorder()
	const idle = 500 * time.Millisecond
	_, addr := startServer(t, ServerConfig{OnEvent: rec.on, IdleTimeout: idle, MaxFrame: 64 << 10})

	// A well-behaved client echoes without pause the whole time.
	good := dial(t, addr)
	stop := make(chan struct{})
	goodDone := make(chan error, 1)
	var echoed int
	go func() {
		r := NewReader(good, 0)
		for {
			select {
			case <-stop:
				goodDone <- nil
				return
			default:
			}
			if err := roundTrip(good, r, []byte(fmt.Sprintf("still here %d", echoed))); err != nil {
				goodDone <- err
				return
			}
			echoed++
		}
	}()

	cases := []struct {
		name string
		send []byte
		want error
	}{
		{"2 GiB less one", []byte{0xff, 0xff, 0xff, 0x7f}, ErrTooLarge},
		{"top bit", []byte{0, 0, 0, 0x80}, ErrNegativeLength},
		{"over the limit", Append(nil, make([]byte, 64<<10+1)), ErrTooLarge},
		{"truncated", append([]byte{10, 0, 0, 0}, "abc"...), ErrTruncated},
		{"short header", []byte{10, 0}, ErrTruncated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := rec.count(errorIs(tc.want))
			c := dial(t, addr)
			// The server may close before all is written; the event decides.
			c.Write(tc.send)
			if errors.Is(tc.want, ErrTruncated) {
				c.(*net.TCPConn).CloseWrite()
			} else {
				expectClosed(t, c, tc.name)
			}
			e := rec.waitCount(t, string(tc.want.Error()), before+1, errorIs(tc.want))
			if msg := e[len(e)-1].Err.Error(); !strings.HasPrefix(msg, "frame: ") {
				t.Errorf("reason %q lacks the package prefix", msg)
			}
		})
	}

	t.Run("slowloris", func(t *testing.T) {
		c := dial(t, addr)
		wire := Append(nil, []byte("one byte at a time, forever"))
		// One byte per half timeout: each byte would refresh a per-read
		// deadline, but the deadline covers the whole frame.
		tick := time.NewTicker(idle / 2)
		defer tick.Stop()
		guard := time.After(waitLimit)
		for i := 0; rec.count(errorIs(ErrIdleTimeout)) == 0; i++ {
			if i >= len(wire) {
				t.Fatalf("the whole frame was sent, one byte per %s, without a drop", idle/2)
			}
			select {
			case <-guard:
				t.Fatalf("no idle-timeout drop after %s", waitLimit)
			case <-tick.C:
			}
			if _, err := c.Write(wire[i : i+1]); err != nil {
				break // dropped already: the event confirms it
			}
		}
		rec.waitCount(t, "idle timeout", 1, errorIs(ErrIdleTimeout))
		expectClosed(t, c, "slowloris")
	})

	close(stop)
	if err := <-goodDone; err != nil {
		t.Fatalf("well-behaved client: %v", err)
	}
	if echoed == 0 {
		t.Fatal("well-behaved client got no echo")
	}
	if n := rec.count(func(e Event) bool { return e.Kind == EventError && e.Client == 1 }); n != 0 {
		t.Fatalf("the well-behaved client was dropped")
	}
}

// TestServerLyingHeaderTakesNoMemory: with the limit raised to the maximum,
// a header claiming 2 GiB and a few bytes must not cost the server 2 GiB.
func TestServerLyingHeaderTakesNoMemory(t *testing.T) {
	rec := newRecorder()
	_, addr := startServer(t, ServerConfig{OnEvent: rec.on, MaxFrame: 1<<31 - 1})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const liars = 20
	for range liars {
		c := dial(t, addr)
		if _, err := c.Write(append([]byte{0xff, 0xff, 0xff, 0x7f}, "not 2 GiB"...)); err != nil {
			t.Fatal(err)
		}
	}
	rec.waitCount(t, "connect", liars, kind(EventConnect))
	good := dial(t, addr)
	if err := roundTrip(good, NewReader(good, 0), []byte("hola")); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if took := after.TotalAlloc - before.TotalAlloc; took > liars<<20 {
		t.Fatalf("%d clients claiming 2 GiB frames cost %d bytes; want under 1 MiB each", liars, took)
	}
}

func TestServerFull(t *testing.T) {
	rec := newRecorder()
	const maxClients, flood = 50, 5000
	s, addr := startServer(t, ServerConfig{OnEvent: rec.on, MaxClients: maxClients})
	good := dial(t, addr)
	gr := NewReader(good, 0)
	if err := roundTrip(good, gr, []byte("first")); err != nil {
		t.Fatal(err)
	}

	conns := make([]net.Conn, flood)
	var wg sync.WaitGroup
	const dialers = 64
	for w := range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < flood; i += dialers {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Errorf("dial %d: %v", i, err)
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if t.Failed() {
		return
	}
	full := rec.waitCount(t, "server full", flood-(maxClients-1), errorIs(ErrServerFull))
	if want := "frame: server full: 50 clients; raise --max-clients"; full[0].Err.Error() != want {
		t.Errorf("reason %q, want %q", full[0].Err, want)
	}
	if full[0].Clients != maxClients {
		t.Errorf("refusal says %d clients connected, want %d", full[0].Clients, maxClients)
	}
	if n := len(s.Clients()); n != maxClients {
		t.Errorf("%d clients connected, want the limit %d", n, maxClients)
	}
	if n := rec.count(kind(EventConnect)); n != maxClients {
		t.Errorf("%d clients admitted, want %d", n, maxClients)
	}
	if err := roundTrip(good, gr, []byte("still served")); err != nil {
		t.Fatalf("well-behaved client during the flood: %v", err)
	}
}

// One host cannot take every slot: past MaxPerIP its connections are
// refused, while another host still gets in and a slot freed is reusable.
func TestServerLimitsClientsPerAddress(t *testing.T) {
	rec := newRecorder()
	const perIP = 3
	s, addr := startServer(t, ServerConfig{OnEvent: rec.on, MaxPerIP: perIP})
	var first []net.Conn
	for range perIP + 2 {
		first = append(first, dial(t, addr))
	}
	refused := rec.waitCount(t, "per-address refusals", 2, errorIs(ErrTooManyFromIP))
	if want := "frame: 3 clients from 127.0.0.1 already connected; refused"; !strings.HasPrefix(refused[0].Err.Error(), want) {
		t.Errorf("reason %q, want it to start %q", refused[0].Err, want)
	}
	if n := len(s.Clients()); n != perIP {
		t.Errorf("%d clients connected, want %d", n, perIP)
	}

	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	other, err := d.Dial("tcp", addr)
	if err != nil {
		t.Skipf("cannot dial from 127.0.0.2 to play another host: %v", err)
	}
	defer other.Close()
	if err := roundTrip(other, NewReader(other, 0), []byte("another host")); err != nil {
		t.Fatalf("client from another address refused: %v", err)
	}

	first[0].Close()
	rec.waitCount(t, "a disconnect", 1, kind(EventDisconnect))
	again := dial(t, addr)
	if err := roundTrip(again, NewReader(again, 0), []byte("slot freed")); err != nil {
		t.Fatalf("the freed slot was not given back: %v", err)
	}
}
