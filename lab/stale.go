package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// stalePrefix starts every lab namespace name: "rch<pid>n<seq>-<host>".
const stalePrefix = "rch"

// tempDirPrefix starts every lab's temp dir: "reach-lab-<pid>-<random>".
const tempDirPrefix = "reach-lab-"

// netnsDir is where `ip netns` keeps named namespaces.
const netnsDir = "/run/netns"

// cleanupTimeout bounds removing one namespace (killing what runs in it).
const cleanupTimeout = 10 * time.Second

// CleanupStale removes namespaces and temp dirs left by lab runs whose
// process is gone (a test binary killed before its cleanup ran), and kills
// what still runs in those namespaces. Those of living processes are left
// alone.
func CleanupStale() error {
	return errors.Join(cleanupStale(stalePrefix), cleanupStaleDirs(os.TempDir()))
}

// cleanupStaleDirs removes lab temp dirs in tmp whose process is gone.
func cleanupStaleDirs(tmp string) error {
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return fmt.Errorf("lab: listing %s: %w", tmp, err)
	}
	var errs []error
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), tempDirPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		digits, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(digits)
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(tmp, e.Name())); err != nil {
			errs = append(errs, fmt.Errorf("lab: %w", err))
		}
	}
	return errors.Join(errs...)
}

// cleanupStale is CleanupStale for the namespaces named prefix<pid>n...
// (tests use their own prefix, out of reach of concurrent cleanups).
func cleanupStale(prefix string) error {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lab: listing namespaces: %w", err)
	}
	var errs []error
	for _, e := range entries {
		pid, ok := labPID(prefix, e.Name())
		if !ok || processAlive(pid) {
			continue
		}
		if err := removeNamespace(e.Name()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// labPID returns the pid in a lab namespace name "<prefix><pid>n<seq>-<host>".
func labPID(prefix, name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	digits, _, ok := strings.Cut(rest, "n")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(digits)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}

// removeNamespace kills every process in namespace ns and deletes it.
func removeNamespace(ns string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "pids", ns).Output()
	if err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
				killPID(pid)
			}
		}
	}
	if err := run(ctx, "ip", "netns", "delete", ns); err != nil {
		if _, statErr := os.Stat(netnsDir + "/" + ns); errors.Is(statErr, os.ErrNotExist) {
			return nil
		}
		return err
	}
	return nil
}
