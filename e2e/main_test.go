package e2e

import (
	"os"
	"testing"

	"github.com/reach-net/reach/lab"
)

var (
	reachBin      string // path of the reach binary under test
	reachBuildErr error  // why it could not be built
)

// binEnv names an environment variable holding a reach binary to test
// instead of building ./cmd/reach (a release build, say).
const binEnv = "REACH_E2E_BIN"

func TestMain(m *testing.M) {
	bin, cleanup, err := lab.ReachBinary(binEnv)
	reachBin, reachBuildErr = bin, err
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// needReach fails t when the reach binary could not be built.
func needReach(t *testing.T) {
	t.Helper()
	if reachBuildErr != nil {
		t.Fatal(reachBuildErr)
	}
}
