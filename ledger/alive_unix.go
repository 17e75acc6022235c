//go:build !linux && !windows

package ledger

import (
	"os"
	"syscall"
)

func alive(p *os.Process) bool {
	err := p.Signal(syscall.Signal(0))
	return err == nil || err == syscall.EPERM
}
