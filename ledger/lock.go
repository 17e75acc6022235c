package ledger

import (
	"context"
	"fmt"
	"os"
	"time"
)

// Waits for the lock, which another reach process holds for the
// milliseconds it takes to read and write the ledger: tried again at
// first soon, then less often.
const (
	lockPollMin = time.Millisecond
	lockPollMax = 50 * time.Millisecond
)

// lock takes an exclusive lock on path, waiting for other reach processes
// until ctx is done. A free lock is taken even when ctx is done already:
// what a cleanup records is not lost to the Ctrl-C that began it.
func lock(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ledger: lock %s: %w", path, err)
	}
	for poll := lockPollMin; ; poll = min(2*poll, lockPollMax) {
		busy, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("ledger: lock %s: %w", path, err)
		}
		if !busy {
			return func() {
				unlock(f)
				f.Close()
			}, nil
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("ledger: another reach process holds the lock %s (stop it, or wait for it): %w", path, ctx.Err())
		case <-t.C:
		}
	}
}
