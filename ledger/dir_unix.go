//go:build !windows && !darwin

package ledger

import "path/filepath"

func stateDir(home string) string { return filepath.Join(home, ".local", "state", "reach") }
