package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// buildTimeout bounds building reach once for a test binary: the module
// cache is warm, a cold build cache takes ~30 s on two cores.
const buildTimeout = 3 * time.Minute

// ReachBinary returns the reach binary that end-to-end tests and benchmarks
// run inside the lab: the one named by the environment variable env (a
// release build, say), or else one built from this module into a new
// temporary directory. cleanup removes what was built; it is never nil.
func ReachBinary(env string) (path string, cleanup func(), err error) {
	cleanup = func() {}
	if bin := os.Getenv(env); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", cleanup, fmt.Errorf("%s: %w", env, err)
		}
		return bin, cleanup, nil
	}
	dir, err := os.MkdirTemp("", "reach-bin-")
	if err != nil {
		return "", cleanup, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	path = filepath.Join(dir, "reach")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", path, "github.com/reach-net/reach/cmd/reach").CombinedOutput()
	if err != nil {
		return "", cleanup, fmt.Errorf("go build ./cmd/reach: %v\n%s", err, out)
	}
	return path, cleanup, nil
}
