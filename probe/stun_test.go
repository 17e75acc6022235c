package probe

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/stun/v3"
)

// shortWait bounds the tests that expect no valid answer; the resend at
// 500 ms falls inside it.
const shortWait = 800 * time.Millisecond

var publicSeen = netip.MustParseAddrPort("11.0.0.2:40000")

// fakeSTUN is a STUN server on 127.0.0.1; reply builds the answers to each
// request (none: silent).
type fakeSTUN struct {
	addr string
	reqs atomic.Int32
}

func newFakeSTUN(t *testing.T, reply func(req *stun.Message) [][]byte) *fakeSTUN {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSTUN{addr: conn.LocalAddr().String()}
	done := make(chan struct{})
	t.Cleanup(func() { conn.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			f.reqs.Add(1)
			req := new(stun.Message)
			if err := stun.Decode(buf[:n], req); err != nil || req.Type != stun.BindingRequest {
				t.Errorf("fake STUN server got a bad request %x: %v", buf[:n], err)
				continue
			}
			for _, b := range reply(req) {
				conn.WriteToUDPAddrPort(b, from)
			}
		}
	}()
	return f
}

// binding builds a Binding success to tid carrying addr as attribute attr.
func binding(t *testing.T, tid [stun.TransactionIDSize]byte, addr netip.AddrPort, xor bool) []byte {
	t.Helper()
	var a stun.Setter = &stun.XORMappedAddress{IP: addr.Addr().AsSlice(), Port: int(addr.Port())}
	if !xor {
		a = &stun.MappedAddress{IP: addr.Addr().AsSlice(), Port: int(addr.Port())}
	}
	m, err := stun.Build(stun.NewTransactionIDSetter(tid), stun.BindingSuccess, a, stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

func TestPublicAddr(t *testing.T) {
	for _, xor := range []bool{true, false} {
		f := newFakeSTUN(t, func(req *stun.Message) [][]byte {
			return [][]byte{binding(t, req.TransactionID, publicSeen, xor)}
		})
		got, err := PublicAddr(t.Context(), []string{f.addr})
		if err != nil {
			t.Fatalf("xor=%v: %v", xor, err)
		}
		if got.Addr != publicSeen || got.Server != f.addr {
			t.Errorf("xor=%v: got %+v, want %v from %s", xor, got, publicSeen, f.addr)
		}
	}
}

// TestPublicAddrIgnoresBadReplies: each bad reply comes before the good one.
func TestPublicAddrIgnoresBadReplies(t *testing.T) {
	for name, bad := range map[string]func(req *stun.Message) []byte{
		"wrong transaction": func(req *stun.Message) []byte {
			return binding(t, stun.NewTransactionID(), netip.MustParseAddrPort("6.6.6.6:1"), true)
		},
		"truncated": func(req *stun.Message) []byte {
			return binding(t, req.TransactionID, netip.MustParseAddrPort("6.6.6.6:1"), true)[:24]
		},
		"not stun": func(req *stun.Message) []byte { return []byte("hello") },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeSTUN(t, func(req *stun.Message) [][]byte {
				return [][]byte{bad(req), binding(t, req.TransactionID, publicSeen, true)}
			})
			got, err := PublicAddr(t.Context(), []string{f.addr})
			if err != nil {
				t.Fatal(err)
			}
			if got.Addr != publicSeen {
				t.Errorf("got %v, want the valid reply's %v", got.Addr, publicSeen)
			}
		})
	}
}

func TestPublicAddrOnlyBadReplies(t *testing.T) {
	for name, tc := range map[string]struct {
		reply func(req *stun.Message) []byte
		why   string
	}{
		"wrong transaction": {func(req *stun.Message) []byte {
			return binding(t, stun.NewTransactionID(), publicSeen, true)
		}, "another transaction"},
		"truncated": {func(req *stun.Message) []byte {
			return binding(t, req.TransactionID, publicSeen, true)[:30]
		}, "malformed"},
		"error response": {func(req *stun.Message) []byte {
			m := stun.MustBuild(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingError, stun.CodeBadRequest)
			return m.Raw
		}, "400"},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeSTUN(t, func(req *stun.Message) [][]byte { return [][]byte{tc.reply(req)} })
			ctx, cancel := context.WithTimeout(t.Context(), shortWait)
			defer cancel()
			_, err := PublicAddr(ctx, []string{f.addr})
			if !errors.Is(err, ErrSTUNNoAnswer) {
				t.Fatalf("error %v, want ErrSTUNNoAnswer", err)
			}
			if !strings.Contains(err.Error(), tc.why) {
				t.Errorf("error %q does not say %q", err, tc.why)
			}
		})
	}
}

func TestPublicAddrSilent(t *testing.T) {
	silent := newFakeSTUN(t, func(*stun.Message) [][]byte { return nil })
	ctx, cancel := context.WithTimeout(t.Context(), shortWait)
	defer cancel()
	_, err := PublicAddr(ctx, []string{silent.addr})
	if !errors.Is(err, ErrSTUNNoAnswer) {
		t.Fatalf("error %v, want ErrSTUNNoAnswer", err)
	}
	if n := silent.reqs.Load(); n != 2 {
		t.Errorf("the server got %d requests, want the first and one resend", n)
	}

	// One silent server does not hide the answer of another.
	good := newFakeSTUN(t, func(req *stun.Message) [][]byte {
		return [][]byte{binding(t, req.TransactionID, publicSeen, true)}
	})
	got, err := PublicAddr(t.Context(), []string{silent.addr, good.addr})
	if err != nil {
		t.Fatal(err)
	}
	if got.Server != good.addr {
		t.Errorf("answer from %s, want %s", got.Server, good.addr)
	}
}

func TestPublicAddrBadServer(t *testing.T) {
	for _, s := range []string{"no-port", "[::1]:3478", "127.0.0.1:notaport"} {
		if _, err := PublicAddr(t.Context(), []string{s}); err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("server %q: error %v, want one naming it", s, err)
		}
	}
	if _, err := PublicAddr(t.Context(), nil); err == nil {
		t.Error("no servers: no error")
	}
}

func FuzzParseSTUNReply(f *testing.F) {
	tid := [stun.TransactionIDSize]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	ok := stun.MustBuild(stun.NewTransactionIDSetter(tid), stun.BindingSuccess,
		&stun.XORMappedAddress{IP: net.IPv4(11, 0, 0, 2), Port: 40000}, stun.Fingerprint)
	f.Add(ok.Raw)
	f.Add(stun.MustBuild(stun.NewTransactionIDSetter(tid), stun.BindingSuccess,
		&stun.MappedAddress{IP: net.IPv4(11, 0, 0, 2), Port: 1}).Raw)
	f.Add(stun.MustBuild(stun.NewTransactionIDSetter(tid), stun.BindingError, stun.CodeBadRequest).Raw)
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseSTUNReply(b, tid)
		if err != nil {
			return
		}
		if !got.Addr().IsValid() || len(b) < 20 || [12]byte(b[8:20]) != tid {
			t.Fatalf("accepted %x as %v", b, got)
		}
	})
}
