package frame

import (
	"net"
	"runtime"
	"testing"
)

// idleClientTarget is the memory budget per idle client: 10,000 of them in
// about 160 MiB, within a small home server or a Raspberry Pi.
const idleClientTarget = 16 << 10

// idleBytesPerClient opens n loopback clients that each send one 16 KiB frame,
// get its echo and then idle, and returns the server process's heap and
// stack growth per client. The test's own client sockets are in the same
// process, so the figure is an upper bound for the server alone.
func idleBytesPerClient(tb testing.TB, n int) float64 {
	// No OnEvent: a recorder keeping payloads would be measured too.
	_, addr := startServer(tb, ServerConfig{MaxClients: n})
	inUse := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse + m.StackInuse
	}
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	before := inUse()
	// A payload as big as the budget: a client that kept its buffer after
	// the echo would exceed it on that alone.
	payload := make([]byte, idleClientTarget)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			tb.Fatal(err)
		}
		conns = append(conns, c)
		if err := roundTrip(c, NewReader(c, 0), payload); err != nil {
			tb.Fatal(err)
		}
	}
	after := inUse()
	return float64(int64(after)-int64(before)) / float64(n)
}

func TestIdleClientMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 2,000 connections")
	}
	per := idleBytesPerClient(t, 2000)
	t.Logf("%.0f bytes per idle client", per)
	if per > idleClientTarget {
		t.Fatalf("%.0f bytes per idle client, want at most %d", per, idleClientTarget)
	}
}

// BenchmarkIdleClients reports the memory per idle client with 5,000
// clients; each iteration opens them all, so run it with -benchtime=1x.
func BenchmarkIdleClients(b *testing.B) {
	for b.Loop() {
		b.ReportMetric(idleBytesPerClient(b, 5000), "B/client")
	}
}
