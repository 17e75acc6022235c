package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// buildTimeout bounds building reach once for the whole suite: the module
// cache is warm, a cold build cache takes ~30 s on two cores.
const buildTimeout = 3 * time.Minute

var (
	reachBin      string // path of the reach binary under test
	reachBuildErr error  // why it could not be built
)

// binEnv names an environment variable holding a reach binary to test
// instead of building ./cmd/reach (a release build, say).
const binEnv = "REACH_E2E_BIN"

func TestMain(m *testing.M) {
	if bin := os.Getenv(binEnv); bin != "" {
		reachBin = bin
		if _, err := os.Stat(bin); err != nil {
			reachBuildErr = fmt.Errorf("%s: %w", binEnv, err)
		}
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "reach-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	reachBin = filepath.Join(dir, "reach")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	out, err := exec.CommandContext(ctx, "go", "build", "-o", reachBin, "github.com/reach-net/reach/cmd/reach").CombinedOutput()
	cancel()
	if err != nil {
		reachBuildErr = fmt.Errorf("go build ./cmd/reach: %v\n%s", err, out)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needReach fails t when the reach binary could not be built.
func needReach(t *testing.T) {
	t.Helper()
	if reachBuildErr != nil {
		t.Fatal(reachBuildErr)
	}
}
