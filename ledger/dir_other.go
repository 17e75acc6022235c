//go:build windows || darwin

package ledger

import (
	"os"
	"path/filepath"
)

// stateDir is %LocalAppData%\reach on Windows, ~/Library/Application
// Support/reach on macOS.
func stateDir(home string) string {
	if d, err := os.UserConfigDir(); err == nil {
		if lad := os.Getenv("LocalAppData"); lad != "" {
			return filepath.Join(lad, "reach")
		}
		return filepath.Join(d, "reach")
	}
	return filepath.Join(home, ".reach")
}
