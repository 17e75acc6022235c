package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/reach-net/reach/lab"
)

// Waits of the suite. None is a timed assertion: each bounds a wait for
// something that happens in milliseconds on an idle machine, with room for
// a loaded 2-core CI runner running several labs at once.
const (
	// oneShotTimeout bounds one reach run that exits by itself (check,
	// diagnose, map, send...): their own timeouts are 5-10 s.
	oneShotTimeout = 30 * time.Second
	// readyTimeout bounds waiting for expose's ready event: discovery,
	// mapping, STUN and the verification probe, each under a few seconds.
	readyTimeout = 30 * time.Second
	// stopTimeout bounds expose's exit after SIGINT: it deletes its mapping
	// (one SOAP call) and closes its clients.
	stopTimeout = 15 * time.Second
	// toolTimeout bounds one upnpc run against the lab router.
	toolTimeout = 15 * time.Second
)

// stunFlag makes every reach command ask the lab's STUN server, never a
// public one.
var stunFlag = []string{"--stun", lab.STUNServer}

// newLab builds a lab for a test that needs the reach binary.
func newLab(t *testing.T, opts lab.Options) *lab.Lab {
	t.Helper()
	lab.Require(t)
	needReach(t)
	return lab.New(t, opts)
}

// reachCmd returns the reach command with args in host, as the user of that
// host: every run in one host shares its home and cache directory (as
// reach map and a later reach unmap do on a real PC), hosts and labs never
// do. No proxies.
func reachCmd(ctx context.Context, t *testing.T, l *lab.Lab, host string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := l.Command(ctx, host, reachBin, args...)
	home := filepath.Join(l.Dir(), "home-"+host) // one user per host: map, then unmap, share the cache
	env := []string{"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"), "XDG_STATE_HOME=" + filepath.Join(home, ".state"), "HOME=" + home, "NO_PROXY=*"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToLower(k) {
		case "http_proxy", "https_proxy", "all_proxy", "no_proxy", "xdg_cache_home", "xdg_state_home", "home":
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = env
	return cmd
}

// result is what a reach run left.
type result struct {
	args           []string
	host           string
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("reach %s (in %s): exit %d\nstdout:\n%s\nstderr:\n%s",
		strings.Join(r.args, " "), r.host, r.code, r.stdout, r.stderr)
}

// reach runs reach with args in host until it exits.
func reach(t *testing.T, l *lab.Lab, host string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), oneShotTimeout)
	defer cancel()
	cmd := reachCmd(ctx, t, l, host, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{args: args, host: host, stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("reach %s in %s did not finish within %s\n%s", strings.Join(args, " "), host, oneShotTimeout, r)
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("reach %s in %s: %v", strings.Join(args, " "), host, err)
	}
	return r
}

// decodeJSON decodes a --json run's stdout into v.
func decodeJSON(t *testing.T, r result, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, r)
	}
}

// upnpList returns `upnpc -l` run in host.
func upnpList(t *testing.T, l *lab.Lab, host string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	out, errOut, code, err := l.Run(ctx, host, "upnpc", "-u", lab.RootDescURL, "-l")
	if err != nil || code != 0 {
		t.Fatalf("upnpc -l in %s: exit %d, %v\n%s%s", host, code, err, out, errOut)
	}
	return out
}

// listsMapping reports whether `upnpc -l` output lists ext/TCP to to.
func listsMapping(list string, ext int, to string) bool {
	return regexp.MustCompile(fmt.Sprintf(`TCP\s+%d->%s\b`, ext, regexp.QuoteMeta(to))).MatchString(list)
}
