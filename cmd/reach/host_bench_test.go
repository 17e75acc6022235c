package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reach-net/reach/frame"
)

// BenchmarkClientLine is what the host log spends on one message's line,
// for people and in JSON, for a chat line and for the start of a 64 KiB
// frame (the 200 bytes, or 1 KiB in JSON, the line carries of it).
//
//	go test ./cmd/reach -run '^$' -bench ClientLine -benchmem
func BenchmarkClientLine(b *testing.B) {
	at := time.Date(2026, 12, 2, 10, 4, 5, 0, time.UTC)
	for _, m := range []struct {
		name    string
		payload []byte
		size    int
	}{
		{"64B", bytes.Repeat([]byte("hola mundo "), 6)[:64], 64},
		{"64KiB", bytes.Repeat([]byte("hola mundo "), 400)[:jsonMessageLimit+4], 64 << 10},
	} {
		for _, jsonMode := range []bool{false, true} {
			name := m.name + "/human"
			if jsonMode {
				name = m.name + "/json"
			}
			l := &clientLog{jsonMode: jsonMode, proto: "tcp"}
			ev := frame.Event{Kind: frame.EventMessage, Client: 42, Remote: "203.0.113.7:50123", Payload: m.payload, Clients: 100, Time: at}
			if m.size > len(m.payload) {
				ev.Size = m.size
			}
			b.Run(name, func(b *testing.B) {
				buf := make([]byte, 0, 8<<10)
				for b.Loop() {
					buf = l.render(buf[:0], ev)
				}
			})
		}
	}
}

// BenchmarkClientBatch is what the host log spends per line on a read of
// 64-byte messages (16 KiB, as a busy client's reads hold): the shared
// head rendered once, every line, the queue and the printer's write, for
// people and in JSON. The output is /dev/null, as in the echo benchmark:
// the log's own cost.
//
//	go test ./cmd/reach -run '^$' -bench ClientBatch -benchmem
func BenchmarkClientBatch(b *testing.B) {
	at := time.Date(2026, 12, 2, 10, 4, 5, 0, time.UTC)
	one := frame.Append(nil, bytes.Repeat([]byte("hola mundo "), 6)[:64])
	frames := bytes.Repeat(one, (16<<10)/len(one))
	for _, jsonMode := range []bool{false, true} {
		name := "64B/human"
		if jsonMode {
			name = "64B/json"
		}
		b.Run(name, func(b *testing.B) {
			null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer null.Close()
			l := newHostLog(&IOStreams{Out: null, ErrOut: null}, jsonMode, false)
			m := frame.NewMessages(42, "203.0.113.7:50123", 4, at, frames)
			cpu0 := processCPU()
			for b.Loop() {
				l.messages(m)
			}
			l.close()
			b.StopTimer()
			lines := float64(b.N * m.Len())
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/lines, "ns/line")
			if cpu0 > 0 {
				// The CPU time of the process, printer and GC included: on
				// a busy machine it varies less than the time passed.
				b.ReportMetric(float64(processCPU()-cpu0)/lines, "cpu-ns/line")
			}
		})
	}
}

// processCPU is the CPU time this process has used, in nanoseconds, from
// /proc/self/stat (to the clock tick); 0 where there is no /proc.
func processCPU() int64 {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// The fields after the command's name, which ends with ')': utime and
	// stime are the 12th and 13th, in ticks of 1/100 s.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return (utime + stime) * int64(10*time.Millisecond)
}
