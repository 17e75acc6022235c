//go:build !windows

package main

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reach-net/reach/ledger"
)

// TestMapInterruptedWhileAnotherReachHoldsTheLedger: Ctrl-C ends a map
// that waits to read the ledger (for leftovers to heal) while another
// reach holds its lock (here a second open file, as flock(2) sees another
// process), with exit 130 and no word about the ledger: Ctrl-C is not
// evidence.
func TestMapInterruptedWhileAnotherReachHoldsTheLedger(t *testing.T) {
	dir := t.TempDir()
	elsewhere := ledger.Entry{Gateway: netip.MustParseAddr("10.9.9.1"), Protocol: "tcp", ExternalPort: 4000, Command: "map"}
	if _, err := ledger.Open(dir).Add(context.Background(), elsewhere); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "ledger.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	m := newFakeMapper("11.0.0.2")
	d := fakeDeps(tableLister{m}, false)
	d.Ledger = ledger.Open(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Ctrl-C comes while map waits: the lock is never released.
	time.AfterFunc(100*time.Millisecond, cancel)
	done := make(chan cliRun, 1)
	go func() { done <- runCLI(ctx, d, "map", "--port", "1234") }()
	var r cliRun
	select {
	case r = <-done:
	case <-time.After(10 * time.Second): // a guard against a hang, not a timing
		t.Fatal("map still waits for the ledger's lock 10 s after Ctrl-C")
	}
	if r.code != exitInterrupted {
		t.Errorf("exit %d, want 130\nstderr %s", r.code, r.err)
	}
	if m.has(1234) {
		t.Error("the router holds a mapping an interrupted map made")
	}
	if errOut := r.err.String(); strings.Contains(errOut, "ledger") {
		t.Errorf("an interrupted map spoke of the ledger:\n%s", errOut)
	}
}
