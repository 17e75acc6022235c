package lab

import (
	"errors"
	"syscall"
)

// procAttr kills a lab process when the test process dies, so that no
// daemon outlives a killed test run.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }

// processAlive reports whether pid exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// killPID kills pid at once.
func killPID(pid int) { _ = syscall.Kill(pid, syscall.SIGKILL) }
