// Package ledger records every mapping reach makes on a router, with the
// process that made it, so that a later reach can tell its own leftovers
// (an expose killed before it could clean up) from mappings that are
// somebody's choice, and remove them. The ledger is one JSON file in the
// user's state directory, written atomically under a file lock, so that
// several reach processes can share it.
package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// maxEntries bounds the ledger: far more than one user's mappings, and a
// file that cannot grow without end if something keeps adding.
const maxEntries = 256

// Entry is one mapping reach made.
type Entry struct {
	Gateway      netip.Addr    `json:"gateway"`
	Protocol     string        `json:"protocol"`
	ExternalPort uint16        `json:"external_port"`
	InternalIP   netip.Addr    `json:"internal_ip"`
	InternalPort uint16        `json:"internal_port"`
	Method       string        `json:"method"`
	Lease        time.Duration `json:"lease"`
	// Command is the reach command that made it: "expose" or "map".
	Command string `json:"command"`
	// PID and Started identify the process; Started (its start time, as
	// the system counts it) tells a reused pid from the owner.
	PID     int       `json:"pid"`
	Started uint64    `json:"started"`
	Created time.Time `json:"created"`
	// Kind is "pinhole" for an IPv6 pinhole (InternalIP is then the
	// host's IPv6 address and ExternalPort its port); empty for a mapping.
	Kind string `json:"kind,omitempty"`
}

// Key says which mapping an entry is: the router, protocol and external
// port.
func (e Entry) Key() string {
	return fmt.Sprintf("%s %s/%d", e.Gateway, e.Protocol, e.ExternalPort)
}

// Same reports whether e and o name the same mapping on the same router.
func (e Entry) Same(o Entry) bool {
	return e.Gateway == o.Gateway && e.Protocol == o.Protocol && e.ExternalPort == o.ExternalPort && e.Kind == o.Kind
}

// Ledger is the ledger file in one directory.
type Ledger struct {
	dir string
}

// DefaultDir is $XDG_STATE_HOME/reach, else ~/.local/state/reach (on
// Windows and macOS the user's config directory + "/reach/state").
func DefaultDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "reach"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("ledger: no home directory for the state: %w", err)
	}
	return stateDir(home), nil
}

// Open returns the ledger in dir; the file is made on the first write.
func Open(dir string) *Ledger { return &Ledger{dir: dir} }

func (l *Ledger) path() string { return filepath.Join(l.dir, "ledger.json") }

// Warning is something the ledger set aside without failing (a corrupt
// file).
type Warning string

// Update reads the entries under the lock, lets change edit them, and
// writes the result atomically. A corrupt file is moved aside (and said so
// in the warning); the ledger then starts empty. It waits for another
// reach process's lock until ctx is done.
func (l *Ledger) Update(ctx context.Context, change func([]Entry) []Entry) (Warning, error) {
	if err := os.MkdirAll(l.dir, 0o700); err != nil {
		return "", fmt.Errorf("ledger: make %s: %w", l.dir, err)
	}
	unlock, err := lock(ctx, filepath.Join(l.dir, "ledger.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	entries, warn, err := l.read()
	if err != nil {
		return "", err
	}
	out := change(append([]Entry(nil), entries...))
	if len(out) > maxEntries {
		out = out[len(out)-maxEntries:] // the oldest go first
	}
	if warn == "" && slices.Equal(out, entries) {
		return "", nil // nothing changed: no write
	}
	return warn, l.write(out)
}

// List returns the entries, read under the lock; it writes nothing but
// to set a corrupt file aside.
func (l *Ledger) List(ctx context.Context) ([]Entry, Warning, error) {
	if _, err := os.Stat(l.path()); errors.Is(err, os.ErrNotExist) {
		return nil, "", nil // no ledger yet: nothing reach made
	}
	unlock, err := lock(ctx, filepath.Join(l.dir, "ledger.lock"))
	if err != nil {
		return nil, "", err
	}
	defer unlock()
	return l.read()
}

// Add records e, replacing an entry of the same mapping.
func (l *Ledger) Add(ctx context.Context, e Entry) (Warning, error) {
	return l.Update(ctx, func(es []Entry) []Entry {
		out := es[:0]
		for _, o := range es {
			if !o.Same(e) {
				out = append(out, o)
			}
		}
		return append(out, e)
	})
}

// Remove drops the entry of the same mapping as e, if any.
func (l *Ledger) Remove(ctx context.Context, e Entry) (Warning, error) {
	return l.Update(ctx, func(es []Entry) []Entry {
		out := es[:0]
		for _, o := range es {
			if !o.Same(e) {
				out = append(out, o)
			}
		}
		return out
	})
}

// read returns the ledger's entries. A file that is not a ledger is set
// aside with a warning and reach starts a new one; a file that cannot be
// read (permissions, a disk error) is an error, and stays as it is.
func (l *Ledger) read() ([]Entry, Warning, error) {
	b, err := os.ReadFile(l.path())
	switch {
	case errors.Is(err, os.ErrNotExist) || (err == nil && len(b) == 0):
		return nil, "", nil
	case err != nil:
		return nil, "", fmt.Errorf("ledger: read %s: %w (check its permissions)", l.path(), err)
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		aside := l.path() + ".corrupt"
		os.Rename(l.path(), aside)
		return nil, Warning(fmt.Sprintf("the ledger of reach's mappings (%s) could not be read (%v); it was moved to %s and reach starts a new one", l.path(), err, aside)), nil
	}
	return f.Entries, "", nil
}

// file is the ledger's form on disk.
type file struct {
	Version int     `json:"version"`
	Entries []Entry `json:"entries"`
}

func (l *Ledger) write(entries []Entry) error {
	b, err := json.MarshalIndent(file{Version: 1, Entries: entries}, "", "  ")
	if err != nil {
		return fmt.Errorf("ledger: encode: %w", err)
	}
	tmp, err := os.CreateTemp(l.dir, "ledger-*.json")
	if err != nil {
		return fmt.Errorf("ledger: write %s: %w", l.dir, err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("ledger: write %s: %w", tmp.Name(), err)
	}
	// No fsync: the rename is atomic for every other process, and the
	// ledger is advice about leases that expire anyway; a flush to disk on
	// every mapping would cost each command milliseconds.
	tmp.Close()
	if err := os.Rename(tmp.Name(), l.path()); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("ledger: replace %s: %w", l.path(), err)
	}
	return nil
}
