//go:build !linux

package lab

import "syscall"

// The lab needs Linux network namespaces; elsewhere Require skips (or, in
// CI, fails) before any of these runs. They exist so that the packages
// whose tests use the lab build and vet on every platform.

func procAttr() *syscall.SysProcAttr { return nil }

func processAlive(int) bool { return false }

func killPID(int) {}
