package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"testing"
)

// TestWriteBuffersToAPipe: the log's buffers reach a pipe whole and in
// order, more of them than one writev takes and more bytes than the pipe
// holds, so that writes end part way through a buffer.
func TestWriteBuffersToAPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var bufs [][]byte
	var want bytes.Buffer
	for i := range 3000 {
		b := []byte(fmt.Sprintf("line %d %s\n", i, bytes.Repeat([]byte{'x'}, i%97)))
		bufs = append(bufs, b)
		want.Write(b)
	}
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		got <- b
	}()
	var scratch []byte
	if err := writeBuffers(w, bufs, &scratch); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if b := <-got; !bytes.Equal(b, want.Bytes()) {
		t.Errorf("the pipe got %d bytes, want %d in order", len(b), want.Len())
	}
}

// TestWriteBuffersToAWriter: a writer that is not a file gets the
// buffers in one Write.
func TestWriteBuffersToAWriter(t *testing.T) {
	var w countingWriter
	var scratch []byte
	if err := writeBuffers(&w, [][]byte{[]byte("a\n"), []byte("b\n"), []byte("c\n")}, &scratch); err != nil {
		t.Fatal(err)
	}
	if w.writes != 1 || w.String() != "a\nb\nc\n" {
		t.Errorf("%d writes of %q; want one of \"a\\nb\\nc\\n\"", w.writes, w.String())
	}
}

type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}
