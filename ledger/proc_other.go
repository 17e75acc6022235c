//go:build !linux

package ledger

import "os"

// startTime says whether pid runs; its start time is unknown here (0), so
// a reused pid counts as the owner: a leftover is then kept, never a live
// mapping removed.
func startTime(pid int) (uint64, bool) {
	if pid <= 0 {
		return 0, false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return 0, false
	}
	defer p.Release() // on Windows the handle FindProcess opened
	return 0, alive(p)
}
