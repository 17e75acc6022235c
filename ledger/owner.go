package ledger

import "os"

// Owner is the state of the process that made an entry.
type Owner string

// The owner states, as reach mappings shows them.
const (
	Running  Owner = "running"   // the process that made it still runs
	LeftOver Owner = "left over" // it is gone: nobody will remove the mapping
)

// Self is an entry's process fields for this process.
func Self() (pid int, started uint64) {
	pid = os.Getpid()
	started, _ = startTime(pid)
	return pid, started
}

// OwnerOf says whether e's process still runs. A pid that now belongs to
// another process (its start time differs) is gone.
func OwnerOf(e Entry) Owner {
	started, ok := startTime(e.PID)
	if !ok {
		return LeftOver
	}
	if e.Started != 0 && started != 0 && started != e.Started {
		return LeftOver
	}
	return Running
}
