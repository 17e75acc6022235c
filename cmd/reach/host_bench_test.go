package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/reach-net/reach/frame"
)

// BenchmarkClientLine is what the host log spends on one message's line,
// for people and in JSON, for a chat line and for the start of a 64 KiB
// frame (the 200 bytes, or 4 KiB in JSON, the line carries of it).
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
			l := &clientLog{jsonMode: jsonMode}
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
