//go:build !(linux || darwin)

package main

import "io"

// writeBuffers writes bufs to w in order with one Write, joined in
// *scratch, and returns its error.
func writeBuffers(w io.Writer, bufs [][]byte, scratch *[]byte) error {
	return writeJoined(w, bufs, scratch)
}
