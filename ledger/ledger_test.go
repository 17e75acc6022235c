package ledger

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func entry(port uint16) Entry {
	pid, started := Self()
	return Entry{Gateway: netip.MustParseAddr("192.168.1.1"), Protocol: "tcp", ExternalPort: port,
		InternalIP: netip.MustParseAddr("192.168.1.10"), InternalPort: port, Method: "upnp-igd2",
		Command: "expose", PID: pid, Started: started}
}

// Writers that run at once (two reach processes) lose no entry.
func TestConcurrentWriters(t *testing.T) {
	l := Open(t.TempDir())
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := l.Add(context.Background(), entry(uint16(2000+i))); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, _, err := l.List(context.Background())
	if err != nil || len(got) != 40 {
		t.Fatalf("%d entries after 40 concurrent adds (err %v), want 40", len(got), err)
	}
	if _, err := l.Remove(context.Background(), entry(2000)); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := l.List(context.Background()); len(got) != 39 {
		t.Errorf("%d entries after a remove, want 39", len(got))
	}
}

// A corrupt file is set aside with a warning, never a crash, and the
// ledger goes on.
func TestCorruptFileIsSetAside(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ledger.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := Open(dir)
	warn, err := l.Add(context.Background(), entry(1234))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(warn), "could not be read") || !strings.Contains(string(warn), ".corrupt") {
		t.Errorf("warning = %q, want that the file was set aside", warn)
	}
	if _, err := os.Stat(filepath.Join(dir, "ledger.json.corrupt")); err != nil {
		t.Errorf("the corrupt file was not kept: %v", err)
	}
	if got, warn, _ := l.List(context.Background()); len(got) != 1 || warn != "" {
		t.Errorf("after recovery: %d entries, warning %q", len(got), warn)
	}
}

// A ledger that cannot be read (here a directory where the file should
// be; for a user, permissions or a disk error) is an error, and is never
// set aside as if it were corrupt: its entries are what heals leftovers.
func TestUnreadableLedgerIsKept(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "ledger.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	l := Open(dir)
	if _, _, err := l.List(context.Background()); err == nil || !strings.Contains(err.Error(), "ledger.json") {
		t.Errorf("List of an unreadable ledger: %v, want an error naming it", err)
	}
	if _, err := l.Add(context.Background(), entry(1234)); err == nil {
		t.Error("Add over an unreadable ledger succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "ledger.json.corrupt")); err == nil {
		t.Error("an unreadable ledger was set aside as corrupt")
	}
}

// The same mapping is one entry; the ledger stays bounded.
func TestReplaceAndBound(t *testing.T) {
	l := Open(t.TempDir())
	l.Add(context.Background(), entry(1234))
	l.Add(context.Background(), entry(1234))
	if got, _, _ := l.List(context.Background()); len(got) != 1 {
		t.Errorf("%d entries for one mapping added twice", len(got))
	}
	for i := range maxEntries + 10 {
		l.Add(context.Background(), entry(uint16(3000+i)))
	}
	got, _, _ := l.List(context.Background())
	if len(got) != maxEntries || got[len(got)-1].ExternalPort != uint16(3000+maxEntries+9) {
		t.Errorf("%d entries, last %d: want the newest %d", len(got), got[len(got)-1].ExternalPort, maxEntries)
	}
}

// An entry of this process is running; one whose process is gone is left
// over. One whose pid was reused by another process (another start time)
// is left over where reach can read a process's start time (Linux);
// elsewhere the start time is unknown, and such an entry counts as
// running: a leftover is then kept, never a live mapping removed.
func TestOwner(t *testing.T) {
	e := entry(1234)
	if OwnerOf(e) != Running {
		t.Errorf("this process's entry is %q", OwnerOf(e))
	}
	reused := e
	reused.Started = e.Started + 12345
	if runtime.GOOS == "linux" {
		if e.Started == 0 {
			t.Fatalf("no start time for this process (pid %d) on Linux", e.PID)
		}
		if OwnerOf(reused) != LeftOver {
			t.Errorf("an entry whose pid now runs another process is %q, want left over", OwnerOf(reused))
		}
	} else {
		if e.Started != 0 {
			t.Errorf("start time %d on %s, where reach cannot read one", e.Started, runtime.GOOS)
		}
		if OwnerOf(reused) != Running {
			t.Errorf("an entry whose pid runs, start time unknown, is %q, want running", OwnerOf(reused))
		}
	}
	gone := e
	gone.PID = 1 << 30
	if OwnerOf(gone) != LeftOver {
		t.Errorf("an entry of a process that is gone is %q", OwnerOf(gone))
	}
}

// TestLockWaitsUntilTheContextEnds: a ledger whose lock another reach
// holds (a second open file, as flock(2) and LockFileEx see another
// process) is waited for while the context lasts, and given up once it
// ends, with the context's error; a free lock is taken even with the
// context ended, so that a cleanup after Ctrl-C still records.
func TestLockWaitsUntilTheContextEnds(t *testing.T) {
	dir := t.TempDir()
	l := Open(dir)
	if _, err := l.Add(context.Background(), entry(1234)); err != nil {
		t.Fatal(err)
	}
	held, err := os.OpenFile(filepath.Join(dir, "ledger.lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if busy, err := tryLock(held); err != nil || busy {
		t.Fatalf("tryLock: busy %t, %v", busy, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	waited := make(chan error, 1)
	go func() {
		_, err := l.Remove(ctx, entry(1234))
		waited <- err
	}()
	select {
	case err := <-waited:
		t.Fatalf("Remove did not wait for the lock: %v", err)
	case <-time.After(50 * time.Millisecond): // still waiting, as it should
	}
	cancel()
	select {
	case err := <-waited:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "another reach process holds") {
			t.Errorf("Remove after its context ended: %v, want the lock held and context.Canceled", err)
		}
	case <-time.After(10 * time.Second): // a guard against a hang, not a timing
		t.Fatal("Remove still waits for the lock 10 s after its context ended")
	}

	later := make(chan error, 1)
	go func() {
		_, err := l.Remove(context.Background(), entry(1234))
		later <- err
	}()
	unlock(held)
	if err := <-later; err != nil {
		t.Fatalf("Remove once the lock was released: %v", err)
	}
	done, stop := context.WithCancel(context.Background())
	stop()
	if _, err := l.Add(done, entry(4321)); err != nil {
		t.Fatalf("Add with its context ended and the lock free: %v", err)
	}
	if got, _, _ := l.List(context.Background()); len(got) != 1 || got[0].ExternalPort != 4321 {
		t.Errorf("ledger = %+v, want only 4321", got)
	}
}
