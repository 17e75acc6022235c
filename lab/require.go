package lab

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Binaries the lab runs, and the Debian packages that hold them.
var requiredBinaries = []string{"ip", "nft", "miniupnpd", "upnpc", "natpmpc", "turnserver", "turnutils_stunclient", "bash"}

// requirement is the one line a skipped test prints.
const requirement = "lab tests need root and the Debian packages miniupnpd-nftables miniupnpc natpmpc nftables coturn iproute2"

// Missing lists what this machine lacks to run a lab: "root" and the
// binaries not found in PATH. Empty means a lab can run.
func Missing() []string {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, b := range requiredBinaries {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	return missing
}

// Require skips t when the lab cannot run here, or fails it when the
// environment variable CI is "true" (CI must run the lab, not skip it).
func Require(t testing.TB) {
	t.Helper()
	missing := Missing()
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; missing: %s", requirement, strings.Join(missing, ", "))
	}
	t.Skipf("%s (missing: %s)", requirement, strings.Join(missing, ", "))
}
