package bench

import (
	"fmt"
	"io"
	"net"
	"os"
)

// rawEchoMode, as the value of helperEnv followed by an address, makes this
// test binary the plain echo server reach's framed server is compared with:
// io.Copy from each connection to itself (on Linux a splice, so its bytes
// never enter user space). It knows nothing of frames and logs nothing.
const rawEchoMode = "raw-echo="

// runRawEcho serves the plain echo on addr until killed.
func runRawEcho(addr string) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		go func() {
			io.Copy(c, c)
			c.Close()
		}()
	}
}
