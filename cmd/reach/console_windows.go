package main

import (
	"os"

	"golang.org/x/sys/windows"
)

// enableEscapes turns on virtual terminal processing on a Windows console
// so that colour and the spinner's line rewrite work; it reports whether
// the console understands escape codes. Older consoles do not: reach then
// prints plain lines.
func enableEscapes(f *os.File) bool {
	h := windows.Handle(f.Fd())
	var mode uint32
	if err := windows.GetConsoleMode(h, &mode); err != nil {
		return false
	}
	if mode&windows.ENABLE_VIRTUAL_TERMINAL_PROCESSING != 0 {
		return true
	}
	return windows.SetConsoleMode(h, mode|windows.ENABLE_VIRTUAL_TERMINAL_PROCESSING) == nil
}
